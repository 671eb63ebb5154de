#include "engine/commit.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/container_changes.h"
#include "engine/container_fs.h"
#include "engine/engine.h"
#include "image/changes.h"
#include "image/import.h"
#include "image/media_types.h"
#include "image/reference.h"
#include "image/undo.h"

namespace berth::engine {

namespace {

using nlohmann::ordered_json;

bool empty_value(const ordered_json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()) ||
         ((it->is_array() || it->is_object()) && it->empty());
}

std::string env_key(const ordered_json& e) {
  std::string s = e.is_string() ? e.get<std::string>() : "";
  return s.substr(0, s.find('='));
}

// Resumes a container paused for the commit, also when the commit fails.
class PauseGuard {
 public:
  PauseGuard(Engine& eng, const Container& c, bool want) : eng_(eng), id_(c.id) {
    if (want && c.state.status == Status::kRunning) {
      eng_.pause(id_);
      paused_ = true;
    }
  }
  ~PauseGuard() {
    if (!paused_) return;
    try {
      eng_.unpause(id_);
    } catch (const Error& e) {
      fprintf(stderr, "berthd: commit: unpause %s: %s\n", id_.c_str(), e.what());
    }
  }
  PauseGuard(const PauseGuard&) = delete;
  PauseGuard& operator=(const PauseGuard&) = delete;

 private:
  Engine& eng_;
  std::string id_;
  bool paused_ = false;
};

// An unlinked temp file in the data root (same file system as the stores).
UniqueFd temp_file(Engine& eng) {
  std::string dir = path_join(eng.options().data_root, "tmp");
  mkdir_all(dir, 0700);
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.valid()) fail_errno("create temp file in {}", dir);
  return fd;
}

void rewind(int fd) {
  if (::lseek(fd, 0, SEEK_SET) < 0) fail_errno("seek layer");
}

ordered_json to_ordered(const nlohmann::json& j) { return ordered_json::parse(j.dump()); }

}  // namespace

void merge_run_config(ordered_json* user, const ordered_json& base) {
  ordered_json& u = *user;
  auto take = [&](const char* key) {
    if (empty_value(u, key) && base.contains(key)) u[key] = base[key];
  };
  take("User");
  if (empty_value(u, "ExposedPorts")) {
    take("ExposedPorts");
  } else if (base.contains("ExposedPorts") && base["ExposedPorts"].is_object()) {
    for (const auto& [k, v] : base["ExposedPorts"].items())
      if (!u["ExposedPorts"].contains(k)) u["ExposedPorts"][k] = v;
  }
  if (empty_value(u, "Env")) {
    take("Env");
  } else if (base.contains("Env") && base["Env"].is_array()) {
    for (const auto& e : base["Env"]) {
      bool found = false;
      for (const auto& mine : u["Env"]) found = found || env_key(mine) == env_key(e);
      if (!found) u["Env"].push_back(e);
    }
  }
  if (!u.contains("Labels") || !u["Labels"].is_object()) u["Labels"] = ordered_json::object();
  if (base.contains("Labels") && base["Labels"].is_object())
    for (const auto& [k, v] : base["Labels"].items())
      if (!u["Labels"].contains(k)) u["Labels"][k] = v;
  if (empty_value(u, "Entrypoint")) {
    if (empty_value(u, "Cmd")) {
      take("Cmd");
      if (base.contains("ArgsEscaped")) u["ArgsEscaped"] = base["ArgsEscaped"];
    }
    if (!u.contains("Entrypoint") || u["Entrypoint"].is_null()) take("Entrypoint");
  }
  if (empty_value(u, "Healthcheck")) take("Healthcheck");
  take("WorkingDir");
  if (empty_value(u, "Volumes")) {
    take("Volumes");
  } else if (base.contains("Volumes") && base["Volumes"].is_object()) {
    for (const auto& [k, v] : base["Volumes"].items()) u["Volumes"][k] = v;
  }
  take("StopSignal");
}

