// import_rootfs: what `docker import` does. A tar of a root filesystem
// (plain, gzip or zstd) becomes a one-layer image.
//
// Contract:
// - The input is stored as a blob exactly as received (media type from its
//   compression: docker schema2 tar / tar.gzip, OCI tar+zstd), unpacked
//   into a snapshot (diff_id computed while unpacking), and described by a
//   new config like dockerd's: {comment, created, config, architecture (the
//   host's, GOARCH spelling), os "linux", rootfs {type layers, diff_ids},
//   history [{created, comment}]}. config holds only what the changes set
//   (see changes.h). comment is the message, or "Imported from <source>".
// - Changes and the reference are checked before any input is read.
// - On any failure (bad tar, unsafe entry, bad change, disk error) the
//   blobs, snapshot and record this call created are removed again: the
//   stores are as before.
#pragma once

#include <string>
#include <vector>

#include "image/content_store.h"
#include "image/image_store.h"
#include "image/snapshots.h"

namespace berth::image {

struct ImportOptions {
  std::string reference;             // optional "repo[:tag]" to tag the image with
  std::string message;               // commit message; default "Imported from <source>"
  std::vector<std::string> changes;  // `--change` Dockerfile instructions
  std::string source = "-";          // what the input was ("-" for stdin, or a URL)
};

ImageRecord import_rootfs(ContentStore& content, SnapshotStore& snapshots, ImageStore& images, int tar_fd,
                          const ImportOptions& opts);

// The host architecture in Go's GOARCH spelling ("amd64", "arm64", ...).
std::string host_architecture();

}  // namespace berth::image
