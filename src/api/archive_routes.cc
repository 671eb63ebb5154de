#include "api/archive_routes.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <thread>

#include "api/stream_pump.h"
#include "engine/commit.h"
#include "engine/container_changes.h"
#include "engine/container_fs.h"

namespace berth::api {

namespace {

using nlohmann::json;

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string required_path(const Request& req) {
  if (!req.query().has("path")) throw ApiError(400, "path is required");  // dockerd: "path" must be given
  return req.query().get("path");
}

void set_stat_header(Response& res, const engine::PathStat& st) {
  res.set_header("X-Docker-Container-Path-Stat", base64(st.to_json().dump()));
}

// Feeds the request body into consume(fd) through a pipe, so an upload of
// any size streams straight into the extraction.
void consume_body(Request& req, const std::function<void(int)>& consume) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("pipe");
  UniqueFd r(p[0]), w(p[1]);
  std::thread feeder([&] {
    char buf[256 * 1024];
    try {
      for (;;) {
        size_t n = req.read_body(buf, sizeof buf);
        if (n == 0) break;
        for (size_t off = 0; off < n;) {
          ssize_t k = ::write(w.get(), buf + off, n - off);
          if (k < 0 && errno == EINTR) continue;
          if (k < 0) return;  // the reader gave up (EPIPE); the server drains the rest
          off += static_cast<size_t>(k);
        }
      }
    } catch (const std::exception&) {  // client went away: the reader sees EOF and fails on the short tar
    }
    w.reset();
  });
  try {
    consume(r.get());
  } catch (...) {
    r.reset();
    feeder.join();
    throw;
  }
  r.reset();
  feeder.join();
}

}  // namespace

void add_archive_routes(Router& router, engine::Engine& eng) {
  router.add("HEAD", "/containers/{name}/archive", [&eng](Request& req, Response& res) {
    std::string path = required_path(req);
    engine::ContainerFs fs(eng, req.param("name"));
    set_stat_header(res, fs.stat(path));
    res.send(200);
  });
  router.add("GET", "/containers/{name}/archive", [&eng](Request& req, Response& res) {
    std::string path = required_path(req);
    engine::ContainerFs fs(eng, req.param("name"));
    set_stat_header(res, fs.stat(path));
    stream_tar(res, [&](int fd) { fs.archive(path, fd); });
    engine::publish_container_event(eng, fs.container(), "archive-path");
  });
  router.add("PUT", "/containers/{name}/archive", [&eng](Request& req, Response& res) {
    std::string path = required_path(req);
    engine::ExtractOptions opts;
    opts.no_overwrite_dir_nondir = req.query().get_bool("noOverwriteDirNonDir");
    opts.copy_uid_gid = req.query().get_bool("copyUIDGID");
    engine::ContainerFs fs(eng, req.param("name"));
    consume_body(req, [&](int fd) { fs.extract(path, fd, opts); });
    engine::publish_container_event(eng, fs.container(), "extract-to-dir");
    res.send(200);
  });
  router.add("GET", "/containers/{name}/export", [&eng](Request& req, Response& res) {
    engine::Container c = eng.get(req.param("name"));
    stream_tar(res, [&](int fd) { engine::export_container(eng, c.id, fd); });
    engine::publish_container_event(eng, c, "export");
  });
  router.add("GET", "/containers/{name}/changes", [&eng](Request& req, Response& res) {
    json out = json::array();
    for (const auto& ch : engine::container_changes(eng, req.param("name")))
      out.push_back({{"Path", ch.path}, {"Kind", static_cast<int>(ch.kind)}});
    res.send_json(200, out.empty() ? json(nullptr) : out);
  });
  router.add("POST", "/commit", [&eng](Request& req, Response& res) {
    const Query& q = req.query();
    engine::CommitOptions o;
    std::string repo = q.get("repo"), tag = q.get("tag");
    if (!repo.empty()) o.reference = tag.empty() ? repo : repo + ":" + tag;
    o.comment = q.get("comment");
    o.author = q.get("author");
    o.changes = q.get_all("changes");
    // API >= 1.13: pausing is the default.
    o.pause = q.get("pause").empty() ? true : q.get_bool("pause");
    try {
      o.config = req.json_body();
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    image::ImageRecord r = engine::commit_container(eng, q.get("container"), o);
    res.send_json(201, {{"Id", r.id.str()}});
  });
}

}  // namespace berth::api