image::ImageRecord store_image(Engine& eng, NewImage img) {
  ordered_json& config = img.config;
  image::Undo undo;
  std::vector<image::LayerDescriptor> layers = std::move(img.parent_layers);
  if (!img.diff_dir.empty()) {
    bool blob_new = false;
    image::Digest blob = eng.content().put_written(
        [&](int fd) { image::write_layer_tar(img.diff_dir, fd, img.tar); }, &blob_new, img.durable);
    if (blob_new) undo.add([&eng, blob] { eng.content().remove(blob); });
    // The config's diff_ids, not the layer descriptors: a pulled layer's blob is compressed.
    std::vector<image::Digest> diff_ids;
    if (config.contains("rootfs") && config["rootfs"].is_object() && config["rootfs"].contains("diff_ids"))
      for (const auto& d : config["rootfs"]["diff_ids"]) diff_ids.push_back(image::Digest::parse(d.get<std::string>()));
    std::optional<image::Digest> parent_chain;
    if (!diff_ids.empty()) parent_chain = image::chain_ids(diff_ids).back();
    bool snap_new = !eng.snapshots().exists(image::chain_id(parent_chain, blob));
    image::Digest new_chain = [&] {
      if (img.adopt_diff_dir && !img.tar.skip)
        return eng.snapshots().adopt(parent_chain, blob, img.diff_dir, eng.content().size(blob));
      UniqueFd tar = eng.content().open(blob);
      return eng.snapshots().prepare(parent_chain, blob, tar.get(), {}, img.durable);
    }();
    if (snap_new) undo.add([&eng, new_chain] { eng.snapshots().remove(new_chain); });
    if (!config.contains("rootfs") || !config["rootfs"].is_object()) config["rootfs"] = {{"type", "layers"}};
    if (!config["rootfs"].contains("diff_ids")) config["rootfs"]["diff_ids"] = ordered_json::array();
    config["rootfs"]["diff_ids"].push_back(blob.str());
    layers.push_back({blob, std::string(image::kDockerLayer), eng.content().size(blob)});
  }
  std::string bytes = config.dump();
  image::Digest id = image::sha256_of(bytes);
  if (!eng.content().exists(id)) {
    eng.content().put(bytes);
    undo.add([&eng, id] { eng.content().remove(id); });
  }
  image::ImageRecord rec = eng.images().add(id, layers, std::nullopt, img.parent);
  undo.commit();
  return rec;
}

image::ImageRecord commit_container(Engine& eng, const std::string& ref, const CommitOptions& opts) {
  std::optional<image::Reference> target;
  if (!opts.reference.empty()) {
    try {
      target = image::with_default_tag(image::parse_reference(opts.reference));
    } catch (const Error& e) {
      throw InvalidArgumentError(e.what());
    }
  }
  Container c = eng.get(ref);
  ordered_json container_config = to_ordered(c.config.is_object() ? c.config : nlohmann::json::object());
  ordered_json run_config = opts.config.is_object() ? to_ordered(opts.config) : container_config;
  try {
    image::apply_changes(&run_config, opts.changes);
  } catch (const Error& e) {
    throw InvalidArgumentError(e.what());
  }
  merge_run_config(&run_config, container_config);

  image::Digest parent_id = image::Digest::parse(c.image_id);
  image::ImageRecord parent = eng.images().get(parent_id);
  ordered_json config = ordered_json::parse(eng.content().read(parent_id));

  std::string created = now_rfc3339_nano();
  config["config"] = run_config;
  config["container"] = c.id;
  config["container_config"] = container_config;
  config["created"] = created;
  config["docker_version"] = "berth";
  if (!opts.author.empty()) config["author"] = opts.author;
  else config.erase("author");
  if (!opts.comment.empty()) config["comment"] = opts.comment;
  else config.erase("comment");
  std::vector<std::string> cmd;
  if (container_config.contains("Cmd") && container_config["Cmd"].is_array())
    for (const auto& a : container_config["Cmd"])
      if (a.is_string()) cmd.push_back(a.get<std::string>());
  ordered_json entry = {{"created", created}};
  if (!opts.author.empty()) entry["author"] = opts.author;
  entry["created_by"] = join(cmd, " ");
  if (!opts.comment.empty()) entry["comment"] = opts.comment;
  if (!config.contains("history") || !config["history"].is_array()) config["history"] = ordered_json::array();
  config["history"].push_back(entry);

  // The layer: the upper dir, read while the container is paused.
  PauseGuard pause(eng, c, opts.pause);
  LowerLayers lower = image_lower_layers(eng, c.image_id);
  NewImage img{.config = std::move(config), .parent_layers = parent.layers, .parent = parent_id,
               .diff_dir = eng.upper_dir(c.id)};
  img.tar.skip = [&lower](const std::string& rel, const struct stat& st, int dir_fd) {
    return is_runtime_placeholder("/" + rel, st, dir_fd, lower);
  };
  image::ImageRecord rec = store_image(eng, std::move(img));
  if (target) {
    eng.images().tag(rec.id, target->str());
    rec = eng.images().get(rec.id);
  }
  image::Digest id = rec.id;

  publish_container_event(eng, c, "commit",
                          {{"comment", opts.comment},
                           {"imageID", id.str()},
                           {"imageRef", target ? target->familiar() : ""}});
  if (target) eng.events().publish({"image", "tag", id.str(), {{"name", target->familiar()}}, 0});
  return rec;
}

}  // namespace berth::engine
