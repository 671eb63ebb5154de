// SnapshotStore: one extracted layer per directory, <root>/snapshots/<id>/fs,
// where <id> is the hex of the layer's ChainID, for use as overlay lowerdirs.
//
// ChainID (OCI image-spec config.md): ChainID(L0) = DiffID(L0);
// ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)).
//
// Contract: prepare() is idempotent and atomic: a layer is unpacked into a
// private temp directory (<root>/snapshots/.tmp-*), its diff_id verified
// against the expected one, and only then renamed to its id, so a snapshot
// directory that exists is complete. Concurrent prepares of the same chain
// are safe (the loser discards its copy). remove() renames away first, then
// deletes. Each snapshot also holds meta.json {chain_id, parent, diff_id}.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "image/digest.h"
#include "image/layer.h"

namespace berth::image {

Digest chain_id(const std::optional<Digest>& parent_chain_id, const Digest& diff_id);
// ChainIDs of each prefix of a layer list (bottom layer first).
std::vector<Digest> chain_ids(const std::vector<Digest>& diff_ids);

class SnapshotStore {
 public:
  // Creates <root>/snapshots when missing.
  explicit SnapshotStore(std::string root);

  std::string dir(const Digest& chain_id) const;      // <root>/snapshots/<hex>
  std::string fs_path(const Digest& chain_id) const;  // <root>/snapshots/<hex>/fs
  bool exists(const Digest& chain_id) const;

  // Ensures the snapshot for chain_id(parent, diff_id) exists, unpacking the
  // layer stream layer_fd (compressed or not) when it does not; layer_fd is
  // not read if it does. A stream whose diff_id differs throws
  // "layer <name>: diff_id mismatch: expected .., got .." and leaves nothing.
  // Returns the chain id.
  // sync=false skips the syncfs that otherwise makes the files durable
  // before the snapshot appears (see adopt for who may).
  Digest prepare(const std::optional<Digest>& parent_chain_id, const Digest& diff_id, int layer_fd,
                 UnpackOptions opts = {}, bool sync = true);
  // For a layer whose diff_id is not known in advance (docker import): always
  // unpacks layer_fd into a temp directory, computes the diff_id, and only
  // then names the snapshot by the resulting chain id (discarding its copy
  // when that snapshot already exists; *added says which happened).
  struct Prepared {
    Digest chain_id;
    LayerDigests digests;
  };
  Prepared prepare_unknown(const std::optional<Digest>& parent_chain_id, int layer_fd, UnpackOptions opts = {},
                           bool* added = nullptr);
  // Makes dir (on the store's file system; e.g. an unmounted overlay upper
  // dir whose layer tar has diff_id and tar_size bytes) the snapshot
  // chain_id(parent, diff_id) by renaming it: nothing is copied, checked or
  // synced, the caller vouches for the contents (the builder, which just
  // wrote that tar from this dir). When the snapshot exists already, dir
  // is left where it is. Returns the chain id.
  Digest adopt(const std::optional<Digest>& parent_chain_id, const Digest& diff_id, const std::string& dir,
               uint64_t tar_size);
  // The uncompressed tar size recorded when the snapshot was prepared, if any.
  std::optional<uint64_t> tar_size(const Digest& chain_id) const;
  // Returns false if it did not exist.
  bool remove(const Digest& chain_id);
  std::vector<Digest> list() const;

  // overlayfs "lowerdir=" value for a chain of snapshot ids given bottom
  // layer first: the fs paths top layer first, joined by ':'. Throws if a
  // snapshot is missing.
  std::string lowerdir_string(const std::vector<Digest>& chain) const;

 private:
  // Unpacks into a temp dir, checks *expected_diff_id (when given), writes
  // meta.json and renames the temp dir to the chain id.
  Prepared unpack_into_place(const std::optional<Digest>& parent, const Digest* expected_diff_id, int layer_fd,
                             UnpackOptions opts, bool* added, bool sync = true);

  std::string root_;
};

}  // namespace berth::image
