// cp (both directions, through the container archive API), export, commit.
// Local tar work is done by the host's GNU tar, so berth needs no archive
// library of its own.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "base/fd.h"
#include "base/strings.h"
#include "berth.h"
#include "cli/stream.h"
#include "cli/units.h"

extern char** environ;

namespace berth::cmd {
namespace {

std::string base64_decode(std::string_view in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    size_t pos = chars.find(c);
    if (pos == std::string::npos) continue;  // '=' padding and anything else
    val = (val << 6) + static_cast<int>(pos);
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((val >> bits) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

// A tar child process; `in`/`out` become its stdin/stdout.
pid_t spawn_tar(const std::vector<std::string>& args, int in, int out) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (in >= 0) posix_spawn_file_actions_adddup2(&fa, in, 0);
  if (out >= 0) posix_spawn_file_actions_adddup2(&fa, out, 1);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  int err = posix_spawnp(&pid, "tar", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err) {
    errno = err;
    fail_errno("running tar");
  }
  return pid;
}

void wait_tar(pid_t pid) {
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("tar failed (status {})", status);
}

// GNU tar --transform renaming the archive's top entry `from` to `to`.
std::string rename_top(const std::string& from, const std::string& to) {
  auto esc = [](const std::string& s, std::string_view special) {
    std::string o;
    for (char c : s) {
      if (special.find(c) != std::string_view::npos) o += '\\';
      o += c;
    }
    return o;
  };
  return "--transform=s|^" + esc(from, ".[]*^$\\|") + "\\(/\\|$\\)|" + esc(to, "&\\|") + "\\1|S";
}

struct Split {
  std::string container, path;
};
// "name:/path" is a container path; a local path may contain ':' only after a '/'.
Split split_cp_arg(const std::string& arg) {
  if (arg.empty() || arg[0] == '/' || arg[0] == '.') return {"", arg};
  size_t colon = arg.find(':');
  if (colon == std::string::npos) return {"", arg};
  size_t slash = arg.find('/');
  if (slash != std::string::npos && slash < colon) return {"", arg};
  return {arg.substr(0, colon), arg.substr(colon + 1)};
}

std::string base_name(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}
std::string dir_name(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

// X-Docker-Container-Path-Stat of a HEAD/GET archive response.
json path_stat(const cli::Response& r) {
  std::string h = r.header("x-docker-container-path-stat");
  if (h.empty()) return json::object();
  try {
    return json::parse(base64_decode(h));
  } catch (const json::exception&) {
    return json::object();
  }
}
bool stat_is_dir(const json& st) { return (st.value("mode", int64_t{0}) & (int64_t{1} << 31)) != 0; }

int copy_from_container(Context& ctx, const Split& src, const std::string& dst, bool archive, bool quiet) {
  std::string target = "/containers/" + src.container + "/archive" + cli::Query().add("path", src.path).str();
  if (dst == "-") {
    ctx.api().stream("GET", target, [](std::string_view d) { cli::write_all(1, d); });
    return 0;
  }
  struct stat st;
  bool exists = ::stat(dst.c_str(), &st) == 0;
  bool dst_dir = exists && S_ISDIR(st.st_mode);
  if (!exists && !dst.empty() && dst.back() == '/') fail("destination \"{}\" must be a directory", dst);
  std::string into = dst_dir ? dst : dir_name(dst);
  if (!dst_dir) {
    struct stat pst;
    if (::stat(into.c_str(), &pst) != 0) fail_errno("lstat {}", into);
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd rd(fds[0]), wr(fds[1]);
  std::vector<std::string> tar = {"tar", "-x", "-f", "-", "-C", into};
  if (!archive) tar.push_back("--no-same-owner");
  pid_t pid = -1;
  int64_t copied = 0;
  try {
    std::unique_ptr<cli::ApiClient::Pending> p = ctx.api().open("GET", target);
    json stat_json = path_stat(p->head());
    std::string top = base_name(stat_json.value("name", base_name(src.path)));
    if (exists && !dst_dir && stat_is_dir(stat_json)) fail("cannot copy directory to file");
    if (!dst_dir) tar.push_back(rename_top(top, base_name(dst)));
    pid = spawn_tar(tar, rd.get(), -1);
    rd.reset();
    p->read([&](std::string_view d) {
      copied += static_cast<int64_t>(d.size());
      cli::write_all(wr.get(), d);
    });
  } catch (...) {
    wr.reset();
    if (pid > 0) ::waitpid(pid, nullptr, 0);
    throw;
  }
  wr.reset();
  wait_tar(pid);
  if (!quiet && ::isatty(2)) std::fprintf(stderr, "Successfully copied %s to %s\n", cli::human_size(static_cast<double>(copied)).c_str(), dst.c_str());
  return 0;
}

int copy_to_container(Context& ctx, const std::string& src, const Split& dst, bool archive, bool quiet) {
  std::string base = "/containers/" + dst.container + "/archive";
  std::string into = dst.path, rename_to;
  if (src != "-") {
    struct stat st;
    if (::lstat(src.c_str(), &st) != 0) fail("stat {}: no such file or directory", src);
    cli::Response head = ctx.api().request("HEAD", base + cli::Query().add("path", dst.path).str());
    if (head.status == 404) {
      // A path that does not exist yet names the copy: its parent must exist.
      if (!dst.path.empty() && dst.path.back() == '/')
        fail("Error response from daemon: Could not find the file {} in container {}", dst.path, dst.container);
      into = dir_name(dst.path);
      rename_to = base_name(dst.path);
    } else if (head.status >= 400) {
      throw cli::ApiError(head.status, "Could not find the file " + dst.path + " in container " + dst.container);
    } else if (!stat_is_dir(path_stat(head))) {
      if (S_ISDIR(st.st_mode)) fail("cannot copy directory to file");
      into = dir_name(dst.path);
      rename_to = base_name(dst.path);
    }
  }
  cli::Query q;
  q.add("path", into).add("noOverwriteDirNonDir", "true");
  q.add_if(archive, "copyUIDGID", "true");
  if (src == "-") {
    ctx.api().upload("PUT", base + q.str(), 0, "application/x-tar", [](std::string_view) {});
    return 0;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd rd(fds[0]), wr(fds[1]);
  std::string name = base_name(src);
  std::vector<std::string> tar = {"tar", "-c", "-f", "-", "-C", dir_name(src)};
  if (!archive) tar.insert(tar.end(), {"--owner=0", "--group=0", "--numeric-owner"});
  if (!rename_to.empty() && rename_to != name) tar.push_back(rename_top(name, rename_to));
  tar.push_back(name);
  pid_t pid = spawn_tar(tar, -1, wr.get());
  wr.reset();
  try {
    ctx.api().upload("PUT", base + q.str(), rd.get(), "application/x-tar", [](std::string_view) {});
  } catch (...) {
    rd.reset();
    ::waitpid(pid, nullptr, 0);
    throw;
  }
  rd.reset();
  wait_tar(pid);
  if (!quiet && ::isatty(2)) std::fprintf(stderr, "Successfully copied to %s:%s\n", dst.container.c_str(), dst.path.c_str());
  return 0;
}

}  // namespace

int cmd_cp(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
            "Copy files/folders between a container and the local filesystem");
  c.flags.add_bool("a,archive", "Archive mode (copy all uid/gid information)");
  c.flags.add_bool("L,follow-link", "Always follow symbol link in SRC_PATH");
  c.flags.add_bool("q,quiet", "Suppress progress output during copy");
  Args pos = c.parse(args);
  c.exactly(pos, 2);
  Split src = split_cp_arg(pos[0]), dst = split_cp_arg(pos[1]);
  if (pos[0] == "-") src = {"", "-"};
  if (pos[1] == "-") dst = {"", "-"};
  if (!src.container.empty() && !dst.container.empty()) fail("copying between containers is not supported");
  if (src.container.empty() && dst.container.empty()) fail("must specify at least one container source");
  if (!src.container.empty())
    return copy_from_container(ctx, src, dst.path, c.flags.on("archive"), c.flags.on("quiet"));
  return copy_to_container(ctx, src.path, dst, c.flags.on("archive"), c.flags.on("quiet"));
}

int cmd_export(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive");
  c.flags.add_value("o,output", "Write to a file, instead of STDOUT");
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  UniqueFd file;
  int fd = 1;
  if (c.flags.changed("output")) {
    file = UniqueFd(::open(c.flags.value("output").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file.valid()) fail_errno("failed to export container: open {}", c.flags.value("output"));
    fd = file.get();
  } else if (stdout_is_terminal()) {
    fail("cowardly refusing to save to a terminal. Use the -o flag or redirect");
  }
  ctx.api().stream("GET", "/containers/" + pos[0] + "/export", [&](std::string_view d) { cli::write_all(fd, d); });
  return 0;
}

int cmd_commit(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes");
  c.flags.add_value("a,author", "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")");
  c.flags.add_list("c,change", "Apply Dockerfile instruction to the created image");
  c.flags.add_value("m,message", "Commit message");
  c.flags.add_bool("p,pause", "Pause container during commit", true);
  Args pos = c.parse(args);
  c.at_least(pos, 1);
  c.at_most(pos, 2);
  cli::Query q;
  q.add("container", pos[0]);
  if (pos.size() > 1) {
    std::string ref = pos[1], repo = ref, tag;
    size_t colon = ref.rfind(':');
    if (colon != std::string::npos && ref.find('/', colon) == std::string::npos) {
      repo = ref.substr(0, colon);
      tag = ref.substr(colon + 1);
    }
    q.add("repo", repo);
    q.add_if(!tag.empty(), "tag", tag);
  }
  q.add_if(c.flags.changed("message"), "comment", c.flags.value("message"));
  q.add_if(c.flags.changed("author"), "author", c.flags.value("author"));
  q.add("pause", c.flags.on("pause") ? "1" : "0");
  for (const std::string& ch : c.flags.list("change")) q.add("changes", ch);
  json r = ctx.api().post("/commit" + q.str(), json::object());
  std::printf("%s\n", r.value("Id", "").c_str());
  return 0;
}

}  // namespace berth::cmd
