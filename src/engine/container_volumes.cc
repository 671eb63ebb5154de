// Engine: a container's volumes. They are created (or referenced) with the
// container, mounted while it runs, filled from the image at its first
// start, and released with it; `rm -v` and --rm remove its anonymous ones.
// Mount points are spec_mounts.h's, volumes volume_store.h's.
#include <algorithm>
#include <cstdio>

#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/volume_copy.h"

namespace berth::engine {
namespace {

std::optional<StringMap> string_map(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  StringMap m;
  for (const auto& [k, v] : j.items())
    if (v.is_string()) m[k] = v.get<std::string>();
  return m;
}

}  // namespace

std::vector<MountPoint> Engine::plan_volumes(const Container& c) {
  try {
    std::vector<MountPoint> inherited;
    if (auto vf = c.host_config.find("VolumesFrom"); vf != c.host_config.end() && vf->is_array()) {
      for (const auto& spec : *vf) {
        auto [ref, rw] = parse_volumes_from(spec.is_string() ? spec.get<std::string>() : "");
        for (const auto& m : get(ref).mount_points) inherited.push_back(inherit_mount_point(m, rw));
      }
    }
    return plan_mount_points(c.config, c.host_config, inherited);
  } catch (const InvalidArgumentError&) {
    throw;
  } catch (const Error& e) {
    // A bad spec, and a VolumesFrom container that does not exist, are the
    // request's fault (dockerd: 400; a 404 would make the CLI pull the image).
    throw InvalidArgumentError(e.what());
  }
}

void Engine::create_volumes(Container& c, std::vector<MountPoint> planned) {
  std::string default_driver = c.host_config.value("VolumeDriver", "");
  std::vector<std::string> referenced, created;
  try {
    for (auto& mp : planned) {
      if (mp.type != "volume") continue;
      if (!mp.source.empty()) {  // another container's volume (VolumesFrom)
        volumes_.add_ref(mp.name, c.id);
        referenced.push_back(mp.name);
        continue;
      }
      VolumeStore::CreateOptions o;
      o.driver = mp.driver.empty() ? default_driver : mp.driver;
      o.ref = c.id;
      if (auto vo = mp.spec.find("VolumeOptions"); vo != mp.spec.end() && vo->is_object()) {
        o.labels = string_map(vo->value("Labels", nlohmann::json()));
        o.options = string_map(vo->value("DriverConfig", nlohmann::json::object()).value("Options", nlohmann::json()));
      }
      Volume v = volumes_.create(mp.name, o);
      referenced.push_back(v.name);
      if (mp.name.empty()) created.push_back(v.name);
      mp.name = v.name;
      mp.source = v.mountpoint;
      mp.driver = v.driver;
    }
  } catch (const Error& e) {
    for (const auto& name : referenced) volumes_.release(name, c.id);
    for (const auto& name : created) {
      try {
        volumes_.remove(name, true);
      } catch (const Error&) {
      }
    }
    if (dynamic_cast<const NotFoundError*>(&e)) throw InvalidArgumentError(e.what());  // not 404: see plan_volumes
    throw;
  }
  c.mount_points = std::move(planned);
}

nlohmann::json Engine::mount_volumes(Entry& e, const std::string& rootfs) {
  Container c;
  {
    std::lock_guard lock(mu_);
    c = e.c;
  }
  std::vector<std::string> filled;
  for (auto& mp : c.mount_points) {
    if (mp.type != "volume") continue;
    mp.source = volumes_.mount(mp.name, c.id);
    events_.publish({"volume",
                     "mount",
                     mp.name,
                     {{"driver", mp.driver},
                      {"container", c.id},
                      {"destination", mp.destination},
                      {"read/write", mp.rw ? "true" : "false"},
                      {"propagation", mp.propagation}},
                     0});
    if (mp.copy_data) {
      copy_image_content(rootfs, mp.destination, mp.source);
      filled.push_back(mp.destination);
    }
  }
  if (!filled.empty()) {
    // Once per container, as docker fills volumes when it creates one.
    std::lock_guard lock(mu_);
    for (auto& mp : e.c.mount_points)
      if (std::find(filled.begin(), filled.end(), mp.destination) != filled.end()) mp.copy_data = false;
  }
  return host_config_for_spec(c.host_config, c.mount_points);
}

void Engine::unmount_volumes(Entry& e) noexcept {
  Container c;
  {
    std::lock_guard lock(mu_);
    c = e.c;
  }
  for (const auto& mp : c.mount_points) {
    if (mp.type != "volume") continue;
    try {
      if (volumes_.unmount(mp.name, c.id))
        events_.publish({"volume", "unmount", mp.name, {{"driver", mp.driver}, {"container", c.id}}, 0});
    } catch (const std::exception& ex) {
      fprintf(stderr, "berthd: container %s: unmount volume %s: %s\n", c.id.c_str(), mp.name.c_str(), ex.what());
    }
  }
}

void Engine::release_volumes(const Container& c, bool remove_anonymous) noexcept {
  for (const auto& mp : c.mount_points) {
    if (mp.type != "volume") continue;
    try {
      volumes_.release(mp.name, c.id);
      // Named volumes stay; an anonymous one another container still uses stays too.
      if (remove_anonymous && mp.anonymous_volume()) volumes_.remove(mp.name, true);
    } catch (const ConflictError&) {
    } catch (const std::exception& ex) {
      fprintf(stderr, "berthd: container %s: remove volume %s: %s\n", c.id.c_str(), mp.name.c_str(), ex.what());
    }
  }
}

void Engine::restore_volumes() {
  for (const auto& c : list()) {
    for (const auto& mp : c.mount_points) {
      if (mp.type != "volume") continue;
      try {
        volumes_.add_ref(mp.name, c.id);
        if (c.running()) volumes_.restore_mount(mp.name, c.id);
      } catch (const std::exception& ex) {
        fprintf(stderr, "berthd: container %s: %s\n", c.id.c_str(), ex.what());
      }
    }
  }
  volumes_.unmount_unused();
}

}  // namespace berth::engine
