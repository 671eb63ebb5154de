// RUN: a container from the step's parent image runs the command; its upper
// dir becomes the step's layer, as dockerd's classic builder does it.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <future>
#include <set>
#include <thread>

#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/builder_internal.h"
#include "engine/container_changes.h"
#include "engine/engine.h"
#include "engine/names.h"
#include "engine/rootfs_mount.h"

namespace berth::engine {

namespace {

nlohmann::json string_list(const std::vector<std::string>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

// Reads the attach socket's multiplexed frames to EOF; stderr in docker's red.
void pump_output(int fd, const Build& b) {
  std::string buf;
  char chunk[16384];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    while (buf.size() >= 8) {
      uint32_t len = (uint8_t(buf[4]) << 24) | (uint8_t(buf[5]) << 16) | (uint8_t(buf[6]) << 8) | uint8_t(buf[7]);
      if (buf.size() < 8 + len) break;
      std::string payload = buf.substr(8, len);
      if (buf[0] == 2) b.say("\x1b[91m" + payload + "\x1b[0m");
      else b.say(payload);
      buf.erase(0, 8 + len);
    }
  }
}

// RUN --mount specs as HostConfig.Mounts: cache (a directory kept under
// <data-root>/builder/cache-mounts, keyed by id or target), bind (read-only,
// from the context or from a stage or image) and tmpfs.
nlohmann::json run_mounts(Build& b, const build::Instruction& inst, std::vector<std::unique_ptr<ScratchDir>>* mounted) {
  nlohmann::json mounts = nlohmann::json::array();
  for (const auto& spec : inst.flag_all("mount")) {
    std::map<std::string, std::string> kv;
    for (const auto& field : split(spec, ',')) {
      auto eq = field.find('=');
      kv[to_lower(std::string(trim(field.substr(0, eq))))] = eq == std::string::npos ? "true" : field.substr(eq + 1);
    }
    std::string type = kv.count("type") ? kv["type"] : "bind";
    std::string target = kv.count("target") ? kv["target"] : kv.count("dst") ? kv["dst"] : kv["destination"];
    if (target.empty() && type != "secret")
      throw BuildError(fmt::format("RUN --mount={}: mount target is required", spec), 1);
    nlohmann::json m = {{"Target", target}};
    if (type == "cache") {
      std::string id = kv.count("id") ? kv["id"] : target;
      std::string dir = path_join(b.engine().options().data_root,
                                  "builder/cache-mounts/" + std::string(image::sha256_of(id).hex()));
      mkdir_all(dir, 0755);
      m["Type"] = "bind";
      m["Source"] = dir;
    } else if (type == "tmpfs") {
      m["Type"] = "tmpfs";
    } else if (type == "bind") {
      std::string source = clean_path("/" + (kv.count("source") ? kv["source"] : kv.count("src") ? kv["src"] : ""));
      std::string root = b.options().context_dir;
      if (kv.count("from")) {
        image::ImageRecord img = b.copy_from_image(kv["from"]);
        mounted->emplace_back(b.mount_image(img));
        root = rootfs_paths(mounted->back()->path()).merged;
      }
      // Resolved inside the root: a symlink in an uploaded context must not
      // bind the host's /etc into the step.
      UniqueFd root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root_fd.valid()) fail_errno("RUN --mount={}: open {}", spec, root);
      UniqueFd found = try_open_in_root(root_fd.get(), source, O_PATH);
      if (!found.valid()) throw BuildError(fmt::format("RUN --mount={}: {}: not found", spec, source), 1);
      char real[PATH_MAX];
      ssize_t n = ::readlink(fd_path(found.get()).c_str(), real, sizeof real - 1);
      if (n < 0) fail_errno("RUN --mount={}: resolve {}", spec, source);
      m["Type"] = "bind";
      m["Source"] = std::string(real, static_cast<size_t>(n));
      m["ReadOnly"] = !(kv.count("rw") || kv.count("readwrite"));
    } else if (type == "secret") {
      // BuildKit's rules: id defaults to the target's base name, the target
      // to /run/secrets/<id>; a missing secret is skipped unless required.
      std::string id = kv.count("id") ? kv["id"] : "";
      if (id.empty() && target.empty()) throw BuildError(fmt::format("RUN --mount={}: secret needs an id or a target", spec), 1);
      if (id.empty()) id = target.substr(target.rfind('/') + 1);
      if (target.empty()) target = "/run/secrets/" + id;
      auto secret = b.options().secrets.find(id);
      if (secret == b.options().secrets.end()) {
        if (kv.count("required") && kv["required"] != "false")
          throw BuildError(fmt::format("secret {} not found: pass it with --secret id={}", id, id), 1);
        continue;
      }
      // A file only root can read, bind-mounted read-only; the RUN's layer
      // never holds it (the mountpoint is left out, see mount_placeholder).
      std::string file = path_join(b.scratch_dir(), "secret-" + random_id().substr(0, 12));
      write_file(file, secret->second, 0400);
      auto number = [&](const char* key, unsigned long dflt, int base) -> unsigned long {
        if (!kv.count(key)) return dflt;
        try {
          return std::stoul(kv[key], nullptr, base);
        } catch (const std::exception&) {
          throw BuildError(fmt::format("RUN --mount={}: invalid {} {}", spec, key, kv[key]), 1);
        }
      };
      uid_t uid = static_cast<uid_t>(number("uid", 0, 10));
      gid_t gid = static_cast<gid_t>(number("gid", 0, 10));
      mode_t mode = static_cast<mode_t>(number("mode", 0400, 8));
      if (::chown(file.c_str(), uid, gid) != 0 || ::chmod(file.c_str(), mode) != 0) fail_errno("secret {}", id);
      m = {{"Target", target}, {"Type", "bind"}, {"Source", file}, {"ReadOnly", true}};
    } else if (type == "ssh") {
      throw BuildError("RUN --mount=type=ssh: berth does not forward an SSH agent to builds", 1);
    } else {
      throw BuildError(fmt::format("RUN --mount={}: unsupported mount type \"{}\"", spec, type), 1);
    }
    mounts.push_back(m);
  }
  return mounts;
}

// A mountpoint the runtime made for a RUN --mount target (an empty file or
// directory the image does not have), or a directory made only to hold
// such: BuildKit leaves them out of the layer, and a secret's mountpoint
// must not tell that there was one.
bool mount_placeholder(const std::string& abs, const struct stat& st, int dir_fd, const std::set<std::string>& targets,
                       const LowerLayers& lower) {
  bool is_target = targets.count(abs) > 0;
  bool holds_target = false;
  for (const auto& t : targets) holds_target = holds_target || t.starts_with(abs + "/");
  if ((!is_target && !holds_target) || lower.lookup(abs)) return false;
  if (S_ISREG(st.st_mode)) return is_target && st.st_size == 0;
  if (!S_ISDIR(st.st_mode)) return false;
  std::string name = abs.substr(abs.rfind('/') + 1);
  UniqueFd dir(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return false;
  DIR* d = ::fdopendir(::dup(dir.get()));
  if (!d) return false;
  bool only_placeholders = true;
  while (struct dirent* e = ::readdir(d)) {
    std::string child = e->d_name;
    if (child == "." || child == "..") continue;
    struct stat cst;
    if (::fstatat(dir.get(), child.c_str(), &cst, AT_SYMLINK_NOFOLLOW) != 0 ||
        !mount_placeholder(abs + "/" + child, cst, dir.get(), targets, lower)) {
      only_placeholders = false;
      break;
    }
  }
  ::closedir(d);
  return only_placeholders;
}

// Removes the step's container however the step ends (unless told to keep it).
class ContainerGuard {
 public:
  ContainerGuard(Engine& eng, std::string id) : eng_(eng), id_(std::move(id)) {}
  ~ContainerGuard() {
    if (!remove_) return;
    try {
      eng_.remove(id_, true, true);
    } catch (const Error& e) {
      fprintf(stderr, "berthd: build: remove %s: %s\n", id_.c_str(), e.what());
    }
  }
  void keep() { remove_ = false; }
  ContainerGuard(const ContainerGuard&) = delete;
  ContainerGuard& operator=(const ContainerGuard&) = delete;

 private:
  Engine& eng_;
  std::string id_;
  bool remove_ = true;
};

}  // namespace

void Build::run_step(StageState& st, const build::Instruction& inst) {
  std::vector<std::string> argv;
  if (inst.json) {
    argv = inst.args;
  } else {
    argv = st.shell();
    std::string line = inst.args.empty() ? "" : inst.args[0];
    if (inst.heredocs.size() == 1 && build::parse_heredoc(trim(line))) {
      // `RUN <<EOF` alone: the body is the script (BuildKit runs it so).
      argv.push_back(inst.heredocs[0].text());
    } else {
      // Otherwise the heredocs go to the shell as written: it reads their bodies itself.
      for (const auto& h : inst.heredocs) line += "\n" + h.content + h.name;
      argv.push_back(line);
    }
  }
  std::vector<std::string> hist = build_arg_env(st, true);
  std::sort(hist.begin(), hist.end());
  std::string created_by = join(argv, " ");
  if (!hist.empty()) created_by = fmt::format("|{} {} {}", hist.size(), join(hist, " "), created_by);
  std::string network = inst.flag("network").value_or(opts_.network_mode);
  std::vector<std::string> mount_specs = inst.flag_all("mount");
  image::Digest key = step_key(st, "RUN\n" + created_by + "\n" + network + "\n" + join(mount_specs, "\n"));
  if (use_cache(st, key, created_by)) return;
  if (!st.image) throw BuildError(fmt::format("The command '{}' cannot run: FROM scratch has no files", join(argv, " ")), 1);

  std::vector<std::unique_ptr<ScratchDir>> mounted;
  nlohmann::json host_config = opts_.host_config.is_object() ? opts_.host_config : nlohmann::json::object();
  host_config["NetworkMode"] = network == "" ? "default" : network;
  host_config["Mounts"] = run_mounts(*this, inst, &mounted);
  nlohmann::json env = nlohmann::json::array();
  const ordered_json& rc = st.run_config();
  if (rc.contains("Env") && rc["Env"].is_array())
    for (const auto& e : rc["Env"]) env.push_back(e.get<std::string>());
  for (const auto& kv : build_arg_env(st, false)) env.push_back(kv);
  nlohmann::json config = {{"Image", st.image->id.str()},
                           {"Cmd", string_list(argv)},
                           {"Entrypoint", string_list({""})},
                           {"Env", env},
                           {"AttachStdout", true},
                           {"AttachStderr", true},
                           {"Healthcheck", {{"Test", string_list({"NONE"})}}}};
  Engine::Created created = eng_.create("", config, host_config);
  std::string short_id = created.id.substr(0, 12);
  ContainerGuard guard(eng_, created.id);
  say(" ---> Running in " + short_id + "\n");

  // Attach before the start, on a thread: attach blocks until start connects it.
  std::stop_source attach_stop;
  std::stop_callback forward(stop_, [&] { attach_stop.request_stop(); });
  std::promise<void> registered;
  std::future<void> ready = registered.get_future();
  UniqueFd io;
  std::thread attacher([&] {
    try {
      io = eng_.attach(created.id, attach_stop.get_token(), [&] { registered.set_value(); });
    } catch (const Error&) {
      // The start failed or the build was cancelled; start's error is the one to report.
    }
    try {
      registered.set_value();
    } catch (const std::future_error&) {
    }
  });
  ready.wait();
  try {
    eng_.start(created.id);
  } catch (...) {
    attach_stop.request_stop();
    attacher.join();
    throw;
  }
  attacher.join();
  {
    // A cancelled build (client gone, another stage failed) does not wait for the command.
    std::stop_callback kill_on_stop(stop_, [&] {
      try {
        eng_.kill(created.id, "KILL");
      } catch (const Error&) {
        // Already exited.
      }
    });
    if (io.valid()) pump_output(io.get(), *this);
  }
  WaitResult w = eng_.wait(created.id, WaitCondition::kNotRunning, stop_);
  if (stop_.stop_requested()) throw BuildError("build cancelled", 1);
  if (w.exit_code != 0) {
    if (!opts_.force_remove) guard.keep();
    throw BuildError(fmt::format("The command '{}' returned a non-zero code: {}", join(argv, " "), w.exit_code),
                     w.exit_code);
  }

  Container c = eng_.get(created.id);
  LowerLayers lower = image_lower_layers(eng_, c.image_id);
  image::TarOptions tar;
  std::set<std::string> targets;
  for (const auto& m : host_config["Mounts"]) targets.insert(clean_path(m.value("Target", "")));
  tar.skip = [&lower, &targets](const std::string& rel, const struct stat& s, int dir_fd) {
    return is_runtime_placeholder("/" + rel, s, dir_fd, lower) ||
           mount_placeholder("/" + rel, s, dir_fd, targets, lower);
  };
  ordered_json cc = ordered_json::parse(c.config.dump());
  commit(st, key, created_by, std::move(cc), eng_.upper_dir(created.id), tar);
  if (!opts_.remove) guard.keep();
  else say("Removing intermediate container " + short_id + "\n");
}

}  // namespace berth::engine
