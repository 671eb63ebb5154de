// berthd: the Berth daemon. Serves the Docker Engine API on unix sockets (and
// loopback TCP) until SIGTERM or SIGINT, then removes its sockets and pidfile.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "api/archive_routes.h"
#include "api/build_routes.h"
#include "api/container_routes.h"
#include "api/distribution_routes.h"
#include "api/event_routes.h"
#include "api/http.h"
#include "api/image_routes.h"
#include "api/network_routes.h"
#include "api/router.h"
#include "api/system_routes.h"
#include "api/volume_routes.h"
#include "engine/distribution.h"
#include "engine/engine.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/strings.h"
#include "config.h"

namespace berth::berthd {

constexpr const char* kDefaultSocket = "/run/berth/berth.sock";
constexpr const char* kDefaultConfigFile = "/etc/berth/daemon.json";

// Refuses to start when the pidfile names a live process: two daemons on one
// data root would corrupt it.
void write_pidfile(const std::string& path) {
  std::string old;
  if (read_file_if_exists(path, &old)) {
    long long pid = 0;
    if (parse_int64(trim(old), &pid) && pid > 0 && pid != ::getpid() && path_exists(fmt::format("/proc/{}", pid))) {
      fail("pid file found, ensure berthd is not running or delete {}", path);
    }
  }
  mkdir_all(std::filesystem::path(path).parent_path().string(), 0755);
  write_file_atomic(path, fmt::format("{}", ::getpid()), 0644);
}

// A socket file left by a daemon that died; the pidfile check already ruled
// out a live owner.
void remove_stale_socket(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) fail("{} exists and is not a socket", path);
  if (::unlink(path.c_str()) != 0) fail_errno("remove stale socket {}", path);
}

// Berth's helper binaries are installed next to berthd; fall back to $PATH.
std::string sibling_binary(const char* name) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto candidate = self.parent_path() / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return name;
}

