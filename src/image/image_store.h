// ImageStore: image records (config + layers) and the tags that name them,
// under <root>/images/, on top of the ContentStore and SnapshotStore.
//
// An image is identified by the digest of its config blob (docker's image
// ID). Its record, <root>/images/<hex>.json, holds the layer descriptors
// (blob digest, media type, size: what save/push send), the diff_ids, the
// manifest digest when it came from a registry, and the creation time of
// the record, and the parent image's ID when it has one. <root>/images/
// repositories.json maps normalized references ("docker.io/library/
// busybox:latest", "name@sha256:..") to image IDs.
//
// Parents: the classic builder records each step's image as the child of the
// previous step's, as dockerd does; the API uses the links to hide
// intermediate images and to prune them with the image built on them.
//
// Contract:
// - add() requires the config and every layer blob in the content store and
//   every layer's snapshot prepared; it writes the record atomically, so a
//   crash leaves either no image or a complete one. Adding an existing image
//   is a no-op that keeps its tags (and its parent). A parent must be a
//   known image other than the one added.
// - Every file is replaced atomically (write temp, fsync, rename); a store
//   that was being written when the process died still loads.
// - Thread-safe: one mutex guards the records and the tag map.
// - resolve() accepts what docker accepts for an image argument: a reference
//   ("busybox", "busybox:1", "host:5000/ns/name:tag", "name@sha256:.."), a
//   full ID ("sha256:<hex>" or "<hex>") or an unambiguous ID prefix (at
//   least one hex digit, ambiguous prefixes are an error). A reference with
//   both tag and digest is looked up by its digest (as dockerd does).
// - Tags are stored normalized (Reference::str()); ImageRecord's repo_tags
//   and repo_digests are the familiar forms docker shows ("busybox:latest",
//   "user/app@sha256:.."), sorted.
// - remove() orphans the image's children (their parent link is cleared, as
//   dockerd's store does; callers that must not orphan check children()
//   first). A record naming a parent that is gone (a crash in between)
//   loads without one.
// - remove() deletes blobs and snapshots no remaining image uses. It cannot
//   see ingests in flight (a pull or load that has stored blobs but not yet
//   called add()); callers serialise removal against those.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/content_store.h"
#include "image/digest.h"
#include "image/snapshots.h"

namespace berth::image {

struct LayerDescriptor {
  Digest digest;          // blob in the content store
  std::string media_type; // e.g. application/vnd.docker.image.rootfs.diff.tar(.gzip)
  uint64_t size = 0;
};

struct ImageRecord {
  Digest id;                             // sha256 of the config blob
  std::vector<LayerDescriptor> layers;   // bottom first
  std::vector<Digest> diff_ids;          // bottom first (equals config rootfs.diff_ids)
  std::optional<Digest> manifest_digest; // when pulled or loaded with one
  std::optional<Digest> parent;          // the image this one was built on (classic builder)
  std::string added;                     // RFC 3339 time the record was written
  std::vector<std::string> repo_tags;    // familiar "busybox:latest", sorted
  std::vector<std::string> repo_digests; // familiar "busybox@sha256:..", sorted

  std::vector<Digest> chain_ids() const { return image::chain_ids(diff_ids); }
};

class ImageStore {
 public:
  ImageStore(std::string root, ContentStore& content, SnapshotStore& snapshots);

  // Registers an image whose config blob is config_digest (see contract).
  ImageRecord add(const Digest& config_digest, const std::vector<LayerDescriptor>& layers,
                  std::optional<Digest> manifest_digest = std::nullopt,
                  std::optional<Digest> parent = std::nullopt);

  // Throws Error "No such image: <ref>" (the text dockerd uses) when nothing
  // matches, "ambiguous image ID prefix <p>" when several do, and the
  // reference parser's error for an invalid reference.
  ImageRecord resolve(const std::string& ref_or_id) const;
  // Like resolve(), but nullopt where resolve() says "No such image".
  std::optional<ImageRecord> find(const std::string& ref_or_id) const;
  ImageRecord get(const Digest& id) const;  // throws when unknown
  std::vector<ImageRecord> list() const;
  // The images whose parent is id, sorted (empty for an unknown id).
  std::vector<Digest> children(const Digest& id) const;
  // The config blob parsed (docker's image config JSON: architecture, os,
  // config{Env,Cmd,Entrypoint,...}, rootfs, history, created, ...).
  nlohmann::json config(const Digest& id) const;
  // Bytes of all layers' snapshots on disk (what `docker images` calls SIZE:
  // the sum of uncompressed layer sizes), computed once per image and cached.
  uint64_t size(const Digest& id) const;
  // One layer's part of that: the bytes of its snapshot (docker history's SIZE).
  uint64_t layer_size(const Digest& chain_id) const;

  // Points reference (normalized first; "name" means "name:latest") at id,
  // moving it away from any image that had it. A digest reference
  // ("name@sha256:..") becomes a repo digest; tag plus digest is refused.
  void tag(const Digest& id, const std::string& reference);
  // Removes one reference; returns false when it did not exist.
  bool untag(const std::string& reference);
  // Deletes the record and its tags, then the blobs and snapshots that no
  // other image uses. Callers check that no container uses it first.
  void remove(const Digest& id);

 private:
  // What <hex>.json holds: an ImageRecord without the tags (those live in
  // repositories.json and are filled in by with_tags()).
  ImageRecord with_tags(const ImageRecord& r) const;  // mu_ held
  std::optional<Digest> lookup(const std::string& ref_or_id) const;  // mu_ held
  void load();
  void save_refs() const;  // mu_ held
  std::string record_path(const Digest& id) const;

  std::string dir_;
  ContentStore& content_;
  SnapshotStore& snapshots_;
  mutable std::mutex mu_;
  std::map<Digest, ImageRecord> records_;   // repo_tags/repo_digests left empty
  std::map<std::string, Digest> refs_;      // normalized reference -> image id
  mutable std::map<Digest, uint64_t> sizes_;
};

}  // namespace berth::image
