#include "api/container_routes.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/container_json.h"
#include "api/stats_json.h"
#include "api/stream_pump.h"
#include "api/filters.h"
#include "base/clock.h"
#include "base/process.h"
#include "base/strings.h"
#include "engine/rootfs_mount.h"

namespace berth::api {

namespace {

using nlohmann::json;

void create(engine::Engine& eng, Request& req, Response& res) {
  json body = req.json_body();
  if (!body.is_object()) throw ApiError(400, "invalid JSON: body must be an object");
  json host_config = body.value("HostConfig", json::object());
  json config = body;
  config.erase("HostConfig");
  json networking = config.value("NetworkingConfig", json());
  config.erase("NetworkingConfig");
  auto created = eng.create(req.query().get("name"), config, host_config, networking);
  res.send_json(201, {{"Id", created.id}, {"Warnings", created.warnings}});
}

void list(engine::Engine& eng, Request& req, Response& res) {
  const Query& q = req.query();
  bool all = q.get_bool("all");
  long long limit = q.get_int("limit", -1);
  Filters f = query_filters(q);
  std::vector<std::string> ancestors;
  if (auto it = f.find("ancestor"); it != f.end())
    for (const auto& a : it->second)
      if (auto img = eng.images().find(a)) ancestors.push_back(img->id.str());
  auto cs = eng.list();
  std::sort(cs.begin(), cs.end(), [](const auto& a, const auto& b) { return a.created > b.created; });
  int64_t now = engine::now_nanos();
  json out = json::array();
  long long n = 0;
  for (const auto& c : cs) {
    if (limit > 0 && n >= limit) break;
    bool running = c.running() || c.state.status == engine::Status::kRestarting;
    if (!all && limit <= 0 && !running && !f.count("status") && !f.count("exited")) continue;
    if (!container_matches(c, f, ancestors)) continue;
    json s = container_summary_json(c, now);
    if (q.get_bool("size")) {
      s["SizeRw"] = 0;
      s["SizeRootFs"] = eng.images().size(image::Digest::parse(c.image_id));
    }
    out.push_back(std::move(s));
    ++n;
  }
  res.send_json(200, out);
}

void inspect(engine::Engine& eng, Request& req, Response& res) {
  engine::Container c = eng.get(req.param("id"));
  InspectExtras x;
  try {
    auto img = eng.images().get(image::Digest::parse(c.image_id));
    x.lower_dir = eng.snapshots().lowerdir_string(img.chain_ids());
  } catch (const Error&) {
  }
  x.upper_dir = eng.upper_dir(c.id);
  std::string rootfs = x.upper_dir.substr(0, x.upper_dir.size() - 6);  // strip "/upper"
  x.work_dir = rootfs + "/work";
  x.merged_dir = rootfs + "/merged";
  json j = container_inspect_json(c, x);
  if (req.query().get_bool("size")) {
    j["SizeRw"] = 0;
    j["SizeRootFs"] = eng.images().size(image::Digest::parse(c.image_id));
  }
  res.send_json(200, j);
}

void wait(engine::Engine& eng, Request& req, Response& res) {
  std::string cond = req.query().get("condition", "not-running");
  engine::WaitCondition wc;
  if (cond == "not-running" || cond.empty()) wc = engine::WaitCondition::kNotRunning;
  else if (cond == "next-exit") wc = engine::WaitCondition::kNextExit;
  else if (cond == "removed") wc = engine::WaitCondition::kRemoved;
  else throw ApiError(400, fmt::format("invalid condition: \"{}\"", cond));
  // Headers once the wait is registered, as dockerd does: the docker CLI
  // starts the container as soon as they arrive. A 404 goes out instead
  // when the container does not exist.
  engine::WaitResult r = eng.wait(req.param("id"), wc, req.stop_token(),
                                  [&] { res.start_stream(200, "application/json"); });
  json body = {{"StatusCode", r.exit_code}, {"Error", nullptr}};
  if (!r.error.empty()) body["Error"] = {{"Message", r.error}};
  res.write(body.dump() + "\n");
}

void logs(engine::Engine& eng, Request& req, Response& res) {
  const Query& q = req.query();
  engine::LogQuery lq;
  lq.stdout = q.get_bool("stdout");
  lq.stderr = q.get_bool("stderr");
  if (!lq.stdout && !lq.stderr) throw ApiError(400, "Bad parameters: you must choose at least one stream");
  lq.follow = q.get_bool("follow");
  lq.since_nano = parse_time_param(q.get("since"));
  lq.until_nano = parse_time_param(q.get("until"));
  std::string tail = q.get("tail", "all");
  if (tail != "all" && !tail.empty()) {
    long long n = 0;
    lq.tail = parse_int64(tail, &n) && n >= 0 ? n : -1;
  }
  bool timestamps = q.get_bool("timestamps");
  engine::Container c = eng.get(req.param("id"));
  bool tty = c.config.value("Tty", false);
  res.start_stream(200, tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
  eng.logs(
      c.id, lq,
      [&](const engine::LogRecord& r) {
        std::string line = timestamps ? r.time + " " + r.log : r.log;
        return res.write(tty ? line : docker_frame(r.stream == "stderr" ? 2 : 1, line));
      },
      req.stop_token());
}

void attach(engine::Engine& eng, Request& req, Response& res) {
  const Query& q = req.query();
  engine::Container c = eng.get(req.param("id"));
  AttachStreams s;
  s.tty = c.config.value("Tty", false);
  s.stdin = q.get_bool("stdin");
  s.stdout = q.get_bool("stdout");
  s.stderr = q.get_bool("stderr");
  s.close_stdin_on_eof = c.config.value("StdinOnce", false);
  try {
    s.detach_keys = parse_detach_keys(q.get("detachKeys"));
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  bool want_logs = q.get_bool("logs");
  if (!q.get_bool("stream") && !want_logs) throw ApiError(400, "Bad parameters: at least one of stream or logs must be set");
  Hijacked h = res.hijack(s.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
  if (want_logs) {
    engine::LogQuery lq;
    lq.stdout = s.stdout;
    lq.stderr = s.stderr;
    eng.logs(c.id, lq, [&](const engine::LogRecord& r) {
      std::string out = s.tty ? r.log : docker_frame(r.stream == "stderr" ? 2 : 1, r.log);
      return ::send(h.fd.get(), out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size());
    }, req.stop_token());
  }
  if (!q.get_bool("stream")) return;
  UniqueFd shim;
  try {
    shim = eng.attach(c.id, req.stop_token());
  } catch (const Error&) {
    return;  // removed or shutting down: the session just ends
  }
  pump_attach(h.fd.get(), h.buffered, shim.get(), s);
  ::shutdown(h.fd.get(), SHUT_RDWR);
}

// `ps` output filtered to the container's pids, as dockerd's /top.
void top(engine::Engine& eng, Request& req, Response& res) {
  std::string ps_args = req.query().get("ps_args", "-ef");
  std::vector<int> pids = eng.pids(req.param("id"));
  std::vector<std::string> argv{"ps"};
  for (const auto& a : split(ps_args, ' '))
    if (!a.empty()) argv.push_back(a);
  ProcessResult r = run_process(argv);
  if (!r.ok()) throw ApiError(500, fmt::format("Error running ps: {}", trim(r.err)));
  auto lines = split(r.out, '\n');
  if (lines.empty()) throw ApiError(500, "ps printed nothing");
  auto fields = [](const std::string& line, size_t max) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < line.size() && out.size() + 1 < max) {
      while (i < line.size() && line[i] == ' ') ++i;
      size_t j = i;
      while (j < line.size() && line[j] != ' ') ++j;
      if (j > i) out.push_back(line.substr(i, j - i));
      i = j;
    }
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size()) out.push_back(line.substr(i));
    return out;
  };
  std::vector<std::string> titles = fields(lines[0], 1000);
  auto pid_col = std::find(titles.begin(), titles.end(), "PID");
  if (pid_col == titles.end()) throw ApiError(500, "Couldn't find PID field in ps output");
  size_t col = static_cast<size_t>(pid_col - titles.begin());
  json procs = json::array();
  for (size_t i = 1; i < lines.size(); ++i) {
    if (trim(lines[i]).empty()) continue;
    auto f = fields(lines[i], titles.size());
    long long pid = 0;
    if (f.size() <= col || !parse_int64(f[col], &pid)) continue;
    if (std::find(pids.begin(), pids.end(), pid) != pids.end()) procs.push_back(f);
  }
  res.send_json(200, {{"Titles", titles}, {"Processes", procs}});
}

// dockerd's stats: one object per second while streaming; without stream
// one object whose precpu comes from a sample a second earlier, unless
// one-shot asks for a single sample.
void stats(engine::Engine& eng, Request& req, Response& res) {
  const Query& q = req.query();
  bool stream = !q.has("stream") || q.get_bool("stream");
  bool one_shot = q.get_bool("one-shot");
  if (stream && one_shot) throw ApiError(400, "cannot have stream=true and one-shot=true");
  std::string id = eng.get(req.param("id")).id;  // 404 before the headers go out
  std::stop_token stop = req.stop_token();
  auto sleep_a_second = [&] {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait_for(lock, stop, std::chrono::seconds(1), [] { return false; });
    return !stop.stop_requested();
  };
  if (!stream) {
    engine::StatsSample pre, cur = eng.stats(id);
    if (cur.running && !one_shot) {
      pre = std::move(cur);
      if (!sleep_a_second()) return;
      cur = eng.stats(id);
    }
    res.send_json(200, stats_json(eng.get(id).name, id, cur, pre));
    return;
  }
  res.start_stream(200, "application/json");
  engine::StatsSample pre;
  for (;;) {
    engine::Container c;
    try {
      c = eng.get(id);
    } catch (const engine::NotFoundError&) {
      return;  // removed: the stream ends, as dockerd's does
    }
    engine::StatsSample cur = eng.stats(id);
    if (!res.write(stats_json(c.name, id, cur, pre).dump() + "\n")) return;
    pre = std::move(cur);
    if (!sleep_a_second()) return;
  }
}

}  // namespace

void add_container_routes(Router& r, engine::Engine& eng) {
  auto bind = [&eng](void (*fn)(engine::Engine&, Request&, Response&)) {
    return [&eng, fn](Request& req, Response& res) { fn(eng, req, res); };
  };
  r.add("POST", "/containers/create", bind(create));
  r.add("GET", "/containers/json", bind(list));
  r.add("GET", "/containers/{id}/json", bind(inspect));
  r.add("POST", "/containers/{id}/wait", bind(wait));
  r.add("GET", "/containers/{id}/logs", bind(logs));
  r.add("POST", "/containers/{id}/attach", bind(attach));
  r.add("GET", "/containers/{id}/top", bind(top));
  r.add("GET", "/containers/{id}/stats", bind(stats));
  r.add("POST", "/containers/{id}/start", [&eng](Request& req, Response& res) {
    eng.start(req.param("id"));
    res.send(204);
  });
  r.add("POST", "/containers/{id}/stop", [&eng](Request& req, Response& res) {
    eng.stop(req.param("id"), static_cast<int>(req.query().get_int("t", -1)), req.query().get("signal"));
    res.send(204);
  });
  r.add("POST", "/containers/{id}/kill", [&eng](Request& req, Response& res) {
    eng.kill(req.param("id"), req.query().get("signal"));
    res.send(204);
  });
  r.add("POST", "/containers/{id}/restart", [&eng](Request& req, Response& res) {
    eng.restart(req.param("id"), static_cast<int>(req.query().get_int("t", -1)));
    res.send(204);
  });
  r.add("POST", "/containers/{id}/pause", [&eng](Request& req, Response& res) {
    eng.pause(req.param("id"));
    res.send(204);
  });
  r.add("POST", "/containers/{id}/unpause", [&eng](Request& req, Response& res) {
    eng.unpause(req.param("id"));
    res.send(204);
  });
  r.add("POST", "/containers/{id}/rename", [&eng](Request& req, Response& res) {
    eng.rename(req.param("id"), req.query().get("name"));
    res.send(204);
  });
  r.add("POST", "/containers/{id}/resize", [&eng](Request& req, Response& res) {
    eng.resize(req.param("id"), static_cast<int>(req.query().get_int("h", 0)),
               static_cast<int>(req.query().get_int("w", 0)));
    res.send(200);
  });
  r.add("POST", "/containers/{id}/update", [&eng](Request& req, Response& res) {
    json body = req.json_body();
    if (!body.is_object()) throw ApiError(400, "invalid JSON: body must be an object");
    eng.update(req.param("id"), body);
    res.send_json(200, {{"Warnings", json::array()}});
  });
  r.add("DELETE", "/containers/{id}", [&eng](Request& req, Response& res) {
    eng.remove(req.param("id"), req.query().get_bool("force"), req.query().get_bool("v"));
    res.send(204);
  });
  r.add("POST", "/containers/prune", [&eng](Request& req, Response& res) {
    Filters f = query_filters(req.query());
    auto removed = eng.prune([&](const engine::Container& c) { return container_matches(c, f, {}); });
    res.send_json(200, {{"ContainersDeleted", removed.empty() ? json(nullptr) : json(removed)}, {"SpaceReclaimed", 0}});
  });
}

void add_exec_routes(Router& r, engine::Engine& eng) {
  r.add("POST", "/containers/{id}/exec", [&eng](Request& req, Response& res) {
    json body = req.json_body();
    std::string id = eng.exec_create(req.param("id"), body);
    res.send_json(201, {{"Id", id}});
  });
  r.add("GET", "/exec/{id}/json", [&eng](Request& req, Response& res) {
    engine::ExecRecord x = eng.exec_get(req.param("id"));
    const json& cfg = x.config;
    std::vector<std::string> cmd = cfg.value("Cmd", std::vector<std::string>{});
    json args = json::array();
    for (size_t i = 1; i < cmd.size(); ++i) args.push_back(cmd[i]);
    res.send_json(200, {{"ID", x.id},
                        {"Running", x.running},
                        {"ExitCode", x.exit_code ? json(*x.exit_code) : json(nullptr)},
                        {"ProcessConfig",
                         {{"tty", cfg.value("Tty", false)},
                          {"entrypoint", cmd.empty() ? "" : cmd[0]},
                          {"arguments", args},
                          {"privileged", cfg.value("Privileged", false)},
                          {"user", cfg.value("User", "")}}},
                        {"OpenStdin", cfg.value("AttachStdin", false)},
                        {"OpenStderr", cfg.value("AttachStderr", false)},
                        {"OpenStdout", cfg.value("AttachStdout", false)},
                        {"CanRemove", false},
                        {"ContainerID", x.container_id},
                        {"DetachKeys", cfg.value("DetachKeys", "")},
                        {"Pid", x.pid}});
  });
  r.add("POST", "/exec/{id}/resize", [&eng](Request& req, Response& res) {
    eng.exec_resize(req.param("id"), static_cast<int>(req.query().get_int("h", 0)),
                    static_cast<int>(req.query().get_int("w", 0)));
    res.send(200);
  });
  r.add("POST", "/exec/{id}/start", [&eng](Request& req, Response& res) {
    json body = req.json_body();
    if (body.is_null()) body = json::object();
    std::string id = req.param("id");
    engine::ExecRecord x = eng.exec_get(id);
    AttachStreams s;
    s.tty = x.config.value("Tty", false);
    s.stdin = x.config.value("AttachStdin", false);
    s.stdout = x.config.value("AttachStdout", false);
    s.stderr = x.config.value("AttachStderr", false);
    s.close_stdin_on_eof = true;
    try {
      s.detach_keys = parse_detach_keys(x.config.value("DetachKeys", ""));
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    engine::ExecIo io = eng.exec_start(id);
    if (body.value("Detach", false)) {
      // Nobody reads its output: drain it until the process exits, then
      // record the exit code.
      std::thread([&eng, id, io = std::move(io)]() mutable {
        io.stdin_w.reset();
        AttachStreams discard;
        discard.stdout = discard.stderr = false;
        pump_exec(-1, "", io.pty.get(), -1, io.stdout_r.get(), io.stderr_r.get(), discard);
        io = {};
        try {
          eng.exec_wait(id);
        } catch (const Error&) {
        }
      }).detach();
      res.send(200);
      return;
    }
    if (auto size = body.value("ConsoleSize", json()); size.is_array() && size.size() == 2 && io.pty.valid())
      eng.exec_resize(id, size[0].get<int>(), size[1].get<int>());
    Hijacked h = res.hijack(s.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream");
    pump_exec(h.fd.get(), h.buffered, io.pty.get(), io.stdin_w.get(), io.stdout_r.get(), io.stderr_r.get(), s);
    io = {};
    eng.exec_wait(id);
    ::shutdown(h.fd.get(), SHUT_RDWR);
  });
}

}  // namespace berth::api
