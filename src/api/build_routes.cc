#include "api/build_routes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/distribution_routes.h"
#include "base/base64.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/build_cache.h"
#include "engine/builder.h"
#include "engine/names.h"
#include "image/layer.h"
#include "image/reference.h"

namespace berth::api {

using nlohmann::json;

namespace {

// The stream starts with the first message; errors before it are HTTP errors.
class BuildStream {
 public:
  explicit BuildStream(Response& res) : res_(res) {}
  void write(const json& m) {
    if (!res_.answered()) res_.start_stream(200, "application/json");
    res_.write(m.dump() + "\n");
  }
  void fail(const std::string& msg, int code, int http_status) {
    if (!res_.answered()) throw ApiError(http_status, msg);
    json detail = {{"message", msg}};
    if (code != 0) detail = {{"code", code}, {"message", msg}};
    write({{"errorDetail", detail}, {"error", msg}});
  }

 private:
  Response& res_;
};

json json_param(const Query& q, const char* name, json def) {
  std::string raw = q.get(name);
  if (raw.empty()) return def;
  try {
    return json::parse(raw);
  } catch (const json::exception& e) {
    throw ApiError(400, fmt::format("invalid {} parameter: {}", name, e.what()));
  }
}

engine::BuildOptions options_from(const Query& q) {
  engine::BuildOptions o;
  o.dockerfile = q.get("dockerfile", "Dockerfile");
  if (o.dockerfile.empty()) o.dockerfile = "Dockerfile";
  for (const auto& t : q.get_all("t")) {
    try {
      image::parse_reference(t);
    } catch (const Error& e) {
      throw ApiError(400, fmt::format("invalid reference format: {}", e.what()));
    }
    o.tags.push_back(t);
  }
  json args = json_param(q, "buildargs", json::object());
  if (!args.is_object()) throw ApiError(400, "buildargs: not a JSON object");
  for (const auto& [k, v] : args.items()) {
    if (v.is_string()) o.build_args[k] = v.get<std::string>();
    else o.build_args[k] = std::nullopt;
  }
  json labels = json_param(q, "labels", json::object());
  if (!labels.is_object()) throw ApiError(400, "labels: not a JSON object");
  for (const auto& [k, v] : labels.items()) o.labels[k] = v.is_string() ? v.get<std::string>() : "";
  json cache_from = json_param(q, "cachefrom", json::array());
  if (cache_from.is_array())
    for (const auto& c : cache_from)
      if (c.is_string()) o.cache_from.push_back(c.get<std::string>());
  o.target = q.get("target");
  o.platform = q.get("platform");
  o.network_mode = q.get("networkmode");
  if (o.network_mode == "default") o.network_mode = "";
  o.no_cache = q.get_bool("nocache");
  o.pull = q.get_bool("pull");
  o.quiet = q.get_bool("q");
  o.remove = !q.has("rm") || q.get_bool("rm");
  o.force_remove = q.get_bool("forcerm");
  json& hc = o.host_config;
  auto int_param = [&](const char* name, const char* field) {
    long long v = q.get_int(name, 0);
    if (v != 0) hc[field] = v;
  };
  int_param("memory", "Memory");
  int_param("memswap", "MemorySwap");
  int_param("cpushares", "CpuShares");
  int_param("cpuperiod", "CpuPeriod");
  int_param("cpuquota", "CpuQuota");
  int_param("shmsize", "ShmSize");
  if (!q.get("cpusetcpus").empty()) hc["CpusetCpus"] = q.get("cpusetcpus");
  if (!q.get("cpusetmems").empty()) hc["CpusetMems"] = q.get("cpusetmems");
  if (!q.get("extrahosts").empty()) {
    json hosts = json::array();
    for (const auto& h : split(q.get("extrahosts"), ',')) hosts.push_back(h);
    hc["ExtraHosts"] = hosts;
  }
  json ulimits = json_param(q, "ulimits", json::array());
  if (ulimits.is_array() && !ulimits.empty()) hc["Ulimits"] = ulimits;
  return o;
}

// The credentials the client's X-Registry-Config (base64 JSON: registry ->
// AuthConfig, as the docker CLI builds it from its config.json) holds for
// ref's registry; anonymous when none.
registry::AuthConfig auth_for(const std::string& header, const std::string& ref) {
  if (header.empty()) return {};
  json all;
  try {
    all = json::parse(base64_decode(header), nullptr, false);
  } catch (const Error&) {
    return {};  // dockerd too builds anonymously when the header does not decode
  }
  if (!all.is_object()) return {};
  std::string domain;
  try {
    domain = image::parse_reference(ref).domain;
  } catch (const Error&) {
    return {};
  }
  std::vector<std::string> keys = {domain, "https://" + domain, "http://" + domain};
  if (domain == "docker.io") keys.insert(keys.begin(), "https://index.docker.io/v1/");
  for (const auto& k : keys)
    if (all.contains(k) && all[k].is_object()) return parse_registry_auth(base64_encode(all[k].dump()));
  return {};
}

// berth's extension for --secret: base64 of a JSON object {id: base64 content}.
std::map<std::string, std::string> secrets_from(const std::string& header) {
  std::map<std::string, std::string> out;
  if (header.empty()) return out;
  try {
    json j = json::parse(base64_decode(header));
    for (const auto& [id, v] : j.items()) out[id] = base64_decode(v.get<std::string>());
  } catch (const std::exception& e) {
    throw ApiError(400, fmt::format("X-Berth-Build-Secrets: {}", e.what()));
  }
  return out;
}

// Unpacks the request body (a tar, compressed or not) into dir while it
// arrives: a reader thread feeds a pipe that unpack_layer reads.
void receive_context(Request& req, const std::string& dir) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) fail_errno("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  ::fcntl(wr.get(), F_SETPIPE_SZ, 1 << 20);
  std::string feed_error;
  std::thread feeder([&] {
    std::vector<char> buf(256 * 1024);
    auto put = [&](const char* data, size_t n) {
      for (size_t off = 0; off < n;) {
        ssize_t w = ::write(wr.get(), data + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return false;  // the unpacker stopped reading: its error is the one to report
        off += static_cast<size_t>(w);
      }
      return true;
    };
    try {
      uint64_t total = 0;
      std::string head;
      for (;;) {
        size_t n = req.read_body(buf.data(), buf.size());
        if (n == 0) break;
        if (head.size() < 4) head.append(buf.data(), std::min<size_t>(n, 4 - head.size()));
        total += n;
        if (!put(buf.data(), n)) return;
      }
      // The docker CLI's tar with a Dockerfile spliced in (-f outside the
      // context, -f -) stops after the last file's data: Go's
      // ReplaceFileTarWrapper closes its pipe before the tar writer pads the
      // entry and writes the end blocks. dockerd's Go reader shrugs that
      // off; libarchive does not, so a plain tar gets them here.
      bool compressed = head.starts_with("\x1f\x8b") || head.starts_with("BZh") || head.starts_with("\xfd" "7zX") ||
                        head.starts_with("\x28\xb5\x2f\xfd");
      if (!compressed && total > 0) {
        std::string zeros((512 - total % 512) % 512 + 1024, '\0');
        put(zeros.data(), zeros.size());
      }
    } catch (const std::exception& e) {
      feed_error = e.what();
    }
    wr.reset();
  });
  image::UnpackOptions uo;
  uo.name = "build context";
  uo.whiteouts = false;
  uo.root_entry = false;
  uo.allow_devices = false;
  try {
    image::unpack_layer(rd.get(), dir, uo);
  } catch (const Error& e) {
    rd.reset();
    feeder.join();
    throw ApiError(400, fmt::format("failed to read the build context: {}", e.what()));
  }
  rd.reset();
  feeder.join();
  if (!feed_error.empty()) throw ApiError(400, "failed to read the build context: " + feed_error);
}

// contextpath=<dir>: berth's CLI on this host names its context directory
// instead of sending it as a tar, so nothing is copied and the daemon's
// DigestCache spares re-reading unchanged files. Only over the unix socket:
// whoever can use it can already run anything as root here, while a TCP
// client must not be able to read the daemon's files.
std::string local_context(Request& req, const std::string& path) {
  if (!req.on_unix_socket()) throw ApiError(403, "contextpath is only accepted over the daemon's unix socket");
  if (!path.starts_with("/")) throw ApiError(400, fmt::format("contextpath {}: not an absolute path", path));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw ApiError(400, fmt::format("contextpath {}: not a directory", path));
  char buf[4096];
  while (req.read_body(buf, sizeof buf) > 0) {
  }
  return path;
}

void serve_build(engine::Engine& eng, engine::Distribution& dist, build::DigestCache& digests, Request& req,
                 Response& res) {
  const Query& q = req.query();
  if (q.get("version") == "2")
    throw ApiError(400, "BuildKit (version=2) is not supported by berthd: use the classic builder (DOCKER_BUILDKIT=0)");
  if (!q.get("remote").empty())
    throw ApiError(400, "remote build contexts (git or URL) are not supported by berthd yet");
  if (!q.get("outputs").empty())
    throw ApiError(400, "outputs (--output) need BuildKit; the classic builder only makes images");
  engine::BuildOptions opts = options_from(q);
  opts.secrets = secrets_from(req.header("X-Berth-Build-Secrets"));
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() {
      if (dir.empty()) return;
      try {
        remove_all(dir);
      } catch (const Error& e) {
        fprintf(stderr, "berthd: build: %s\n", e.what());
      }
    }
  } cleanup;
  if (std::string path = q.get("contextpath"); !path.empty()) {
    opts.context_dir = local_context(req, path);
    opts.digests = &digests;
  } else {
    cleanup.dir = path_join(eng.options().data_root, "builder/tmp/ctx-" + engine::random_id().substr(0, 16));
    mkdir_all(cleanup.dir, 0700);
    receive_context(req, cleanup.dir);
    opts.context_dir = cleanup.dir;
  }

  BuildStream stream(res);
  std::string registry_config = req.header("X-Registry-Config");
  engine::BuildOutput out;
  out.stream = [&](const std::string& text) { stream.write({{"stream", text}}); };
  out.aux = [&](const json& v) { stream.write({{"aux", v}}); };
  out.pull = [&](const std::string& ref) {
    dist.pull(ref, false, q.get("platform"), auth_for(registry_config, ref), [&](const registry::PullProgress& p) {
      if (!opts.quiet) stream.write(pull_progress_json(p));
    });
  };
  try {
    engine::build_image(eng, opts, out, req.stop_token());
  } catch (const engine::BuildError& e) {
    stream.fail(e.what(), e.code(), 400);
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    stream.fail(e.what(), 1, 500);
  }
}

bool held(engine::Engine& eng, const image::ImageRecord& r) {
  if (!r.repo_tags.empty() || !r.repo_digests.empty() || !eng.images().children(r.id).empty()) return true;
  for (const auto& c : eng.list())
    if (c.image_id == r.id.str()) return true;
  return false;
}

// Forgets the step cache, then removes the images only it held, children
// before parents (a parent is free once its last child is gone).
json prune_build_cache(engine::Engine& eng) {
  engine::BuildCache cache(eng.options().data_root, eng.images());
  std::vector<image::Digest> candidates = cache.prune();
  json deleted = json::array();
  int64_t space = 0;
  for (bool progress = true; progress;) {
    progress = false;
    for (auto it = candidates.begin(); it != candidates.end();) {
      auto r = eng.images().find(it->str());
      if (r && held(eng, *r)) {
        ++it;
        continue;
      }
      if (r) {
        space += static_cast<int64_t>(eng.images().size(r->id));
        eng.images().remove(r->id);
        eng.events().publish({"image", "delete", r->id.str(), {{"name", r->id.str()}}, 0});
        deleted.push_back(r->id.str());
        progress = true;
      }
      it = candidates.erase(it);
    }
  }
  // RUN --mount=type=cache directories and COPY's link index are build cache too.
  remove_all(path_join(eng.options().data_root, "builder/cache-mounts"));
  remove_all(path_join(eng.options().data_root, "builder/copy-index"));
  return {{"CachesDeleted", deleted}, {"SpaceReclaimed", space}};
}

}  // namespace

void add_build_routes(Router& router, engine::Engine& eng, engine::Distribution& dist) {
  auto digests = std::make_shared<build::DigestCache>();
  router.add("POST", "/build", [&eng, &dist, digests](Request& req, Response& res) {
    serve_build(eng, dist, *digests, req, res);
  });
  router.add("POST", "/build/prune", [&eng](Request&, Response& res) { res.send_json(200, prune_build_cache(eng)); });
  router.add("POST", "/build/cancel", [](Request&, Response& res) { res.send(200); });
}

}  // namespace berth::api
