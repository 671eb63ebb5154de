// BuildCache: the builder's step cache, <data-root>/builder/cache/<key>,
// each file holding the ID of the image a build step produced.
//
// A key is the sha256 of the step's parent image ID and everything the step
// reads (see builder.cc), so an entry stays valid as long as its image
// exists: lookup() drops entries whose image is gone (removed with rmi or
// image prune) and reports a miss. Entries are written atomically and
// survive a daemon restart. prune() forgets every entry and returns the
// image IDs they named, for the caller to delete where nothing else uses them.
// Thread-safe (one file per key, replaced atomically).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "image/digest.h"
#include "image/image_store.h"

namespace berth::engine {

class BuildCache {
 public:
  BuildCache(const std::string& data_root, const image::ImageStore& images);

  std::optional<image::Digest> lookup(const image::Digest& key) const;
  void store(const image::Digest& key, const image::Digest& image_id) const;
  std::vector<image::Digest> prune() const;
  size_t size() const;

 private:
  std::string path(const image::Digest& key) const;

  std::string dir_;
  const image::ImageStore& images_;
};

}  // namespace berth::engine
