// create and run (docker's flow: create, attach and wait before start,
// start, stream, exit with the container's status).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "berth.h"
#include "cli/container_options.h"
#include "cli/stream.h"
#include "cli/terminal.h"
#include "session.h"

namespace berth::cmd {
namespace {

std::optional<std::string> lookup_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? std::optional<std::string>(v) : std::nullopt;
}

// docker's "pull if missing" for create: the image is pulled when the daemon
// says it does not have it, and the create retried once.
std::string create_container(Context& ctx, json body, const std::string& name, const std::string& platform,
                             const std::string& pull) {
  cli::Query q;
  q.add_if(!name.empty(), "name", name);
  q.add_if(!platform.empty(), "platform", platform);
  std::string target = "/containers/create" + q.str();
  std::string image = body["Image"];
  if (pull == "always") cmd_pull(ctx, {image});
  cli::Response r = ctx.api().request("POST", target, body);
  if (r.status == 404 && pull != "never" && cli::error_message(r.body).starts_with("No such image")) {
    std::fprintf(stderr, "Unable to find image '%s' locally\n", image.c_str());
    std::string ref = image.find(':') == std::string::npos && image.find('@') == std::string::npos ? image + ":latest" : image;
    // Pull progress goes to stderr, as docker's does for run/create.
    int saved = ::dup(1);
    ::dup2(2, 1);
    struct Restore {
      int fd;
      ~Restore() {
        std::fflush(stdout);
        ::dup2(fd, 1);
        ::close(fd);
      }
    } restore{saved};
    try {
      cmd_pull(ctx, {ref});
    } catch (...) {
      throw;
    }
    r = ctx.api().request("POST", target, body);
  }
  if (r.status >= 400) throw cli::ApiError(r.status, cli::error_message(r.body));
  json created = json::parse(r.body);
  for (const json& w : created.value("Warnings", json::array()))
    if (w.is_string()) std::fprintf(stderr, "WARNING: %s\n", w.get<std::string>().c_str());
  return created["Id"];
}

// docker's toStatusError: which exit status a failed start maps to.
int start_status(const std::string& msg) {
  if (msg.find("executable file not found") != std::string::npos ||
      msg.find("no such file or directory") != std::string::npos)
    return 127;
  if (msg.find("permission denied") != std::string::npos || msg.find("is a directory") != std::string::npos)
    return 126;
  return 125;
}

int run_error(const Context& ctx, const std::string& msg, int status) {
  std::fflush(stdout);
  std::fprintf(stderr, "berth: %s\n\nRun '%s --help' for more information\n", msg.c_str(), ctx.path.c_str());
  return status;
}

struct Prepared {
  json body;
  std::string name;
};

Prepared prepare(Context& ctx, Command& c, const Args& pos) {
  c.at_least(pos, 1);
  Prepared p;
  p.body = cli::container_config(c.flags, pos, lookup_env);
  p.name = c.flags.value("name");
  (void)ctx;
  return p;
}

void write_cidfile(const std::string& path, const std::string& id) {
  if (path.empty()) return;
  if (::access(path.c_str(), F_OK) == 0) fail("container ID file found, make sure the other container isn't running or delete {}", path);
  std::ofstream(path) << id;
}

}  // namespace

int cmd_create(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container");
  c.flags.stop_at_first_positional();
  cli::add_container_flags(c.flags);
  Args pos = c.parse(args);
  Prepared p;
  try {
    p = prepare(ctx, c, pos);
  } catch (const cli::UsageError&) {
    throw;
  } catch (const Error& e) {
    return run_error(ctx, e.what(), 125);
  }
  try {
    std::string id = create_container(ctx, p.body, p.name, c.flags.value("platform"), c.flags.value("pull"));
    write_cidfile(c.flags.value("cidfile"), id);
    std::printf("%s\n", id.c_str());
  } catch (const Error& e) {
    return run_error(ctx, e.what(), 125);
  }
  return 0;
}

