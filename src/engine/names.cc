#include "engine/names.h"

#include <sys/random.h>

#include <cstdint>
#include <regex>

#include <fmt/format.h>

#include "base/error.h"

namespace berth::engine {

namespace {

uint64_t random_u64() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) != sizeof v) fail_errno("getrandom");
  return v;
}

constexpr const char* kAdjectives[] = {
    "admiring", "brave",   "clever",  "dazzling", "eager",   "focused", "gallant", "happy",
    "jolly",    "keen",    "lucid",   "modest",   "nifty",   "optimistic", "peaceful", "quirky",
    "relaxed",  "serene",  "tender",  "upbeat",   "vibrant", "wizardly", "youthful", "zealous"};
constexpr const char* kSurnames[] = {
    "babbage", "curie",  "darwin",   "euler",  "fermi",   "galileo", "hopper", "johnson",
    "kepler",  "lovelace", "meitner", "newton", "noether", "pasteur", "ritchie", "shannon",
    "thompson", "turing", "volhard", "wozniak", "yalow",  "zhukovsky", "lamport", "knuth"};

}  // namespace

void validate_container_name(const std::string& name) {
  static const std::regex kValid("^[a-zA-Z0-9][a-zA-Z0-9_.-]+$");
  if (!std::regex_match(name, kValid))
    fail("Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name);
}

std::string random_container_name(int attempt) {
  uint64_t r = random_u64();
  constexpr size_t na = sizeof kAdjectives / sizeof *kAdjectives, ns = sizeof kSurnames / sizeof *kSurnames;
  std::string name = fmt::format("{}_{}", kAdjectives[r % na], kSurnames[(r / na) % ns]);
  if (attempt > 0) name += std::to_string((r >> 32) % 10);
  return name;
}

std::string random_id() {
  uint64_t v[4];
  for (auto& x : v) x = random_u64();
  return fmt::format("{:016x}{:016x}{:016x}{:016x}", v[0], v[1], v[2], v[3]);
}

}  // namespace berth::engine
