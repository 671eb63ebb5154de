#include "runtime/signals.h"

#include <csignal>
#include <cstring>

#include "base/error.h"
#include "base/strings.h"

namespace berth::runtime {

int parse_signal(std::string_view text) {
  long long num;
  if (parse_int64(text, &num)) {
    if (num <= 0 || num > SIGRTMAX) fail("invalid signal number {}", text);
    return static_cast<int>(num);
  }
  std::string name(text);
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  if (name.rfind("RTMIN", 0) == 0 || name.rfind("RTMAX", 0) == 0) {
    bool min = name.rfind("RTMIN", 0) == 0;
    long long off = 0;
    std::string_view rest = std::string_view(name).substr(5);
    if (!rest.empty()) {
      if ((rest[0] != '+' && rest[0] != '-') || !parse_int64(rest.substr(1), &off)) fail("unknown signal {:?}", text);
      if (rest[0] == '-') off = -off;
    }
    long long sig = (min ? SIGRTMIN : SIGRTMAX) + off;
    if (sig < SIGRTMIN || sig > SIGRTMAX) fail("invalid signal {:?}", text);
    return static_cast<int>(sig);
  }
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev && name == abbrev) return sig;
  }
  if (name == "IOT") return SIGABRT;
  if (name == "CLD") return SIGCHLD;
  if (name == "POLL") return SIGIO;
  fail("unknown signal {:?}", text);
}

}  // namespace berth::runtime
