#include "hub/libpq_dl.h"

#include <dlfcn.h>

#include "base/error.h"

namespace berth::hub {

const Libpq& pq() {
  // A failed load throws out of the initializer, so the next call retries
  // (and reports the same error) rather than returning a half-filled table.
  static const Libpq lib = [] {
    void* h = ::dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!h) fail("PostgreSQL support needs libpq5: {}", ::dlerror());
    Libpq l;
#define BERTH_RESOLVE(name)                                                           \
  l.name = reinterpret_cast<decltype(&::name)>(::dlsym(h, #name));                    \
  if (!l.name) fail("PostgreSQL support needs libpq5: libpq.so.5 has no symbol {}", #name);
    BERTH_LIBPQ_FUNCTIONS(BERTH_RESOLVE)
#undef BERTH_RESOLVE
    return l;
  }();
  return lib;
}

}  // namespace berth::hub
