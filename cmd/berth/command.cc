// Command, for_each_target and the small helpers declared in berth.h.
#include <time.h>
#include <unistd.h>

#include <cstdio>

#include "berth.h"
#include "cli/api_client.h"

namespace berth::cmd {

Command::Command(Context& ctx, std::string usage_tail, std::string description)
    : ctx_(ctx), description_(std::move(description)) {
  ctx.usage = ctx.path + (usage_tail.empty() ? "" : " " + usage_tail);
  flags.add_bool("help", "Print usage");
}

Args Command::parse(const Args& args) {
  Args pos = flags.parse(args);
  if (flags.on("help")) {
    std::printf("\nUsage:  %s\n\n%s\n\nOptions:\n%s", ctx_.usage.c_str(), description_.c_str(),
                flags.help().c_str());
    throw HelpShown{};
  }
  return pos;
}

namespace {
[[noreturn]] void arg_count(const Context& ctx, std::string_view how, size_t n) {
  throw cli::UsageError(fmt::format("'{}' requires {} {} argument{}", ctx.path, how, n, n == 1 ? "" : "s"), 1);
}
}  // namespace

void Command::at_least(const Args& pos, size_t n) const {
  if (pos.size() < n) arg_count(ctx_, "at least", n);
}
void Command::exactly(const Args& pos, size_t n) const {
  if (pos.size() != n) arg_count(ctx_, "exactly", n);
}
void Command::at_most(const Args& pos, size_t n) const {
  if (pos.size() > n) arg_count(ctx_, "at most", n);
}
void Command::no_args(const Args& pos) const {
  if (!pos.empty()) throw cli::UsageError(fmt::format("'{}' accepts no arguments", ctx_.path), 1);
}

int for_each_target(const Args& targets, const std::function<void(const std::string&)>& fn) {
  int status = 0;
  for (const std::string& t : targets) {
    try {
      fn(t);
    } catch (const Error& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "%s\n", e.what());
      status = 1;
    }
  }
  return status;
}

int64_t now_nanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
int64_t now_seconds() { return now_nanos() / 1000000000; }
bool stdout_is_terminal() { return ::isatty(1) == 1; }

// Parses docker's repeated --filter key=value into the API's {"key":{"value":true}}.
json filters_json(const std::vector<std::string>& filters) {
  json f = json::object();
  for (const std::string& kv : filters) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) fail("bad format of filter (expected name=value)");
    f[kv.substr(0, eq)][kv.substr(eq + 1)] = true;
  }
  return f;
}

json inspect_container(Context& ctx, const std::string& id) {
  return ctx.api().get("/containers/" + id + "/json");
}

}  // namespace berth::cmd
