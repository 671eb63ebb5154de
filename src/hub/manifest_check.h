// Validating a pushed manifest before the registry stores it: the shape the
// OCI image-spec and Docker's schema2 require, and what it references.
//
// Contract: parse_manifest throws RegistryError(400, MANIFEST_INVALID) for
// anything but a schemaVersion 2 OCI image manifest / index or Docker
// manifest / manifest list whose descriptors carry valid digests and sizes,
// or when the body's mediaType contradicts the request's Content-Type.
// Foreign and non-distributable layers (which carry urls) are not listed as
// references: they are never pushed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hub/metadata.h"

namespace berth::hub {

struct ParsedManifest {
  std::string media_type;
  std::vector<ManifestReference> references;
  std::string subject;        // digest, or ""
  std::string artifact_type;  // artifactType, else the config's mediaType for image manifests
  std::string annotations;    // JSON object text, or ""
};

ParsedManifest parse_manifest(std::string_view body, std::string_view content_type);

}  // namespace berth::hub