int cmd_run(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image");
  c.flags.stop_at_first_positional();
  cli::add_container_flags(c.flags);
  c.flags.add_bool("d,detach", "Run container in background and print container ID");
  c.flags.add_value("detach-keys", "Override the key sequence for detaching a container");
  c.flags.add_bool("sig-proxy", "Proxy received signals to the process", true);
  Args pos = c.parse(args);
  Prepared p;
  try {
    p = prepare(ctx, c, pos);
  } catch (const cli::UsageError&) {
    throw;
  } catch (const Error& e) {
    return run_error(ctx, e.what(), 125);
  }
  json& body = p.body;
  bool detach = c.flags.on("detach");
  bool tty = body["Tty"], open_stdin = body["OpenStdin"];
  if (detach) {
    if (c.flags.changed("attach")) return run_error(ctx, "Conflicting options: -a and -d", 125);
    body["AttachStdin"] = body["AttachStdout"] = body["AttachStderr"] = false;
    body["StdinOnce"] = false;
  } else if (open_stdin && body["AttachStdin"].get<bool>()) {
    body["StdinOnce"] = true;
  }
  bool attach_in = body["AttachStdin"], attach_out = body["AttachStdout"], attach_err = body["AttachStderr"];
  if (!detach && tty && attach_in && !cli::is_terminal(0)) {
    std::fprintf(stderr, "the input device is not a TTY\n");
    return 1;
  }
  bool auto_remove = body["HostConfig"]["AutoRemove"];
  std::string id;
  try {
    id = create_container(ctx, body, p.name, c.flags.value("platform"), c.flags.value("pull"));
    write_cidfile(c.flags.value("cidfile"), id);
  } catch (const Error& e) {
    return run_error(ctx, e.what(), 125);
  }
  if (detach) {
    try {
      ctx.api().post("/containers/" + id + "/start");
    } catch (const Error& e) {
      return run_error(ctx, e.what(), start_status(e.what()));
    }
    std::printf("%s\n", id.c_str());
    return 0;
  }

  std::optional<cli::Hijacked> conn;
  std::unique_ptr<cli::ApiClient::Pending> waiter;
  try {
    if (attach_in || attach_out || attach_err) {
      cli::Query q;
      q.add("stream", "1");
      q.add_if(attach_in, "stdin", "1");
      q.add_if(attach_out, "stdout", "1");
      q.add_if(attach_err, "stderr", "1");
      q.add_if(c.flags.changed("detach-keys"), "detachKeys", c.flags.value("detach-keys"));
      conn = ctx.api().hijack("POST", "/containers/" + id + "/attach" + q.str());
    }
    waiter = ctx.api().open("POST", "/containers/" + id + "/wait?condition=" + (auto_remove ? "removed" : "next-exit"));
  } catch (const Error& e) {
    return run_error(ctx, e.what(), 125);
  }
  try {
    ctx.api().post("/containers/" + id + "/start");
  } catch (const Error& e) {
    conn.reset();
    if (auto_remove) {
      try {
        waiter->read([](std::string_view) {});
      } catch (const Error&) {
      }
    }
    return run_error(ctx, e.what(), start_status(e.what()));
  }
  if (tty && cli::is_terminal(1)) resize_tty(ctx, "/containers/" + id);
  if (conn) {
    SessionSpec spec;
    spec.tty = tty;
    spec.forward_stdin = attach_in;
    spec.detach_keys = c.flags.value("detach-keys");
    spec.resize_path = "/containers/" + id;
    if (c.flags.on("sig-proxy")) spec.proxy_to = id;
    if (run_session(ctx, *conn, spec) == cli::PumpEnd::kDetached) return 0;
  }
  std::string result;
  waiter->read([&](std::string_view d) { result.append(d); });
  json status;
  try {
    status = json::parse(result);
  } catch (const json::exception&) {
    return run_error(ctx, "unexpected wait response: " + result, 125);
  }
  if (status.contains("Error") && status["Error"].is_object() && !status["Error"].value("Message", "").empty())
    return run_error(ctx, status["Error"]["Message"].get<std::string>(), 125);
  return status.value("StatusCode", 125);
}

}  // namespace berth::cmd
