// Pushing an image from the local stores to a registry.
//
// Contract:
// - Foreign / non-distributable layers are not uploaded ("Skipped foreign
//   layer"): the manifest keeps pointing at their urls.
// - Each other layer blob goes up as stored (no recompression): first a HEAD
//   check ("Layer already exists"), then a cross-repository mount from a
//   repository on the same registry known to hold it ("Mounted from x"),
//   else an upload (monolithic, or chunked PATCHes when chunk_size > 0).
//   Up to max_concurrent_uploads layers go at once. Then the config blob,
//   then the manifest under the tag.
// - The manifest pushed is the one the image was pulled or loaded with when
//   the store has it (its digest is preserved), else a Docker schema2
//   manifest (an OCI one when a layer is zstd) built from the record.
// - Progress lines use docker's push vocabulary with the short diff_id as
//   id: Preparing, Waiting, Pushing (bytes), Pushed, Layer already exists,
//   Mounted from <path>.
// - On success the image gains the repo digest "<name>@<manifest digest>".
#pragma once

#include "image/reference.h"
#include "registry/pull.h"

namespace berth::registry {

struct PushOptions {
  int max_concurrent_uploads = 5;
  uint64_t chunk_size = 0;
};

struct PushResult {
  image::Digest digest;  // of the manifest pushed
  uint64_t size = 0;     // its bytes
};

// ref must carry a tag.
PushResult push_image(Repository& repo, const image::Reference& ref, const image::ImageRecord& image, Stores stores,
                      const PushOptions& opts, const ProgressFn& progress);

// The manifest push_image would send for image, and its media type.
std::pair<std::string, std::string> manifest_for_push(const image::ImageRecord& image, image::ContentStore& content);

}  // namespace berth::registry