// posix_spawn needs a path; resolves a PATH name the way execvp would.
std::string resolve_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = getenv("PATH");
  for (const auto& dir : split(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ':')) {
    std::string candidate = path_join(dir.empty() ? "." : dir, name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

int run(int argc, char** argv) {
  DaemonConfig cfg;
  std::string config_file = kDefaultConfigFile;
  std::vector<std::string> add_runtimes;

  CLI::App app{"berthd: the Berth container engine daemon (Docker Engine API)", "berthd"};
  app.set_version_flag("-v,--version", fmt::format("Berth version {}, API {}", api::kServerVersion, api::kApiVersion));
  auto* o_hosts = app.add_option("-H,--host", cfg.hosts, "daemon socket(s) to listen on: unix:///path or tcp://127.0.0.1:N");
  auto* o_data = app.add_option("--data-root", cfg.data_root, "root of persistent state")->capture_default_str();
  auto* o_exec = app.add_option("--exec-root", cfg.exec_root, "root of runtime state")->capture_default_str();
  auto* o_pid = app.add_option("-p,--pidfile", cfg.pidfile, "path of the pid file")->capture_default_str();
  auto* o_cfg = app.add_option("--config-file", config_file, "daemon.json-style configuration file")->capture_default_str();
  auto* o_level = app.add_option("-l,--log-level", cfg.log_level, "debug, info, warn, error or fatal")
                      ->check(CLI::IsMember({"debug", "info", "warn", "error", "fatal"}))
                      ->capture_default_str();
  auto* o_debug = app.add_flag("-D,--debug", cfg.debug, "debug mode");
  auto* o_defrt = app.add_option("--default-runtime", cfg.default_runtime, "runtime for containers")->capture_default_str();
  app.add_option("--add-runtime", add_runtimes, "register a runtime: name=path");
  auto* o_mirror = app.add_option("--registry-mirror", cfg.registry_mirrors, "preferred Docker Hub mirror");
  auto* o_insecure = app.add_option("--insecure-registry", cfg.insecure_registries,
                                    "registry (host:port or CIDR) reached without verified TLS");
  auto* o_downloads = app.add_option("--max-concurrent-downloads", cfg.max_concurrent_downloads,
                                     "layers downloaded at once per pull")->capture_default_str();
  auto* o_uploads = app.add_option("--max-concurrent-uploads", cfg.max_concurrent_uploads,
                                   "layers uploaded at once per push")->capture_default_str();
  auto* o_bridge = app.add_option("-b,--bridge", cfg.bridge, "device of the default bridge network (\"none\": no default bridge)")
                       ->capture_default_str();
  auto* o_bip = app.add_option("--bip", cfg.bip, "address and prefix of the default bridge (e.g. 172.20.0.1/16)");
  auto* o_mtu = app.add_option("--mtu", cfg.mtu, "MTU of bridge networks")->capture_default_str();
  auto* o_iptables = app.add_option("--iptables", cfg.iptables, "NAT, network isolation and published ports (nftables)")
                         ->capture_default_str();
  auto* o_masq = app.add_option("--ip-masq", cfg.ip_masq, "masquerade traffic leaving bridge networks")->capture_default_str();
  auto* o_ip = app.add_option("--ip", cfg.ip, "default host address of published ports")->capture_default_str();
  auto* o_dns = app.add_option("--dns", cfg.dns, "DNS servers for containers (default: the host's)");
  app.add_option("--userland-proxy", "accepted for dockerd compatibility: Berth never runs a proxy per port");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (o_cfg->count() > 0 || path_exists(config_file)) {
    std::set<std::string> given;
    auto note = [&](CLI::Option* o, const char* key) {
      if (o->count() > 0) given.insert(key);
    };
    note(o_hosts, "hosts");
    note(o_data, "data-root");
    note(o_exec, "exec-root");
    note(o_pid, "pidfile");
    note(o_level, "log-level");
    note(o_debug, "debug");
    note(o_defrt, "default-runtime");
    note(o_mirror, "registry-mirrors");
    note(o_insecure, "insecure-registries");
    note(o_downloads, "max-concurrent-downloads");
    note(o_uploads, "max-concurrent-uploads");
    note(o_bridge, "bridge");
    note(o_bip, "bip");
    note(o_mtu, "mtu");
    note(o_iptables, "iptables");
    note(o_masq, "ip-masq");
    note(o_ip, "ip");
    note(o_dns, "dns");
    // --add-runtime adds to the file's runtimes instead of conflicting: both
    // are lists of extra runtimes, and merging them loses nothing.
    std::vector<std::string> ignored;
    try {
      ignored = merge_config_file(config_file, given, &cfg);
    } catch (const Error& e) {
      throw e.wrap("load config file");
    }
    for (const auto& k : ignored) fprintf(stderr, "berthd: warning: %s: ignoring unsupported key \"%s\"\n", config_file.c_str(), k.c_str());
  }
  for (const auto& spec : add_runtimes) add_runtime_flag(spec, &cfg);
  if (cfg.log_level == "debug") cfg.debug = true;

  Logger log("berthd");
  log.configure("", false, cfg.debug);
  bool quiet = cfg.log_level == "error" || cfg.log_level == "fatal" || cfg.log_level == "warn";
  auto info = [&](const std::string& msg) {
    if (!quiet) log.log(Logger::Level::kInfo, msg);
  };

  if (!cfg.runtimes.count("berth-runtime")) cfg.runtimes["berth-runtime"] = {sibling_binary("berth-runtime"), {}};
  if (!cfg.runtimes.count("runc")) cfg.runtimes["runc"] = {"runc", {}};
  if (!cfg.runtimes.count(cfg.default_runtime)) fail("default runtime {} is not a known runtime", cfg.default_runtime);

  std::vector<ListenAddr> addrs;
  if (cfg.hosts.empty()) cfg.hosts.push_back(std::string("unix://") + kDefaultSocket);
  for (const auto& h : cfg.hosts) addrs.push_back(parse_host(h, kDefaultSocket));

  // Block the shutdown signals before any thread exists, so every thread
  // inherits the mask and only sigwait() below sees them. SIGPIPE is ignored:
  // a client that hangs up must be a write error, not the daemon's death.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // 0711: other users may reach the socket (its own mode decides) but not list state.
  mkdir_all(cfg.data_root, 0711);
  mkdir_all(cfg.exec_root, 0711);
  api::DaemonInfo dinfo;
  dinfo.id = api::load_or_create_engine_id(cfg.data_root);
  write_pidfile(cfg.pidfile);
  dinfo.data_root = cfg.data_root;
  dinfo.exec_root = cfg.exec_root;
  dinfo.runtimes = cfg.runtimes;
  dinfo.default_runtime = cfg.default_runtime;
  dinfo.debug = cfg.debug;

  engine::EngineOptions eopts;
  eopts.data_root = cfg.data_root;
  eopts.exec_root = cfg.exec_root;
  for (const auto& [name, rt] : cfg.runtimes) eopts.runtimes[name] = {resolve_in_path(rt.path), rt.args};
  eopts.default_runtime = cfg.default_runtime;
  eopts.shim_path = resolve_in_path(sibling_binary("berth-shim"));
  eopts.init_path = resolve_in_path(sibling_binary("berth-init"));
  eopts.network.default_bridge = cfg.bridge;
  eopts.network.default_bridge_cidr = cfg.bip;
  eopts.network.mtu = cfg.mtu;
  eopts.network.firewall = cfg.iptables;
  eopts.network.ip_masq = cfg.ip_masq;
  eopts.network.default_host_ip = cfg.ip;
  eopts.network.dns = cfg.dns;
  engine::Engine engine(eopts);
  dinfo.counts = [&engine](nlohmann::json& info) {
    int running = 0, paused = 0, stopped = 0;
    auto cs = engine.list();
    for (const auto& c : cs) {
      if (c.state.status == engine::Status::kPaused) ++paused;
      else if (c.running()) ++running;
      else ++stopped;
    }
    info["Containers"] = cs.size();
    info["ContainersRunning"] = running;
    info["ContainersPaused"] = paused;
    info["ContainersStopped"] = stopped;
    info["Images"] = engine.images().list().size();
  };

  api::Router router;
  api::add_system_routes(router, dinfo);
  api::add_container_routes(router, engine);
  api::add_exec_routes(router, engine);
  registry::RegistryConfig rcfg{cfg.registry_mirrors, cfg.insecure_registries};
  engine::Distribution distribution(engine, cfg.data_root, rcfg,
                                    {cfg.max_concurrent_downloads, cfg.max_concurrent_uploads});
  api::add_image_routes(router, engine, distribution);
  api::add_distribution_routes(router, distribution);
  api::add_archive_routes(router, engine);
  api::add_event_routes(router, engine.events());
  api::add_network_routes(router, engine);
  api::add_volume_routes(router, engine);
  api::add_build_routes(router, engine, distribution);
  api::HttpServer server([&router](api::Request& req, api::Response& res) { router.serve(req, res); },
                         api::engine_server_options());

  std::vector<std::string> sockets;
  try {
    for (const auto& a : addrs) {
      if (a.is_unix) {
        mkdir_all(std::filesystem::path(a.path).parent_path().string(), 0711);
        remove_stale_socket(a.path);
        server.listen_unix(a.path, 0660);
        sockets.push_back(a.path);
        info(fmt::format("API listen on {}", a.path));
      } else {
        if (a.host != "127.0.0.1" && a.host != "::1" && a.host != "localhost") {
          log.warn("API on tcp://{}:{} has no TLS and no authentication: anyone who can reach it is root",
                   a.host, a.port);
        }
        uint16_t port = server.listen_tcp(a.host == "localhost" ? "127.0.0.1" : a.host, a.port);
        info(fmt::format("API listen on {}:{}", a.host, port));
      }
    }
    server.start();
    info(fmt::format("berthd {} started (data-root {}, exec-root {})", api::kServerVersion, cfg.data_root,
                     cfg.exec_root));

    int sig = 0;
    sigwait(&sigs, &sig);
    info(fmt::format("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  } catch (...) {
    server.stop();
    for (const auto& s : sockets) ::unlink(s.c_str());
    ::unlink(cfg.pidfile.c_str());
    throw;
  }
  server.stop();
  for (const auto& s : sockets) ::unlink(s.c_str());
  ::unlink(cfg.pidfile.c_str());
  return 0;
}

}  // namespace berth::berthd

int main(int argc, char** argv) {
  try {
    return berth::berthd::run(argc, argv);
  } catch (const std::exception& e) {
    fprintf(stderr, "berthd: %s\n", e.what());
    return 1;
  }
}
