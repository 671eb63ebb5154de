#include "api/image_routes.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "api/container_json.h"
#include "api/distribution_routes.h"
#include "api/stream_pump.h"
#include "api/volume_routes.h"
#include "api/filters.h"
#include "base/clock.h"
#include "base/fs.h"
#include "base/strings.h"
#include "image/archive.h"
#include "image/import.h"
#include "image/reference.h"

namespace berth::api {

namespace {

using nlohmann::json;

int64_t unix_seconds(const std::string& rfc3339) {
  long long n = 0;
  return parse_rfc3339_nano(rfc3339, &n) ? n / 1000000000 : 0;
}

// The request body in an unlinked temp file, positioned at its start.
UniqueFd body_to_temp_file(engine::Engine& eng, Request& req) {
  std::string dir = path_join(eng.options().data_root, "tmp");
  mkdir_all(dir, 0700);
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid()) fail_errno("create temp file in {}", dir);
  char buf[256 * 1024];
  for (;;) {
    size_t n = req.read_body(buf, sizeof buf);
    if (n == 0) break;
    size_t off = 0;
    while (off < n) {
      ssize_t w = ::write(fd.get(), buf + off, n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail_errno("write upload");
      off += static_cast<size_t>(w);
    }
  }
  if (::lseek(fd.get(), 0, SEEK_SET) < 0) fail_errno("seek upload");
  return fd;
}

image::ImageRecord resolve_image(engine::Engine& eng, const std::string& name) {
  auto img = eng.images().find(name);
  if (!img) throw engine::NotFoundError("No such image: " + name);
  return *img;
}

json image_summary(engine::Engine& eng, const image::ImageRecord& r) {
  json cfg = eng.images().config(r.id);
  json labels = cfg.value("config", json::object()).value("Labels", json());
  uint64_t size = eng.images().size(r.id);
  return {{"Containers", -1},
          {"Created", unix_seconds(cfg.value("created", ""))},
          {"Id", r.id.str()},
          {"Labels", labels.is_object() ? labels : json(nullptr)},
          {"ParentId", r.parent ? r.parent->str() : ""},
          {"RepoDigests", r.repo_digests},
          {"RepoTags", r.repo_tags},
          {"SharedSize", -1},
          {"Size", size},
          {"VirtualSize", size}};
}

// An image's (container) config as dockerd shows it: Go's container.Config
// struct, so every field is there, zero when the image leaves it out.
json full_run_config(const json& stored) {
  json c = {{"Hostname", ""},     {"Domainname", ""},   {"User", ""},          {"AttachStdin", false},
            {"AttachStdout", false}, {"AttachStderr", false}, {"Tty", false},   {"OpenStdin", false},
            {"StdinOnce", false},  {"Env", nullptr},    {"Cmd", nullptr},      {"Image", ""},
            {"Volumes", nullptr},  {"WorkingDir", ""},  {"Entrypoint", nullptr}, {"OnBuild", nullptr},
            {"Labels", nullptr}};
  if (stored.is_object())
    for (const auto& [k, v] : stored.items()) c[k] = v;
  return c;
}

json image_inspect(engine::Engine& eng, const image::ImageRecord& r) {
  json cfg = eng.images().config(r.id);
  json layers = json::array();
  for (const auto& d : r.diff_ids) layers.push_back(d.str());
  uint64_t size = eng.images().size(r.id);
  std::string lower;
  try {
    lower = eng.snapshots().lowerdir_string(r.chain_ids());
  } catch (const Error&) {
  }
  return {{"Id", r.id.str()},
          {"RepoTags", r.repo_tags},
          {"RepoDigests", r.repo_digests},
          {"Parent", r.parent ? r.parent->str() : ""},
          {"Comment", cfg.value("comment", "")},
          {"Created", cfg.value("created", "")},
          {"Container", cfg.value("container", "")},
          {"ContainerConfig", full_run_config(cfg.value("container_config", json::object()))},
          {"DockerVersion", cfg.value("docker_version", "")},
          {"Author", cfg.value("author", "")},
          {"Config", full_run_config(cfg.value("config", json::object()))},
          {"Architecture", cfg.value("architecture", "amd64")},
          {"Variant", cfg.value("variant", "")},
          {"Os", cfg.value("os", "linux")},
          {"Size", size},
          {"VirtualSize", size},
          {"GraphDriver", {{"Data", {{"LowerDir", lower}}}, {"Name", "overlay2"}}},
          {"RootFS", {{"Type", "layers"}, {"Layers", layers}}},
          {"Metadata", {{"LastTagTime", r.added}}}};
}

// docker's reference.FamiliarMatch: a glob (path.Match: "*" stops at "/")
// against the familiar string ("busybox:latest") or the familiar name.
bool familiar_match(const std::string& pattern, const std::string& familiar) {
  if (::fnmatch(pattern.c_str(), familiar.c_str(), FNM_PATHNAME) == 0) return true;
  size_t cut = familiar.find('@');
  if (cut == std::string::npos) {
    size_t colon = familiar.rfind(':');
    if (colon != std::string::npos && familiar.find('/', colon) == std::string::npos) cut = colon;
  }
  return cut != std::string::npos && ::fnmatch(pattern.c_str(), familiar.substr(0, cut).c_str(), FNM_PATHNAME) == 0;
}

// The refs matching any pattern (dockerd lists only those with a filter).
std::vector<std::string> matching_refs(const std::vector<std::string>& refs, const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  for (const auto& ref : refs)
    for (const auto& p : patterns)
      if (familiar_match(p, ref)) {
        out.push_back(ref);
        break;
      }
  return out;
}

bool image_matches(const image::ImageRecord& r, const json& cfg, const Filters& f) {
  if (auto it = f.find("dangling"); it != f.end()) {
    bool want = !it->second.empty() && (it->second[0] == "true" || it->second[0] == "1");
    if (want != r.repo_tags.empty()) return false;
  }
  if (auto it = f.find("reference"); it != f.end()) {
    if (matching_refs(r.repo_tags, it->second).empty() && matching_refs(r.repo_digests, it->second).empty())
      return false;
  }
  if (auto it = f.find("label"); it != f.end())
    if (!labels_match(cfg.value("config", json::object()).value("Labels", json::object()), it->second)) return false;
  return true;
}

std::vector<std::string> containers_using(engine::Engine& eng, const image::Digest& id, bool running_only) {
  std::vector<std::string> out;
  for (const auto& c : eng.list())
    if (c.image_id == id.str() && (!running_only || c.running())) out.push_back(c.id);
  return out;
}

// The images some other image names as its parent, from one listing (one
// children() call per image would scan the store once per image).
std::set<image::Digest> with_children(const std::vector<image::ImageRecord>& images) {
  std::set<image::Digest> out;
  for (const auto& r : images)
    if (r.parent) out.insert(*r.parent);
  return out;
}

bool has_references(const image::ImageRecord& r) { return !r.repo_tags.empty() || !r.repo_digests.empty(); }

void remove_and_report(engine::Engine& eng, const image::Digest& id, json* out) {
  eng.images().remove(id);
  out->push_back({{"Deleted", id.str()}});
  eng.events().publish({"image", "delete", id.str(), {{"name", id.str()}}, 0});
}

// dockerd's imageDeleteHelper with prune: after an image goes, its parent
// goes too when nothing else holds it (no reference, no other child, no
// container), and so on up the chain. Quiet: the first image something
// holds ends the walk without an error.
void prune_parents(engine::Engine& eng, std::optional<image::Digest> parent, json* out) {
  while (parent) {
    auto p = eng.images().find(parent->str());
    if (!p || has_references(*p) || !eng.images().children(p->id).empty()) return;
    if (!containers_using(eng, p->id, false).empty()) return;
    remove_and_report(eng, p->id, out);
    parent = p->parent;
  }
}

json delete_image(engine::Engine& eng, const std::string& name, bool force, bool prune) {
  image::ImageRecord r = resolve_image(eng, name);
  json out = json::array();
  // A name that is a tag of an image with more tags only untags.
  bool by_reference = false;
  std::string normalized;
  try {
    auto ref = image::with_default_tag(image::parse_reference(name));
    normalized = ref.familiar();
    by_reference = std::find(r.repo_tags.begin(), r.repo_tags.end(), normalized) != r.repo_tags.end() ||
                   std::find(r.repo_digests.begin(), r.repo_digests.end(), normalized) != r.repo_digests.end();
  } catch (const Error&) {
  }
  if (by_reference) {
    // docker's imageDelete: untag; when that was the repository's last tag,
    // its digest references go too; the image itself goes only when no
    // reference is left and no container uses it.
    auto untag = [&](const std::string& ref) {
      eng.images().untag(ref);
      out.push_back({{"Untagged", ref}});
      eng.events().publish({"image", "untag", r.id.str(), {{"name", ref}}, 0});
    };
    // Removing the only repository naming an image a container uses would
    // leave it dangling: docker wants that forced.
    std::set<std::string> repos;
    for (const auto& t : r.repo_tags) repos.insert(image::parse_reference(t).name());
    for (const auto& d : r.repo_digests) repos.insert(image::parse_reference(d).name());
    if (!force && repos.size() <= 1) {
      auto users = containers_using(eng, r.id, false);
      if (!users.empty())
        throw engine::ConflictError(fmt::format(
            "conflict: unable to remove repository reference \"{}\" (must force) - container {} is using its referenced image {}",
            name, users[0].substr(0, 12), r.id.hex().substr(0, 12)));
    }
    untag(normalized);
    image::Reference removed = image::parse_reference(normalized);
    image::ImageRecord now = eng.images().get(r.id);
    if (!removed.digest) {
      bool repo_tag_left = std::any_of(now.repo_tags.begin(), now.repo_tags.end(), [&](const std::string& t) {
        return image::parse_reference(t).name() == removed.name();
      });
      if (!repo_tag_left)
        for (const auto& d : now.repo_digests)
          if (image::parse_reference(d).name() == removed.name()) untag(d);
      now = eng.images().get(r.id);
    }
    if (has_references(now)) return out;
    if (!containers_using(eng, r.id, false).empty()) return out;  // left dangling, as docker does
    // An image others are built on stays, now untagged and hidden from the
    // default listing (dockerd's quiet conflict).
    if (!eng.images().children(r.id).empty()) return out;
    remove_and_report(eng, r.id, &out);
    if (prune) prune_parents(eng, r.parent, &out);
    return out;
  }
  // dockerd checks this first, and no force overrides it: the children
  // would lose their parent.
  if (!eng.images().children(r.id).empty())
    throw engine::ConflictError(fmt::format("conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                                            r.id.hex().substr(0, 12)));
  auto running = containers_using(eng, r.id, true);
  if (!running.empty())
    throw engine::ConflictError(fmt::format("conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                                            r.id.hex().substr(0, 12), running[0].substr(0, 12)));
  auto users = containers_using(eng, r.id, false);
  if (!users.empty() && !force)
    throw engine::ConflictError(fmt::format("conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                                            r.id.hex().substr(0, 12), users[0].substr(0, 12)));
  if (!by_reference && r.repo_tags.size() > 1 && !force)
    throw engine::ConflictError(fmt::format("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                                            r.id.hex().substr(0, 12)));
  for (const auto& t : r.repo_tags) out.push_back({{"Untagged", t}});
  for (const auto& d : r.repo_digests) out.push_back({{"Untagged", d}});
  if (users.empty()) {
    remove_and_report(eng, r.id, &out);
    if (prune) prune_parents(eng, r.parent, &out);
  } else {
    for (const auto& t : r.repo_tags) eng.images().untag(t);
  }
  return out;
}

}  // namespace

void add_image_routes(Router& router, engine::Engine& eng, engine::Distribution& dist) {
  router.add("GET", "/images/json", [&eng](Request& req, Response& res) {
    Filters f = query_filters(req.query());
    bool all = req.query().get_bool("all");
    bool dangling_only = false;
    if (auto it = f.find("dangling"); it != f.end() && !it->second.empty())
      dangling_only = it->second[0] == "true" || it->second[0] == "1";
    json out = json::array();
    auto images = eng.images().list();
    std::set<image::Digest> parents = with_children(images);
    std::sort(images.begin(), images.end(), [&](const auto& a, const auto& b) { return a.added > b.added; });
    for (const auto& r : images) {
      bool intermediate = parents.count(r.id) > 0;
      // dockerd: without ?all an untagged image with children is a build's
      // intermediate step; dangling=true means heads only (no children).
      if (intermediate && ((!all && !has_references(r)) || dangling_only)) continue;
      json cfg = eng.images().config(r.id);
      if (!image_matches(r, cfg, f)) continue;
      json summary = image_summary(eng, r);
      if (auto it = f.find("reference"); it != f.end()) {
        summary["RepoTags"] = matching_refs(r.repo_tags, it->second);
        summary["RepoDigests"] = matching_refs(r.repo_digests, it->second);
      }
      out.push_back(summary);
    }
    res.send_json(200, out);
  });
  router.add("GET", "/images/{name:.*}/json", [&eng](Request& req, Response& res) {
    res.send_json(200, image_inspect(eng, resolve_image(eng, req.param("name"))));
  });
  router.add("GET", "/images/{name:.*}/history", [&eng](Request& req, Response& res) {
    image::ImageRecord r = resolve_image(eng, req.param("name"));
    json cfg = eng.images().config(r.id);
    json hist = cfg.value("history", json::array());
    json out = json::array();
    size_t layer = 0;
    std::vector<json> rows;
    std::vector<image::Digest> chain = r.chain_ids();
    for (const auto& h : hist) {
      uint64_t size = 0;
      if (!h.value("empty_layer", false) && layer < chain.size()) {
        try {
          size = eng.images().layer_size(chain[layer]);
        } catch (const Error&) {
          // A missing snapshot shows as 0B rather than failing the history.
        }
        ++layer;
      }
      rows.push_back({{"Id", "<missing>"},
                      {"Created", unix_seconds(h.value("created", ""))},
                      {"CreatedBy", h.value("created_by", "")},
                      {"Tags", nullptr},
                      {"Size", size},
                      {"Comment", h.value("comment", "")}});
    }
    if (rows.empty())
      rows.push_back({{"Id", "<missing>"}, {"Created", unix_seconds(cfg.value("created", ""))}, {"CreatedBy", ""},
                      {"Tags", nullptr}, {"Size", eng.images().size(r.id)}, {"Comment", ""}});
    // dockerd's ImageHistory: the last step is the image, each earlier one
    // its next ancestor while parent links last (classic builds have one
    // image per step), "<missing>" beyond.
    std::optional<image::ImageRecord> step = r;
    for (auto it = rows.rbegin(); it != rows.rend() && step; ++it) {
      (*it)["Id"] = step->id.str();
      (*it)["Tags"] = step->repo_tags.empty() ? json(nullptr) : json(step->repo_tags);
      step = step->parent ? eng.images().find(step->parent->str()) : std::nullopt;
    }
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) out.push_back(*it);
    res.send_json(200, out);
  });
  router.add("POST", "/images/{name:.*}/tag", [&eng](Request& req, Response& res) {
    image::ImageRecord r = resolve_image(eng, req.param("name"));
    std::string repo = req.query().get("repo");
    std::string tag = req.query().get("tag");
    if (repo.empty()) throw ApiError(400, "repository name must have at least one component");
    std::string ref = tag.empty() ? repo : repo + ":" + tag;
    try {
      image::parse_reference(ref);
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    eng.images().tag(r.id, ref);
    eng.events().publish({"image", "tag", r.id.str(), {{"name", image::with_default_tag(image::parse_reference(ref)).familiar()}}, 0});
    res.send(201);
  });
  router.add("DELETE", "/images/{name:.*}", [&eng](Request& req, Response& res) {
    res.send_json(200, delete_image(eng, req.param("name"), req.query().get_bool("force"), !req.query().get_bool("noprune")));
  });
  router.add("POST", "/images/prune", [&eng](Request& req, Response& res) {
    Filters f = query_filters(req.query());
    bool dangling_only = true;
    if (auto it = f.find("dangling"); it != f.end() && !it->second.empty())
      dangling_only = it->second[0] == "true" || it->second[0] == "1";
    json deleted = json::array();
    auto images = eng.images().list();
    std::set<image::Digest> parents = with_children(images);
    // dockerd's candidates: with dangling, untagged heads (no children);
    // otherwise everything but untagged intermediates, which go with the
    // image built on them (prune_parents).
    std::vector<image::Digest> candidates;
    for (const auto& r : images) {
      bool intermediate = parents.count(r.id) > 0;
      if (dangling_only && (!r.repo_tags.empty() || intermediate)) continue;
      if (intermediate && !has_references(r)) continue;
      candidates.push_back(r.id);
    }
    // Children before parents, so a tagged parent of a pruned child goes too
    // (dockerd's order is map order; this is the order that frees most).
    // Each pass removes at least one image or ends.
    std::set<image::Digest> done;
    for (bool progress = true; progress;) {
      progress = false;
      for (const auto& id : candidates) {
        if (done.count(id)) continue;
        auto r = eng.images().find(id.str());
        if (!r) {  // pruned as a parent already
          done.insert(id);
          continue;
        }
        if (!eng.images().children(id).empty()) continue;
        done.insert(id);
        if (!containers_using(eng, id, false).empty()) continue;
        for (const auto& t : r->repo_tags) deleted.push_back({{"Untagged", t}});
        for (const auto& d : r->repo_digests) deleted.push_back({{"Untagged", d}});
        remove_and_report(eng, id, &deleted);
        prune_parents(eng, r->parent, &deleted);
        progress = true;
      }
    }
    res.send_json(200, {{"ImagesDeleted", deleted.empty() ? json(nullptr) : deleted}, {"SpaceReclaimed", 0}});
  });
  router.add("POST", "/images/create", [&eng, &dist](Request& req, Response& res) {
    const Query& q = req.query();
    if (q.has("fromImage")) return serve_pull(dist, req, res);
    if (!q.has("fromSrc")) throw ApiError(400, "fromImage or fromSrc is required");
    if (q.get("fromSrc") != "-") throw ApiError(400, "importing from a URL is not supported; send the tarball as the body (fromSrc=-)");
    image::ImportOptions o;
    std::string repo = q.get("repo"), tag = q.get("tag");
    if (!repo.empty()) o.reference = tag.empty() ? repo : repo + ":" + tag;
    o.message = q.get("message");
    o.changes = q.get_all("changes");
    UniqueFd body = body_to_temp_file(eng, req);
    auto imported = [&] {
      try {
        return image::import_rootfs(eng.content(), eng.snapshots(), eng.images(), body.get(), o);
      } catch (const Error& e) {
        throw ApiError(400, e.what());
      }
    };
    image::ImageRecord r = imported();
    eng.events().publish({"image", "import", r.id.str(), {{"name", r.id.str()}}, 0});
    res.start_stream(200, "application/json");
    res.write(json({{"status", r.id.str()}}).dump() + "\n");
  });
  router.add("POST", "/images/load", [&eng](Request& req, Response& res) {
    // ?quiet only silences progress bars, which load does not send.
    UniqueFd body = body_to_temp_file(eng, req);
    image::LoadResult lr;
    try {
      lr = image::load_archive(eng.content(), eng.snapshots(), eng.images(), body.get());
    } catch (const Error& e) {
      throw ApiError(400, e.what());
    }
    res.start_stream(200, "application/json");
    for (const auto& line : lr.messages()) {
      res.write(json({{"stream", line + "\n"}}).dump() + "\n");
    }
    for (const auto& img : lr.images) eng.events().publish({"image", "load", img.id.str(), {{"name", img.id.str()}}, 0});
  });
  auto save = [&eng](Response& res, std::vector<std::string> names) {
    if (names.empty()) throw ApiError(400, "no images specified");
    for (const auto& n : names) (void)resolve_image(eng, n);
    stream_tar(res, [&](int fd) { image::save_archive(eng.images(), eng.content(), names, fd); });
  };
  router.add("GET", "/images/get", [save](Request& req, Response& res) { save(res, req.query().get_all("names")); });
  router.add("GET", "/images/{name:.*}/get", [save](Request& req, Response& res) { save(res, {req.param("name")}); });
  router.add("GET", "/system/df", [&eng](Request&, Response& res) {
    json images = json::array();
    uint64_t layers = 0;
    for (const auto& r : eng.images().list()) {
      json s = image_summary(eng, r);
      s["Containers"] = containers_using(eng, r.id, false).size();
      layers += eng.images().size(r.id);
      images.push_back(std::move(s));
    }
    json containers = json::array();
    int64_t now = engine::now_nanos();
    for (const auto& c : eng.list()) {
      json s = container_summary_json(c, now);
      s["SizeRw"] = 0;
      s["SizeRootFs"] = eng.images().size(image::Digest::parse(c.image_id));
      containers.push_back(std::move(s));
    }
    res.send_json(200, {{"LayersSize", layers},
                        {"Images", images},
                        {"Containers", containers},
                        {"Volumes", volumes_disk_usage(eng)},
                        {"BuildCache", json::array()}});
  });
}

}  // namespace berth::api
