#include "build/libarchive_dl.h"

#include <dlfcn.h>

#include "base/error.h"

namespace berth::build {

const Libarchive& ar() {
  static const Libarchive lib = [] {
    void* h = ::dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!h) fail("load libarchive.so.13: {}", ::dlerror());
    Libarchive l;
#define BERTH_RESOLVE(name)                                               \
  l.name = reinterpret_cast<decltype(&::name)>(::dlsym(h, #name));        \
  if (!l.name) fail("load libarchive.so.13: no symbol {}", #name);
    BERTH_LIBARCHIVE_FUNCTIONS(BERTH_RESOLVE)
#undef BERTH_RESOLVE
    return l;
  }();
  return lib;
}

}  // namespace berth::build
