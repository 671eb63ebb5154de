// Engine: exec sessions — extra processes in a running container, run by
// `<runtime> exec --process` as children of berthd (they do not outlive the
// daemon, unlike the container itself).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/names.h"
#include "engine/docker_caps.h"
#include "engine/user_lookup.h"
#include "engine/shim_launcher.h"
#include "runtime/unix_socket.h"

namespace berth::engine {

namespace {

std::vector<std::string> strings_of(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (const auto& v : j)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// Replaces or appends KEY=VALUE entries.
void merge_env(nlohmann::json& env, const std::vector<std::string>& extra) {
  for (const auto& kv : extra) {
    std::string key = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (auto& cur : env) {
      std::string s = cur.get<std::string>();
      if (s.substr(0, s.find('=')) == key) {
        cur = kv;
        replaced = true;
      }
    }
    if (!replaced) env.push_back(kv);
  }
}

void make_pipe(UniqueFd* r, UniqueFd* w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
  r->reset(p[0]);
  w->reset(p[1]);
}

}  // namespace

std::string Engine::exec_create(const std::string& ref, const nlohmann::json& config) {
  auto e = lookup(ref);
  if (!config.is_object() || strings_of(config.value("Cmd", nlohmann::json())).empty())
    throw InvalidArgumentError("No exec command specified");
  auto x = std::make_shared<ExecEntry>();
  x->r.id = random_id();
  x->r.config = config;
  std::lock_guard lock(mu_);
  const Container& c = e->c;
  if (!c.running()) throw ConflictError(fmt::format("Container {} is not running", c.id));
  if (c.state.status == Status::kPaused)
    throw ConflictError(fmt::format("Container {} is paused, unpause the container before exec", c.id));
  x->r.container_id = c.id;
  x->exec_dir = exec_dir(c.id);
  execs_[x->r.id] = x;
  publish(c, "exec_create: " + join(strings_of(config["Cmd"]), " "), {{"execID", x->r.id}});
  return x->r.id;
}

ExecRecord Engine::exec_get(const std::string& exec_id) const {
  std::lock_guard lock(mu_);
  auto it = execs_.find(exec_id);
  if (it == execs_.end()) throw NotFoundError("No such exec instance: " + exec_id);
  return it->second->r;
}

ExecIo Engine::exec_start(const std::string& exec_id) {
  std::shared_ptr<ExecEntry> x;
  Container c;
  {
    std::lock_guard lock(mu_);
    auto it = execs_.find(exec_id);
    if (it == execs_.end()) throw NotFoundError("No such exec instance: " + exec_id);
    x = it->second;
    if (x->r.started) throw ConflictError(fmt::format("Error: Exec command {} has already run", exec_id));
    auto ce = containers_.find(x->r.container_id);
    if (ce == containers_.end() || !ce->second->c.running())
      throw ConflictError(fmt::format("Container {} is not running", x->r.container_id));
    c = ce->second->c;
    x->r.started = true;
  }
  const nlohmann::json& cfg = x->r.config;
  bool tty = cfg.value("Tty", false);

  // The exec inherits the container's process settings, as docker's does.
  nlohmann::json spec = nlohmann::json::parse(read_file(path_join(x->exec_dir, "config.json")));
  nlohmann::json proc = spec.at("process");
  proc["args"] = strings_of(cfg["Cmd"]);
  proc["terminal"] = tty;
  proc.erase("consoleSize");
  merge_env(proc["env"], strings_of(cfg.value("Env", nlohmann::json())));
  if (!cfg.value("WorkingDir", "").empty()) proc["cwd"] = cfg["WorkingDir"];
  if (!cfg.value("User", "").empty()) {
    ResolvedUser u = resolve_user_in_rootfs(spec.at("root").at("path").get<std::string>(), cfg["User"].get<std::string>(),
                                            strings_of(c.host_config.value("GroupAdd", nlohmann::json())));
    proc["user"] = {{"uid", u.uid}, {"gid", u.gid}, {"additionalGids", u.additional_gids}};
  }
  if (cfg.value("Privileged", false)) {
    auto all = kernel_capabilities();
    proc["capabilities"] = {{"bounding", all}, {"effective", all}, {"permitted", all}};
  }
  std::string process_file = path_join(x->exec_dir, "exec-" + exec_id + ".json");
  write_file_replace(process_file, proc.dump(), 0600);

  std::vector<std::string> argv = runtime_argv(c, {"exec", "--process", process_file});
  ExecIo io;
  pid_t pid;
  if (tty) {
    // The runtime connects before entering the container, so a path through
    // our /proc entry reaches a socket whose real path may exceed sun_path.
    UniqueFd dir(::open(x->exec_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) fail_errno("open {}", x->exec_dir);
    std::string name = "console-" + exec_id.substr(0, 12) + ".sock";
    std::string sock_path = fmt::format("/proc/{}/fd/{}/{}", ::getpid(), dir.get(), name);
    UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
    ::unlink(path_join(x->exec_dir, name).c_str());
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener.get(), 1) != 0)
      fail_errno("exec console socket");
    argv.insert(argv.end() - 2, {"--console-socket", sock_path});
    argv.push_back(c.id);
    UniqueFd err_r, err_w;
    make_pipe(&err_r, &err_w);
    pid = spawn_process(argv, {-1, -1, err_w.get()});
    err_w.reset();
    int conn = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    ::unlink(path_join(x->exec_dir, name).c_str());
    if (conn < 0) fail_errno("exec: accept console");
    UniqueFd cfd(conn);
    try {
      io.pty = runtime::recv_fd(cfd.get());
    } catch (const Error&) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      std::string why(trim(read_fd(err_r.get(), "runtime stderr")));
      throw Error(fmt::format("exec failed: {}", why.empty() ? "runtime sent no terminal" : why));
    }
  } else {
    argv.push_back(c.id);
    UniqueFd in_r, out_w, err_w;
    if (cfg.value("AttachStdin", false)) make_pipe(&in_r, &io.stdin_w);
    make_pipe(&io.stdout_r, &out_w);
    make_pipe(&io.stderr_r, &err_w);
    pid = spawn_process(argv, {in_r.get(), out_w.get(), err_w.get()});
  }
  {
    std::lock_guard lock(mu_);
    x->r.pid = pid;
    x->r.running = true;
    if (io.pty.valid()) x->pty.reset(::fcntl(io.pty.get(), F_DUPFD_CLOEXEC, 3));
  }
  publish(c, "exec_start: " + join(strings_of(cfg["Cmd"]), " "), {{"execID", exec_id}});
  return io;
}

