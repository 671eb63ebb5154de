#include "image/manifest.h"

#include "base/error.h"
#include "base/strings.h"
#include "image/import.h"
#include "image/media_types.h"

namespace berth::image {

using nlohmann::json;

namespace {

std::string normalize_arch(std::string a) {
  if (a == "x86_64" || a == "x86-64") return "amd64";
  if (a == "aarch64") return "arm64";
  return a;
}

std::string normalize_variant(const std::string& arch, std::string v) {
  if (arch == "arm64" && v.empty()) return "v8";
  return v;
}

}  // namespace

Descriptor parse_descriptor(const json& j, const std::string& what) {
  try {
    if (!j.is_object()) fail("not an object");
    Descriptor d{j.value("mediaType", ""), Digest::parse(j.at("digest").get<std::string>()), std::nullopt,
                 j.value("annotations", json::object()), j.value("platform", json::object()), {}};
    if (j.contains("size")) d.size = j["size"].get<uint64_t>();
    if (j.contains("urls") && j["urls"].is_array())
      for (const auto& u : j["urls"]) d.urls.push_back(u.get<std::string>());
    return d;
  } catch (const json::exception& e) {
    fail("invalid descriptor in {}: {}", what, e.what());
  } catch (const Error& e) {
    fail("invalid descriptor in {}: {}", what, e.what());
  }
}

Platform Platform::host() { return Platform{"linux", normalize_arch(host_architecture()), ""}; }

Platform Platform::parse(std::string_view s) {
  std::vector<std::string> parts = split(s, '/');
  for (const auto& p : parts)
    if (p.empty()) fail("invalid platform \"{}\"", s);
  Platform p;
  if (parts.size() == 1) {
    p.architecture = parts[0];
  } else if (parts.size() == 2 || parts.size() == 3) {
    p.os = parts[0];
    p.architecture = parts[1];
    if (parts.size() == 3) p.variant = parts[2];
  } else {
    fail("invalid platform \"{}\"", s);
  }
  p.architecture = normalize_arch(p.architecture);
  return p;
}

std::string Platform::str() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }

bool Platform::matches(const json& platform) const {
  if (!platform.is_object()) return false;
  std::string arch = normalize_arch(platform.value("architecture", ""));
  if (platform.value("os", "") != os || arch != architecture) return false;
  if (variant.empty()) return true;
  return normalize_variant(arch, platform.value("variant", "")) == normalize_variant(architecture, variant);
}

bool is_index_media_type(std::string_view t) { return t == kOciIndex || t == kDockerManifestList; }
bool is_image_manifest_media_type(std::string_view t) { return t == kOciManifest || t == kDockerManifest; }

std::string manifest_media_type(const json& manifest, std::string_view fallback) {
  if (manifest.is_object() && manifest.contains("mediaType") && manifest["mediaType"].is_string())
    return manifest["mediaType"];
  // An OCI manifest may omit mediaType: tell an index by its "manifests".
  if (fallback.empty() || fallback == "application/json" || fallback == "text/plain") {
    if (manifest.is_object() && manifest.contains("manifests")) return std::string(kOciIndex);
    if (manifest.is_object() && manifest.contains("layers")) return std::string(kOciManifest);
  }
  return std::string(fallback.substr(0, fallback.find(';')));
}

json parse_json_document(std::string_view bytes, const std::string& what) {
  try {
    return json::parse(bytes);
  } catch (const json::exception& e) {
    fail("invalid {}: {}", what, e.what());
  }
}

ImageManifest parse_image_manifest(const json& m, std::string_view media_type, const std::string& what) {
  if (!is_image_manifest_media_type(media_type)) fail("{}: unsupported media type \"{}\"", what, media_type);
  if (!m.is_object() || !m.contains("config") || !m.contains("layers") || !m["layers"].is_array())
    fail("invalid {}: needs config and layers", what);
  ImageManifest out{std::string(media_type), parse_descriptor(m["config"], what), {}};
  for (const auto& l : m["layers"]) {
    Descriptor d = parse_descriptor(l, what);
    if (!is_layer_media_type(d.media_type)) fail("layer {}: unsupported media type \"{}\"", d.digest.str(), d.media_type);
    out.layers.push_back(std::move(d));
  }
  return out;
}

std::vector<Descriptor> index_entries(const json& index, const std::string& what) {
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
    fail("invalid {}: no manifests array", what);
  std::vector<Descriptor> out;
  for (const auto& j : index["manifests"]) out.push_back(parse_descriptor(j, what));
  return out;
}

std::optional<Descriptor> pick_platform(const json& index, const Platform& platform, const std::string& what) {
  for (auto& d : index_entries(index, what))
    if (platform.matches(d.platform)) return d;
  return std::nullopt;
}

std::vector<Digest> config_diff_ids(const json& config, const std::string& what) {
  std::vector<Digest> out;
  try {
    for (const auto& d : config.at("rootfs").at("diff_ids")) out.push_back(Digest::parse(d.get<std::string>()));
  } catch (const json::exception& e) {
    fail("invalid {}: rootfs.diff_ids: {}", what, e.what());
  } catch (const Error& e) {
    fail("invalid {}: rootfs.diff_ids: {}", what, e.what());
  }
  return out;
}

}  // namespace berth::image
