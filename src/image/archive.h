// Image archives: `docker save` and `docker load`.
//
// save_archive writes the layout of docker 25+ (readable by docker load
// 20.10 through 28, podman, skopeo's docker-archive: and oci-archive:):
//   blobs/sha256/<hex>   layer tars (uncompressed: a stored gzip/zstd blob is
//                        decompressed, and its sha256 checked against the
//                        diff_id while it streams), configs, OCI manifests
//   manifest.json        [{"Config","RepoTags","Layers"}] (docker's index)
//   index.json           OCI index; tagged manifests carry the annotations
//                        io.containerd.image.name and org.opencontainers.image.ref.name
//   oci-layout, repositories (legacy {name: {tag: <top layer hex>}})
// Names select images as docker save does: "name" (no tag) saves every tag
// of that repository, "name:tag" that tag, an ID or digest reference the
// image untagged. The archive streams to out_fd; nothing is staged on disk.
// A failure midway (e.g. a corrupt blob) leaves a truncated archive: the
// caller must discard the output.
//
// load_archive reads docker-archive tars (the layout above, and the older
// <id>/layer.tar + <hex>.json one) and OCI image-layout tars (oci-layout +
// index.json; nested indexes pick linux/<host arch>; names from the
// io.containerd.image.name or a full-reference org.opencontainers.image.ref.name
// annotation), plain or gzip/zstd/xz/bzip2 compressed.
// Contract:
// - The input is extracted to a private directory under <root>/tmp (removed
//   afterwards). Entries that are absolute, contain "..", are symlinks whose
//   target leaves the archive, or are devices/fifos are refused with
//   "load: entry <name>: <why>"; every later read is confined to that
//   directory too (openat2 RESOLVE_IN_ROOT).
// - Every digest is verified: configs and manifests against their names or
//   descriptors, layer blobs against their descriptors/names, layer
//   diff_ids against the config's rootfs.diff_ids, descriptor sizes.
// - All-or-nothing: metadata of every image is checked before anything is
//   stored; a failure while storing layers removes the blobs, snapshots and
//   records this call created. Tags are applied last.
#pragma once

#include <string>
#include <vector>

#include "image/content_store.h"
#include "image/image_store.h"
#include "image/snapshots.h"

namespace berth::image {

void save_archive(ImageStore& images, ContentStore& content, const std::vector<std::string>& refs_or_ids,
                  int out_fd);

struct LoadedImage {
  Digest id;
  std::vector<std::string> tags;  // familiar, as docker prints them ("busybox:latest")
};

struct LoadResult {
  std::vector<LoadedImage> images;  // in archive order
  // docker's output lines: "Loaded image: <tag>" per tag, or
  // "Loaded image ID: sha256:..." for an untagged image.
  std::vector<std::string> messages() const;
};

LoadResult load_archive(ContentStore& content, SnapshotStore& snapshots, ImageStore& images, int in_fd);

}  // namespace berth::image