int Engine::exec_wait(const std::string& exec_id) {
  std::shared_ptr<ExecEntry> x;
  {
    std::lock_guard lock(mu_);
    auto it = execs_.find(exec_id);
    if (it == execs_.end()) throw NotFoundError("No such exec instance: " + exec_id);
    x = it->second;
  }
  int status = 0;
  while (::waitpid(x->r.pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  Container c;
  {
    std::lock_guard lock(mu_);
    x->r.running = false;
    x->r.exit_code = code;
    x->pty.reset();
    auto ce = containers_.find(x->r.container_id);
    if (ce != containers_.end()) c = ce->second->c;
  }
  ::unlink(path_join(x->exec_dir, "exec-" + exec_id + ".json").c_str());
  if (!c.id.empty()) publish(c, "exec_die", {{"execID", exec_id}, {"exitCode", std::to_string(code)}});
  return code;
}

void Engine::exec_resize(const std::string& exec_id, int height, int width) {
  std::lock_guard lock(mu_);
  auto it = execs_.find(exec_id);
  if (it == execs_.end()) throw NotFoundError("No such exec instance: " + exec_id);
  if (!it->second->pty.valid()) return;  // no tty, or finished: dockerd ignores it too
  struct winsize ws{};
  ws.ws_row = static_cast<unsigned short>(height);
  ws.ws_col = static_cast<unsigned short>(width);
  if (::ioctl(it->second->pty.get(), TIOCSWINSZ, &ws) != 0) fail_errno("resize exec {}", exec_id);
}

}  // namespace berth::engine
