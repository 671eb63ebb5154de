// Which repositories are known to hold a blob, so a push can ask the
// registry to mount it from there instead of uploading it (docker's
// "Mounted from library/busybox").
//
// Contract: <root>/distribution/blob-sources.json maps a blob digest to
// "host/path" repositories, most recent last, at most 8 per blob; pulls and
// pushes add to it. Losing the file only costs uploads, so it is replaced
// without fsync. Thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "image/digest.h"

namespace berth::registry {

class BlobSources {
 public:
  explicit BlobSources(std::string root);

  void add(const image::Digest& blob, const std::string& host, const std::string& path);
  // Paths on host (other than except_path) known to hold blob, newest first.
  std::vector<std::string> on_host(const image::Digest& blob, const std::string& host,
                                   const std::string& except_path) const;

 private:
  std::string file_;
  mutable std::mutex mu_;
};

}  // namespace berth::registry
