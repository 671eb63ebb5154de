// import, load, save: images in and out of the daemon as tar streams and
// progress messages (pull and push are in registry.cc).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "base/fd.h"
#include "berth.h"
#include "cli/jsonmessage.h"
#include "cli/stream.h"
#include "cli/terminal.h"

namespace berth::cmd {
namespace {

// "repo:tag" -> {repo, tag}; the tag is optional, a ':' in a registry port is not one.
std::pair<std::string, std::string> split_ref(const std::string& ref) {
  size_t colon = ref.rfind(':');
  if (colon == std::string::npos || ref.find('/', colon) != std::string::npos) return {ref, ""};
  return {ref.substr(0, colon), ref.substr(colon + 1)};
}

UniqueFd open_input(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("open {}", path);
  return fd;
}

}  // namespace

int cmd_import(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
            "Import the contents from a tarball to create a filesystem image");
  c.flags.add_list("c,change", "Apply Dockerfile instruction to the created image");
  c.flags.add_value("m,message", "Set commit message for imported image");
  c.flags.add_value("platform", "Set platform if server is multi-platform capable");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  c.at_most(pos, 2);
  cli::Query q;
  bool url = pos[0].starts_with("http://") || pos[0].starts_with("https://");
  q.add("fromSrc", url ? pos[0] : "-");
  if (pos.size() > 1) {
    auto [repo, tag] = split_ref(pos[1]);
    q.add("repo", repo);
    q.add_if(!tag.empty(), "tag", tag);
  }
  q.add_if(c.flags.changed("message"), "message", c.flags.value("message"));
  for (const std::string& ch : c.flags.list("change")) q.add("changes", ch);
  q.add_if(c.flags.changed("platform"), "platform", c.flags.value("platform"));
  cli::JsonMessageDisplay out = cli::stdout_display();
  auto sink = [&](std::string_view d) { out.feed(d); };
  if (url) {
    ctx.api().stream("POST", "/images/create" + q.str(), sink);
  } else {
    UniqueFd file;
    int fd = 0;
    if (pos[0] != "-") {
      file = open_input(pos[0]);
      fd = file.get();
    }
    ctx.api().upload("POST", "/images/create" + q.str(), fd, "text/plain", sink);
  }
  out.finish();
  return 0;
}

int cmd_load(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS]", "Load an image from a tar archive or STDIN");
  c.flags.add_value("i,input", "Read from tar archive file, instead of STDIN");
  c.flags.add_bool("q,quiet", "Suppress the load output");
  c.flags.add_list("platform", "Load only the given platform(s)");
  c.no_args(c.parse(args));
  UniqueFd file;
  int fd = 0;
  if (c.flags.changed("input")) {
    file = open_input(c.flags.value("input"));
    fd = file.get();
  } else if (cli::is_terminal(0)) {
    fail("requested load from stdin, but stdin is empty");
  }
  // The daemon leaves out progress when asked; what it sends is shown.
  bool quiet = c.flags.on("quiet") || !stdout_is_terminal();
  cli::JsonMessageDisplay out = cli::stdout_display();
  ctx.api().upload("POST", std::string("/images/load") + (quiet ? "?quiet=1" : ""), fd, "application/x-tar",
                   [&](std::string_view d) { out.feed(d); });
  out.finish();
  return 0;
}

int cmd_save(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)");
  c.flags.add_value("o,output", "Write to a file, instead of STDOUT");
  c.flags.add_list("platform", "Save only the given platform(s)");
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  UniqueFd file;
  int fd = 1;
  if (c.flags.changed("output")) {
    // docker writes a temporary file beside the target and renames it.
    std::string out = c.flags.value("output");
    file = UniqueFd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file.valid()) fail_errno("failed to save image: invalid output path: open {}", out);
    fd = file.get();
  } else if (stdout_is_terminal()) {
    fail("cowardly refusing to save to a terminal. Use the -o flag or redirect");
  }
  cli::Query q;
  for (const std::string& n : pos) q.add("names", n);
  ctx.api().stream("GET", "/images/get" + q.str(), [&](std::string_view d) { cli::write_all(fd, d); });
  return 0;
}

}  // namespace berth::cmd
