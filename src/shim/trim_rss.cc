#include "shim/trim_rss.h"

#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace berth::shim {

void release_clean_image_pages() {
  char exe[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return;
  exe[n] = '\0';
  FILE* f = fopen("/proc/self/smaps", "re");
  if (!f) return;
  std::vector<std::pair<unsigned long, unsigned long>> clean;
  unsigned long start = 0, end = 0;
  bool candidate = false;
  char line[PATH_MAX + 128];
  while (fgets(line, sizeof line, f)) {
    unsigned long s, e;
    char perms[8];
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &s, &e, perms, &path_at) == 3 && path_at > 0) {
      std::string path(line + path_at);
      while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
      start = s;
      end = e;
      candidate = path == exe && strchr(perms, 'w') == nullptr;
      continue;
    }
    unsigned long anon_kb;
    if (candidate && sscanf(line, "Anonymous: %lu kB", &anon_kb) == 1) {
      if (anon_kb == 0) clean.emplace_back(start, end);
      candidate = false;
    }
  }
  fclose(f);
  for (auto [s, e] : clean) ::madvise(reinterpret_cast<void*>(s), e - s, MADV_DONTNEED);
}

}  // namespace berth::shim
