#include "hub/manifest_check.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "hub/registry_error.h"
#include "image/digest.h"
#include "image/media_types.h"

namespace berth::hub {

using nlohmann::json;

[[noreturn]] static void invalid(const std::string& why) {
  throw RegistryError(400, "MANIFEST_INVALID", "manifest invalid", why);
}

// Checks a descriptor and returns its digest.
static std::string descriptor_digest(const json& d, const std::string& where) {
  if (!d.is_object()) invalid(where + ": not an object");
  image::Digest digest = image::Digest::from_hex(std::string(64, '0'));
  if (!d.contains("digest") || !d["digest"].is_string() ||
      !image::Digest::try_parse(d["digest"].get<std::string>(), &digest)) {
    invalid(where + ": missing or invalid digest");
  }
  if (!d.contains("size") || !d["size"].is_number_integer() || d["size"].get<int64_t>() < 0) {
    invalid(where + ": missing or invalid size");
  }
  if (!d.contains("mediaType") || !d["mediaType"].is_string()) invalid(where + ": missing mediaType");
  return digest.str();
}

ParsedManifest parse_manifest(std::string_view body, std::string_view content_type) {
  json m = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (m.is_discarded() || !m.is_object()) invalid("not a JSON object");
  if (!m.contains("schemaVersion") || m["schemaVersion"] != 2) invalid("schemaVersion must be 2");
  std::string body_type = m.contains("mediaType") && m["mediaType"].is_string() ? m["mediaType"].get<std::string>()
                                                                                 : std::string();
  std::string ctype(content_type.substr(0, content_type.find(';')));
  ParsedManifest out;
  if (!body_type.empty() && !ctype.empty() && body_type != ctype) {
    invalid(fmt::format("mediaType {} does not match Content-Type {}", body_type, ctype));
  }
  out.media_type = !body_type.empty() ? body_type : ctype;
  if (out.media_type.empty()) {
    // An OCI manifest may omit mediaType; the shape tells which one it is.
    out.media_type = m.contains("manifests") ? image::kOciIndex : image::kOciManifest;
  }
  bool is_index = out.media_type == image::kOciIndex || out.media_type == image::kDockerManifestList;
  bool is_image = out.media_type == image::kOciManifest || out.media_type == image::kDockerManifest;
  if (!is_index && !is_image) invalid("unsupported manifest media type " + out.media_type);

  if (is_image) {
    if (!m.contains("config")) invalid("missing config");
    out.references.push_back({descriptor_digest(m["config"], "config"), false});
    if (!m.contains("layers") || !m["layers"].is_array()) invalid("missing layers");
    for (size_t i = 0; i < m["layers"].size(); ++i) {
      const json& l = m["layers"][i];
      std::string d = descriptor_digest(l, fmt::format("layers[{}]", i));
      if (l.contains("urls") && image::is_foreign_layer_media_type(l["mediaType"].get<std::string>())) continue;
      out.references.push_back({d, false});
    }
    out.artifact_type = m.contains("artifactType") && m["artifactType"].is_string()
                            ? m["artifactType"].get<std::string>()
                            : m["config"]["mediaType"].get<std::string>();
  } else {
    if (!m.contains("manifests") || !m["manifests"].is_array()) invalid("missing manifests");
    for (size_t i = 0; i < m["manifests"].size(); ++i) {
      out.references.push_back({descriptor_digest(m["manifests"][i], fmt::format("manifests[{}]", i)), true});
    }
    if (m.contains("artifactType") && m["artifactType"].is_string()) {
      out.artifact_type = m["artifactType"].get<std::string>();
    }
  }
  if (m.contains("subject")) out.subject = descriptor_digest(m["subject"], "subject");
  if (m.contains("annotations")) {
    if (!m["annotations"].is_object()) invalid("annotations must be an object");
    out.annotations = m["annotations"].dump();
  }
  return out;
}

}  // namespace berth::hub
