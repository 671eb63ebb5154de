// Pulling an image from a registry into the content, snapshot and image
// stores.
//
// Contract:
// - The manifest is resolved (an index or manifest list picks the requested
//   platform, linux/<host arch> by default), the config fetched and
//   verified, then every layer not yet present is downloaded and unpacked
//   at the same time: up to max_concurrent_downloads layers in flight, each
//   streamed into a resumable blob ingest AND through a pipe into its own
//   snapshot (overlay lower dirs are independent, so no layer waits for its
//   parent). A pull therefore costs about max(network, unpack).
// - Every byte is verified: the manifest against its digest, the config
//   against the manifest, each blob against its descriptor before it
//   enters the content store, each unpacked layer against the config's
//   diff_id before its snapshot is named. A mismatch fails the pull with
//   "layer sha256:..: digest mismatch" and stores nothing for that layer.
// - Interrupted downloads keep their partial bytes; the next pull resumes
//   with a Range request (and replays the kept prefix into the unpacker).
//   Transport errors are retried (3 attempts per layer, resuming).
// - The image record and tags are written last: a failed pull leaves no
//   image and no tag, only complete verified blobs and snapshots.
// - Progress is reported as docker's JSON messages would describe it
//   (see PullProgress), serialized: the callback is never called
//   concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "image/content_store.h"
#include "image/image_store.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/snapshots.h"
#include "registry/blob_sources.h"
#include "registry/repository.h"

namespace berth::registry {

// One progress message: {"status":..,"id":..,"progressDetail":{..}}.
struct PullProgress {
  std::string id;      // short layer digest, a tag, or "" for whole-pull lines
  std::string status;  // "Pulling fs layer", "Downloading", "Pull complete", ...
  uint64_t current = 0, total = 0;  // for Downloading/Extracting
  bool has_detail = false;
};
using ProgressFn = std::function<void(const PullProgress&)>;

struct PullOptions {
  image::Platform platform = image::Platform::host();
  int max_concurrent_downloads = 3;
  int attempts = 3;
};

struct PullResult {
  image::ImageRecord image;
  image::Digest digest;   // what the reference resolved to (index or manifest)
  bool new_image = false; // false: "Image is up to date"
};

struct Stores {
  image::ContentStore& content;
  image::SnapshotStore& snapshots;
  image::ImageStore& images;
  BlobSources* sources = nullptr;  // learns where blobs came from (optional)
};

// ref must carry a tag or a digest (with_default_tag).
PullResult pull_image(Repository& repo, const image::Reference& ref, Stores stores, const PullOptions& opts,
                      const ProgressFn& progress);

}  // namespace berth::registry
