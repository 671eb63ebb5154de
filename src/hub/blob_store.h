// BlobStore: berth-hub's blobs (layers, configs, manifests) by digest, and the
// upload sessions that create them, on a local or shared filesystem.
//
// Contract:
// - A blob is visible only once complete and verified: commit_upload hashes
//   nothing itself but refuses unless the digest the caller computed while
//   the bytes arrived matches the one the client claimed; the data is fsynced
//   and renamed into blobs/sha256/<aa>/<hex>, so a crash leaves either the
//   whole blob or none.
// - Upload data lives in uploads/<id>/data on the same filesystem (so several
//   replicas sharing the directory can continue each other's uploads);
//   append() writes at the given offset only (the caller checks ranges).
// - Deleting a blob never disturbs a reader that already opened it.
// - Upload ids are random UUIDs; ids from clients are checked before they
//   reach a path.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/fd.h"
#include "image/digest.h"

namespace berth::hub {

using image::Digest;

class BlobStore {
 public:
  explicit BlobStore(std::string root);

  // Size of a stored blob, nullopt when absent.
  std::optional<uint64_t> size(const Digest& d) const;
  // Opens a stored blob for reading; an invalid fd when absent.
  UniqueFd open(const Digest& d) const;
  // Stores small content (a manifest) directly; verifies nothing beyond
  // writing exactly these bytes under their digest.
  void put(const Digest& d, std::string_view content);
  // Removes a blob; false when it was not there.
  bool remove(const Digest& d);
  // Calls fn for every stored blob (garbage collection).
  void for_each(const std::function<void(const Digest&, uint64_t size)>& fn) const;

  static std::string new_upload_id();
  static bool is_valid_upload_id(std::string_view id);
  void begin_upload(const std::string& id);
  // Current length of the upload's data; nullopt when the upload is unknown.
  std::optional<uint64_t> upload_size(const std::string& id) const;
  // Appends what read() yields (0 = end) at offset, calling on_data for each
  // piece (for hashing). Returns the new size.
  uint64_t append(const std::string& id, uint64_t offset, const std::function<size_t(char*, size_t)>& read,
                  const std::function<void(const char*, size_t)>& on_data);
  // Reads the upload's first `length` bytes into fn (rebuilding a hash state
  // another process started).
  void read_upload(const std::string& id, uint64_t length,
                   const std::function<void(const char*, size_t)>& fn) const;
  // Moves the finished upload into place as blob d (verified by the caller).
  void commit_upload(const std::string& id, const Digest& d);
  void cancel_upload(const std::string& id);

  const std::string& root() const { return root_; }

 private:
  std::string blob_path(const Digest& d) const;
  std::string upload_dir(const std::string& id) const;
  std::string root_;
};

}  // namespace berth::hub
