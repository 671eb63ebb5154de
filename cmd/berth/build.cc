// build: `docker build` as the docker CLI does it for the classic builder
// (DOCKER_BUILDKIT=0): the context as a tar in the body of POST /build,
// docker's query parameters, the JSON message stream shown as docker shows
// it ("Step 1/3 : ...", "Successfully built ...").
//
// The context tar is written by a second thread into a pipe that the
// request body is read from, so a large context is never held in memory or
// on disk. --progress is accepted (auto, plain, tty) and changes nothing,
// the classic stream having no modes. With berthd (its /_ping says so),
// berth goes beyond the classic protocol: --secret (sent in a header, for
// RUN --mount=type=secret), --output (the image's file system exported to a
// directory or tar afterwards), and a local context named by path instead of
// sent; with dockerd --secret and --output fail as they need berthd.
//
// Not done (docker does): git and http(s) contexts are fetched by the daemon
// (`remote=`), not by the CLI; content trust rewriting of FROM lines.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <thread>

#include "base/base64.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "berth.h"
#include "build/build_context.h"
#include "build/build_output.h"
#include "cli/jsonmessage.h"
#include "cli/stream.h"
#include "cli/terminal.h"
#include "cli/units.h"
#include "registry/credentials.h"

namespace berth::cmd {
namespace {

// A build that failed with the daemon's message and exit code
// (jsonstream.JSONError: code 0 counts as 1).
struct BuildFailed {
  std::string message;
  int code;
};

std::string flag_names(std::string_view name, char shorthand) {
  return shorthand ? fmt::format("-{}, --{}", shorthand, name) : fmt::format("--{}", name);
}

// pflag's int64 flags.
int64_t int_flag(const cli::FlagSet& f, std::string_view name, char shorthand = 0) {
  if (!f.changed(name)) return 0;
  long long v;
  const std::string& s = f.value(name);
  if (!parse_int64(s, &v))
    throw cli::UsageError(fmt::format("invalid argument {} for \"{}\" flag: strconv.ParseInt: parsing {}: invalid syntax",
                                      cli::go_quote(s), flag_names(name, shorthand), cli::go_quote(s)));
  return v;
}

// opts.MemBytes / MemSwapBytes.
int64_t bytes_flag(const cli::FlagSet& f, std::string_view name, char shorthand = 0) {
  if (!f.changed(name)) return 0;
  const std::string& s = f.value(name);
  if (name == "memory-swap" && s == "-1") return -1;
  try {
    return cli::ram_in_bytes(s);
  } catch (const Error& e) {
    throw cli::UsageError(
        fmt::format("invalid argument {} for \"{}\" flag: {}", cli::go_quote(s), flag_names(name, shorthand), e.what()));
  }
}

// opts.UlimitOpt: "nofile=1024[:2048]" as units.Ulimit's JSON.
json ulimit_json(const std::string& spec) {
  auto bad = [&](const std::string& why) {
    throw cli::UsageError(fmt::format("invalid argument {} for \"--ulimit\" flag: {}", cli::go_quote(spec), why));
  };
  size_t eq = spec.find('=');
  if (eq == std::string::npos) bad("invalid ulimit argument: " + spec);
  std::string name = spec.substr(0, eq), limits = spec.substr(eq + 1);
  size_t colon = limits.find(':');
  long long soft, hard;
  if (!parse_int64(limits.substr(0, colon), &soft)) bad("invalid ulimit argument: " + spec);
  hard = soft;
  if (colon != std::string::npos && !parse_int64(limits.substr(colon + 1), &hard))
    bad("invalid ulimit argument: " + spec);
  if (soft > hard) bad(fmt::format("ulimit soft limit must be less than or equal to hard limit: {} > {}", soft, hard));
  return {{"Name", name}, {"Hard", hard}, {"Soft", soft}};
}

// --build-arg: KEY=VALUE, or KEY taken from the environment, or null
// (opts.ValidateEnv + ConvertKVStringsToMapWithNil).
json build_args(const std::vector<std::string>& list) {
  json m = json::object();
  for (const std::string& kv : list) {
    size_t eq = kv.find('=');
    if (eq != std::string::npos) {
      m[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (const char* v = std::getenv(kv.c_str())) {
      m[kv] = v;
    } else {
      m[kv] = nullptr;
    }
  }
  return m;
}

json labels(const std::vector<std::string>& list) {
  json m = json::object();
  for (const std::string& kv : list) {
    size_t eq = kv.find('=');
    m[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return m;
}

std::string lower_ascii(std::string s) {
  for (char& ch : s)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  return s;
}

bool is_git_url(std::string_view s) {
  return s.starts_with("git://") || s.starts_with("git@") || s.starts_with("github.com/") ||
         ((s.starts_with("http://") || s.starts_with("https://")) &&
          (s.find(".git#") != std::string_view::npos || s.ends_with(".git")));
}

// The logins in config.json, as X-Registry-Config wants them (base64url of
// {"host": AuthConfig}); unreadable entries are left out as docker does.
std::string registry_config() {
  json all = json::object();
  try {
    registry::CredentialStore store(registry::CredentialStore::default_dir());
    for (const std::string& host : store.hosts()) {
      registry::Credentials c = store.get(host);
      json a = json::object();
      if (!c.username.empty()) a["username"] = c.username;
      if (!c.password.empty()) a["password"] = c.password;
      if (!c.identity_token.empty()) a["identitytoken"] = c.identity_token;
      a["serveraddress"] = host;
      all[host] = a;
    }
  } catch (const Error&) {
  }
  std::string s = base64_encode(all.dump());
  for (char& ch : s) {
    if (ch == '+') ch = '-';
    else if (ch == '/') ch = '_';
  }
  return s;
}

// Up to n bytes of fd (fewer only at EOF).
std::string read_up_to(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail_errno("reading stdin");
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  return out;
}

// Writes the request body on a thread of its own into a pipe; body() is
// the read end. bytes() waits for the writer and rethrows its failure.
class BodyWriter {
 public:
  using Produce = std::function<uint64_t(int fd)>;
  explicit BodyWriter(Produce produce) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
    read_ = UniqueFd(p[0]);
    int w = p[1];
    thread_ = std::thread([this, w, produce = std::move(produce)] {
      UniqueFd out(w);
      try {
        bytes_ = produce(out.get());
      } catch (...) {
        error_ = std::current_exception();
      }
    });
  }
  ~BodyWriter() {
    read_.reset();  // a writer still blocked on the pipe gets EPIPE
    if (thread_.joinable()) thread_.join();
  }
  int body() const { return read_.get(); }
  // The daemon stopped reading: a writer still blocked on the pipe gets
  // EPIPE instead of waiting for ever.
  void abandon() { read_.reset(); }
  uint64_t bytes() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(error_);
    return bytes_;
  }

 private:
  UniqueFd read_;
  std::thread thread_;
  uint64_t bytes_ = 0;
  std::exception_ptr error_;
};

uint64_t copy_fd(std::string_view head, int in, int out) {
  write_all_fd(out, head, "build context");
  uint64_t n = head.size();
  read_chunks(in, "stdin", [&](const char* p, size_t len) {
    write_all_fd(out, std::string_view(p, len), "build context");
    n += len;
  });
  return n;
}

// What goes to the daemon: the body (none for a remote context) and the
// Dockerfile's name in it.
struct BuildInput {
  std::optional<BodyWriter::Produce> body;
  std::string dockerfile;
  std::string remote;
  std::string local_dir;  // a local context with its Dockerfile inside: may be named instead of sent
};

BuildInput prepare_input(const std::string& context, const std::string& dockerfile_flag, bool compress) {
  BuildInput in;
  bool df_stdin = dockerfile_flag == "-";
  struct stat st;
  if (context == "-") {
    if (df_stdin) fail("invalid argument: can't use stdin for both build context and dockerfile");
    std::string head = read_up_to(0, 512);
    if (build::looks_like_archive(head)) {
      in.body = [head](int fd) { return copy_fd(head, 0, fd); };
      in.dockerfile = dockerfile_flag;
      return in;
    }
    if (!dockerfile_flag.empty())
      fail("unable to prepare context: ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles");
    std::string content = head + read_fd(0, "stdin");
    in.body = [content](int fd) { return build::write_dockerfile_tar(content, fd); };
    in.dockerfile = "Dockerfile";
    return in;
  }
  if (::stat(context.c_str(), &st) == 0) {
    build::LocalContext local;
    try {
      local = build::resolve_local_context(context, dockerfile_flag);
    } catch (const Error& e) {
      fail("unable to prepare context: {}", e.what());
    }
    build::ContextTarOptions opts;
    opts.gzip = compress;
    if (df_stdin || local.dockerfile_outside()) {
      std::string content;
      if (df_stdin) {
        content = read_fd(0, "stdin");
      } else {
        UniqueFd fd(::open(dockerfile_flag.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0)
          fail("unable to open Dockerfile: open {}: {}", dockerfile_flag,
               errno == ENOENT ? "no such file or directory" : std::strerror(errno));
        content = read_fd(fd.get(), dockerfile_flag);
      }
      opts.extra = build::ExtraDockerfile{build::random_dockerfile_name(), content};
      in.dockerfile = opts.extra->name;
    } else {
      opts.keep = local.dockerfile;
      in.dockerfile = local.dockerfile;
      in.local_dir = local.dir;
    }
    std::string dir = local.dir;
    in.body = [dir, opts](int fd) { return build::write_context_tar(dir, opts, fd); };
    return in;
  }
  if (is_git_url(context) || context.starts_with("http://") || context.starts_with("https://")) {
    in.remote = context;
    in.dockerfile = dockerfile_flag;
    return in;
  }
  fail("unable to prepare context: path {} not found", cli::go_quote(context));
}

// The query of POST /build, keys in the order url.Values.Encode sorts them.
std::string build_query(const cli::FlagSet& f, const BuildInput& in) {
  cli::Query q;
  auto json_flag = [&](const char* key, const json& v) {
    if (!v.empty()) q.add(key, v.dump());
  };
  auto num = [&](const char* key, int64_t v) { q.add_if(v != 0, key, std::to_string(v)); };
  json_flag("buildargs", build_args(f.list("build-arg")));
  std::vector<std::string> cache_from;
  for (const std::string& v : f.list("cache-from"))
    for (const std::string& s : split(v, ',')) cache_from.push_back(s);
  json_flag("cachefrom", cache_from);
  q.add_if(!f.value("cgroup-parent").empty(), "cgroupparent", f.value("cgroup-parent"));
  num("cpuperiod", int_flag(f, "cpu-period"));
  num("cpuquota", int_flag(f, "cpu-quota"));
  q.add_if(!f.value("cpuset-cpus").empty(), "cpusetcpus", f.value("cpuset-cpus"));
  q.add_if(!f.value("cpuset-mems").empty(), "cpusetmems", f.value("cpuset-mems"));
  num("cpushares", int_flag(f, "cpu-shares", 'c'));
  q.add_if(!in.dockerfile.empty(), "dockerfile", in.dockerfile);
  for (const std::string& h : f.list("add-host")) q.add("extrahosts", h);
  q.add_if(f.on("force-rm"), "forcerm", "1");
  std::string isolation = f.value("isolation");
  q.add_if(!isolation.empty() && lower_ascii(isolation) != "default", "isolation", isolation);
  json_flag("labels", labels(f.list("label")));
  num("memory", bytes_flag(f, "memory", 'm'));
  num("memswap", bytes_flag(f, "memory-swap"));
  std::string net = f.value("network");
  q.add_if(!net.empty() && net != "default", "networkmode", net);
  q.add_if(!in.local_dir.empty() && !in.body, "contextpath", in.local_dir);
  q.add_if(f.on("no-cache"), "nocache", "1");
  q.add_if(!f.value("platform").empty(), "platform", lower_ascii(f.value("platform")));
  q.add_if(f.on("pull"), "pull", "1");
  q.add_if(f.on("quiet"), "q", "1");
  q.add_if(!in.remote.empty(), "remote", in.remote);
  q.add_if(!f.on("rm"), "rm", "0");
  for (const std::string& v : f.list("security-opt"))
    for (const std::string& s : split(v, ',')) q.add("securityopt", s);
  num("shmsize", bytes_flag(f, "shm-size"));
  for (const std::string& t : f.list("tag")) q.add("t", t);
  q.add_if(!f.value("target").empty(), "target", f.value("target"));
  json ulimits = json::array();
  for (const std::string& u : f.list("ulimit")) ulimits.push_back(ulimit_json(u));
  json_flag("ulimits", ulimits);
  q.add("version", "1");
  return q.str();
}

void add_build_flags(cli::FlagSet& f) {
  f.add_list("add-host", "Add a custom host-to-IP mapping (\"host:ip\")");
  f.add_list("build-arg", "Set build-time variables");
  f.add_list("cache-from", "Images to consider as cache sources");
  f.add_value("cgroup-parent", "Set the parent cgroup for the \"RUN\" instructions during build");
  f.add_bool("compress", "Compress the build context using gzip");
  f.add_value("cpu-period", "Limit the CPU CFS (Completely Fair Scheduler) period");
  f.add_value("cpu-quota", "Limit the CPU CFS (Completely Fair Scheduler) quota");
  f.add_value("c,cpu-shares", "CPU shares (relative weight)");
  f.add_value("cpuset-cpus", "CPUs in which to allow execution (0-3, 0,1)");
  f.add_value("cpuset-mems", "MEMs in which to allow execution (0-3, 0,1)");
  f.add_bool("disable-content-trust", "Skip image verification", true);
  f.add_value("f,file", "Name of the Dockerfile (Default is \"PATH/Dockerfile\")");
  f.add_bool("force-rm", "Always remove intermediate containers");
  f.add_value("iidfile", "Write the image ID to the file");
  f.add_value("isolation", "Container isolation technology");
  f.add_list("label", "Set metadata for an image");
  f.add_value("m,memory", "Memory limit");
  f.add_value("memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap");
  f.add_value("network", "Set the networking mode for the RUN instructions during build", "default");
  f.add_list("o,output", "Output destination (format: \"type=local,dest=path\" or \"type=tar,dest=path|-\")");
  f.add_list("secret", "Secret to expose to the build (format: \"id=mysecret[,src=/local/secret]\")");
  f.add_bool("no-cache", "Do not use cache when building the image");
  f.add_value("platform", "Set platform if server is multi-platform capable");
  f.add_value("progress", "Set type of progress output (auto, plain, tty)", "auto");
  f.add_bool("pull", "Always attempt to pull a newer version of the image");
  f.add_bool("q,quiet", "Suppress the build output and print image ID on success");
  f.add_bool("rm", "Remove intermediate containers after a successful build", true);
  f.add_list("security-opt", "Security options");
  f.add_value("shm-size", "Size of \"/dev/shm\"");
  f.add_list("t,tag", "Name and optionally a tag in the \"name:tag\" format");
  f.add_value("target", "Set the target build stage to build.");
  f.add_list("ulimit", "Ulimit options");
}

// run_build's result: the ID, or -q's whole output (the ID and a newline).
std::string trim_id(const std::string& s) { return std::string(trim(s)); }

// Whether the daemon is berthd, whose builder takes berth's extensions
// (api/build_routes.h): --secret, and a context named by path.
bool daemon_is_berthd(Context& ctx) {
  try {
    auto ping = ctx.api().open("GET", "/_ping");
    return ping->head().header("berth-build-context") == "path";
  } catch (const Error&) {
    return false;
  }
}

// berthd on this host's unix socket builds from a named directory: no tar
// is made, sent or unpacked, and unchanged files are not read again.
// dockerd, or a daemon over TCP, gets the tar.
bool context_by_path(Context& ctx, bool berthd) {
  if (std::getenv("BERTH_BUILD_SEND_CONTEXT")) return false;  // to measure or debug the classic upload
  return berthd && ctx.api().host_url().starts_with("unix://");
}

// --secret id=ID[,src=FILE|,env=VAR][,type=file|env], as buildx takes it:
// without src or env, the variable named ID if set, else the file ID.
std::map<std::string, std::string> read_secrets(const std::vector<std::string>& specs) {
  std::map<std::string, std::string> out;
  for (const std::string& spec : specs) {
    std::string id, src, env, type;
    for (const std::string& field : split(spec, ',')) {
      auto eq = field.find('=');
      std::string k = field.substr(0, eq), v = eq == std::string::npos ? "" : field.substr(eq + 1);
      if (k == "id") id = v;
      else if (k == "src" || k == "source") src = v;
      else if (k == "env") env = v;
      else if (k == "type") type = v;
      else throw cli::UsageError(fmt::format("invalid secret {}: unknown key {}", cli::go_quote(spec), cli::go_quote(k)));
    }
    if (id.empty()) throw cli::UsageError(fmt::format("invalid secret {}: id is required", cli::go_quote(spec)));
    if (type == "env" && env.empty()) env = src.empty() ? id : src;
    if (env.empty() && src.empty() && type != "file" && std::getenv(id.c_str())) env = id;
    if (!env.empty()) {
      const char* v = std::getenv(env.c_str());
      if (!v) fail("secret {}: environment variable {} is not set", id, env);
      out[id] = v;
    } else {
      std::string path = src.empty() ? id : src;
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.valid()) fail_errno("secret {}: open {}", id, path);
      out[id] = read_fd(fd.get(), path);
    }
  }
  return out;
}

struct Output {
  std::string type;  // local or tar
  std::string dest;  // a directory, a file, or "-" (stdout) for tar
};

// -o type=local,dest=DIR | type=tar,dest=FILE|- | DIR (local) | - (tar on stdout).
Output parse_output(const std::string& spec) {
  Output o;
  if (spec == "-") return {"tar", "-"};
  if (spec.find('=') == std::string::npos) return {"local", spec};
  for (const std::string& field : split(spec, ',')) {
    auto eq = field.find('=');
    std::string k = field.substr(0, eq), v = eq == std::string::npos ? "" : field.substr(eq + 1);
    if (k == "type") o.type = v;
    else if (k == "dest") o.dest = v;
    else throw cli::UsageError(fmt::format("invalid output {}: unknown key {}", cli::go_quote(spec), cli::go_quote(k)));
  }
  if (o.type.empty()) o.type = "local";
  if (o.type != "local" && o.type != "tar")
    throw cli::UsageError(fmt::format("invalid output {}: type must be local or tar", cli::go_quote(spec)));
  if (o.dest.empty()) throw cli::UsageError(fmt::format("invalid output {}: dest is required", cli::go_quote(spec)));
  return o;
}

// The image's file system, as the daemon exports it from a container made
// (and removed again) for the purpose, to a tar or a directory.
void write_output(Context& ctx, const std::string& image_id, const Output& o) {
  json created = ctx.api().post("/containers/create", json{{"Image", image_id}, {"Cmd", {"/"}}});
  std::string id = created.value("Id", "");
  try {
    if (o.type == "tar") {
      UniqueFd file;
      int fd = 1;
      if (o.dest != "-") {
        file = UniqueFd(::open(o.dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!file.valid()) fail_errno("output {}", o.dest);
        fd = file.get();
      }
      ctx.api().stream("GET", "/containers/" + id + "/export",
                       [&](std::string_view data) { write_all_fd(fd, data, o.dest); });
    } else {
      BodyWriter pipe([&](int fd) {
        uint64_t n = 0;
        ctx.api().stream("GET", "/containers/" + id + "/export", [&](std::string_view data) {
          write_all_fd(fd, data, "export");
          n += data.size();
        });
        return n;
      });
      build::extract_tar(pipe.body(), o.dest);
      pipe.bytes();
    }
  } catch (...) {
    ctx.api().call("DELETE", "/containers/" + id + "?force=1");
    throw;
  }
  ctx.api().call("DELETE", "/containers/" + id + "?force=1");
}

// Runs the build; returns the image ID the daemon reported (with -q, the
// daemon's whole output, as docker takes it).
std::string run_build(Context& ctx, const cli::FlagSet& f, BuildInput& in, const std::string& target) {
  bool quiet = f.on("quiet");
  std::string progress_buf, build_buf;  // what -q keeps back, shown only on failure
  auto out = [&](std::string& buf, std::string_view s) {
    if (quiet) buf += s;
    else cli::write_all(1, s);
  };
  std::string image_id;
  int code = 0;
  cli::JsonMessageDisplay::Options opts;
  opts.terminal = !quiet && stdout_is_terminal();
  opts.width = [] {
    cli::WindowSize ws = cli::window_size(1);
    return ws.cols ? static_cast<int>(ws.cols) : 200;
  };
  opts.aux = [&](const json& aux) {
    if (aux.is_object() && aux.contains("ID") && aux["ID"].is_string()) image_id = aux["ID"];
  };
  cli::JsonMessageDisplay display([&](std::string_view s) { out(build_buf, s); }, opts);
  bool stream_error = false;  // the daemon's error message ended the stream
  cli::JsonLineSplitter lines([&](const json& m) {
    if (m.is_object() && (m.contains("errorDetail") || m.contains("error"))) stream_error = true;
    if (auto d = m.find("errorDetail"); d != m.end() && d->is_object() && d->contains("code") &&
                                        (*d)["code"].is_number_integer())
      code = (*d)["code"].get<int>();
    display.display(m);
  });

  std::optional<BodyWriter> body;
  bool sent_shown = false;
  // "Sending build context ..." once the whole body is out (lastProgressOutput).
  auto show_sent = [&] {
    if (sent_shown || !body) return;
    sent_shown = true;
    uint64_t n = body->bytes();
    cli::JsonProgress p;
    p.current = static_cast<int64_t>(n);
    out(progress_buf, "Sending build context to Docker daemon " + cli::format_progress(p, 200, 0) + "\r\r\n");
  };
  auto sink = [&](std::string_view data) {
    show_sent();
    lines.feed(data);
  };
  std::fflush(stdout);
  try {
    if (in.body) {
      body.emplace(std::move(*in.body));
      ctx.api().set_header("X-Registry-Config", registry_config());
      ctx.api().upload("POST", target, body->body(), "application/x-tar", sink);
      show_sent();
    } else {
      ctx.api().set_header("X-Registry-Config", registry_config());
      ctx.api().stream("POST", target, sink);
    }
    lines.finish();
  } catch (const cli::ApiError&) {
    // Refused, perhaps before the whole body was read: the size sent is
    // shown when the context was all written, as docker shows its count.
    if (body) body->abandon();
    try {
      show_sent();
    } catch (const Error&) {
    }
    if (quiet) std::fprintf(stderr, "%s", progress_buf.c_str());
    throw;
  } catch (const Error& e) {
    if (!stream_error) throw;
    if (quiet) std::fprintf(stderr, "%s%s", progress_buf.c_str(), build_buf.c_str());
    throw BuildFailed{e.what(), code == 0 ? 1 : code};
  }
  std::fflush(stdout);
  if (quiet) {
    std::fputs(build_buf.c_str(), stdout);
    return build_buf;
  }
  return image_id;
}

}  // namespace

int cmd_build(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] PATH | URL | -", "Build an image from a Dockerfile");
  add_build_flags(c.flags);
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  std::string progress = c.flags.value("progress");
  if (progress != "auto" && progress != "plain" && progress != "tty")
    fail("invalid progress mode {} for the classic builder (auto, plain, tty)", cli::go_quote(progress));
  std::string iidfile = c.flags.value("iidfile");
  if (!iidfile.empty() && ::unlink(iidfile.c_str()) != 0 && errno != ENOENT)
    fail_errno("Removing image ID file");
  std::vector<Output> outputs;
  for (const std::string& spec : c.flags.list("output")) outputs.push_back(parse_output(spec));
  std::map<std::string, std::string> secrets = read_secrets(c.flags.list("secret"));
  BuildInput in = prepare_input(pos[0], c.flags.value("file"), c.flags.on("compress"));
  bool berthd = daemon_is_berthd(ctx);
  if (!berthd && (!secrets.empty() || !outputs.empty()))
    throw cli::UsageError(fmt::format("{} needs berthd's builder: the daemon's classic builder has no such option",
                                      secrets.empty() ? "--output" : "--secret"));
  if (!in.local_dir.empty() && context_by_path(ctx, berthd)) in.body.reset();
  if (!secrets.empty()) {
    json j = json::object();
    for (const auto& [id, content] : secrets) j[id] = base64_encode(content);
    ctx.api().set_header("X-Berth-Build-Secrets", base64_encode(j.dump()));
  }
  std::string target = "/build" + build_query(c.flags, in);
  std::string image_id;
  try {
    image_id = run_build(ctx, c.flags, in, target);
  } catch (const BuildFailed& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", e.message.c_str());
    return e.code;
  }
  if (!iidfile.empty()) {
    if (image_id.empty()) fail("Server did not provide an image ID. Cannot write {}", iidfile);
    write_file(iidfile, image_id, 0666);
  }
  for (const Output& o : outputs) write_output(ctx, trim_id(image_id), o);
  return 0;
}

}  // namespace berth::cmd
