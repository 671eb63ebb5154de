// Image manifests, indexes and descriptors (OCI image-spec; Docker schema2
// and manifest lists), parsed and checked, and platform selection.
//
// Contract: every parse_* validates the shape it needs and throws Error
// "invalid <what>: <why>" otherwise (never a raw JSON exception), so a
// malformed manifest from a registry or an archive reads as such.
// Platform matching follows containerd's default matcher: os and
// architecture equal after normalization (x86_64 = amd64, aarch64 = arm64),
// variant equal when both name one (arm64's empty variant means v8).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/digest.h"

namespace berth::image {

struct Descriptor {
  std::string media_type;
  Digest digest;
  std::optional<uint64_t> size;
  nlohmann::json annotations = nlohmann::json::object();
  nlohmann::json platform = nlohmann::json::object();
  std::vector<std::string> urls;  // foreign / non-distributable layers
};

Descriptor parse_descriptor(const nlohmann::json& j, const std::string& what);

struct Platform {
  std::string os = "linux";
  std::string architecture;
  std::string variant;

  // linux/<this machine's architecture>.
  static Platform host();
  // "linux/amd64", "linux/arm64/v8", "amd64" (os linux); throws
  // "invalid platform \"..\"" otherwise.
  static Platform parse(std::string_view s);
  std::string str() const;
  // Whether an index entry's "platform" object matches this one.
  bool matches(const nlohmann::json& platform) const;
};

struct ImageManifest {
  std::string media_type;  // the manifest's own type
  Descriptor config;
  std::vector<Descriptor> layers;
};

bool is_index_media_type(std::string_view media_type);
bool is_image_manifest_media_type(std::string_view media_type);

// The mediaType a manifest declares in its body, else fallback (e.g. the
// Content-Type a registry sent).
std::string manifest_media_type(const nlohmann::json& manifest, std::string_view fallback);

nlohmann::json parse_json_document(std::string_view bytes, const std::string& what);

// A Docker schema2 or OCI image manifest; layers must have layer media types.
ImageManifest parse_image_manifest(const nlohmann::json& manifest, std::string_view media_type, const std::string& what);

// The entries of an index / manifest list, and the first one for platform
// (nullopt when none matches).
std::vector<Descriptor> index_entries(const nlohmann::json& index, const std::string& what);
std::optional<Descriptor> pick_platform(const nlohmann::json& index, const Platform& platform, const std::string& what);

// rootfs.diff_ids of an image config.
std::vector<Digest> config_diff_ids(const nlohmann::json& config, const std::string& what);

}  // namespace berth::image
