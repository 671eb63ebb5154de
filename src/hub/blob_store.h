// BlobStore: berth-hub's blobs (layers, configs, manifests) by digest, and the
// upload sessions that create them. FileBlobStore keeps them in a local or
// shared directory; S3BlobStore (hub/s3_blob_store.h) in an S3 bucket.
//
// Contract (every implementation):
// - A blob is visible only once complete and verified: commit_upload hashes
//   nothing itself but is called only after the digest the caller computed
//   while the bytes arrived matched the one the client claimed; a crash
//   leaves either the whole blob or none.
// - Upload data lives in the store itself, so several replicas sharing it
//   can continue each other's uploads: read_upload gives back the bytes so
//   far (to rebuild a hash another process started). append() adds at the
//   given offset, which the caller has checked is the upload's current size.
// - Deleting a blob never disturbs a reader that already opened it.
// - Upload ids are random UUIDs; ids from clients are checked before they
//   reach a path or key.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "image/digest.h"

namespace berth::hub {

using image::Digest;

// One stored blob, opened for reading.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual uint64_t size() const = 0;
  // When the blob was stored (seconds since the epoch), for garbage
  // collection's grace period.
  virtual int64_t modified_unix() const = 0;
  // A descriptor to send the bytes from when the blob is a local file, -1
  // otherwise (then read() is the only way to its bytes).
  virtual int fd() const { return -1; }
  // Calls sink with bytes [offset, offset + length) in order; stops early
  // when sink returns false (the client went away).
  virtual void read(uint64_t offset, uint64_t length, const std::function<bool(std::string_view)>& sink) const = 0;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Size of a stored blob, nullopt when absent.
  virtual std::optional<uint64_t> size(const Digest& d) const = 0;
  // Opens a stored blob for reading; nullptr when absent.
  virtual std::unique_ptr<BlobReader> open(const Digest& d) const = 0;
  // A URL a client may fetch the blob from itself (a presigned S3 URL, for
  // a 307 as distribution answers), or "" when the server must proxy it.
  virtual std::string redirect_url(const Digest&) const { return {}; }
  // Stores small content (a manifest) directly; verifies nothing beyond
  // writing exactly these bytes under their digest.
  virtual void put(const Digest& d, std::string_view content) = 0;
  // Garbage collection deletes in two steps, so that it can change its mind.
  // set_aside moves blob d where size(), open() and for_each() no longer find
  // it (false when it is not there); then discard_set_aside deletes it for
  // good, or restore_set_aside puts it back (over any copy a writer stored
  // meanwhile: same digest, same bytes). set_aside_blobs lists what a
  // crash between the steps left set aside.
  virtual bool set_aside(const Digest& d) = 0;
  virtual void restore_set_aside(const Digest& d) = 0;
  virtual void discard_set_aside(const Digest& d) = 0;
  virtual std::vector<Digest> set_aside_blobs() const = 0;
  // Calls fn for every stored blob (garbage collection).
  virtual void for_each(const std::function<void(const Digest&, uint64_t size)>& fn) const = 0;

  static std::string new_upload_id();
  static bool is_valid_upload_id(std::string_view id);
  virtual void begin_upload(const std::string& id) = 0;
  // Current length of the upload's data; nullopt when the upload is unknown.
  virtual std::optional<uint64_t> upload_size(const std::string& id) const = 0;
  // Appends what read() yields (0 = end) at offset, calling on_data for each
  // piece (for hashing). Returns the new size.
  virtual uint64_t append(const std::string& id, uint64_t offset, const std::function<size_t(char*, size_t)>& read,
                          const std::function<void(const char*, size_t)>& on_data) = 0;
  // Reads the upload's first `length` bytes into fn (rebuilding a hash state
  // another process started).
  virtual void read_upload(const std::string& id, uint64_t length,
                           const std::function<void(const char*, size_t)>& fn) const = 0;
  // Makes the finished upload blob d (verified by the caller).
  virtual void commit_upload(const std::string& id, const Digest& d) = 0;
  virtual void cancel_upload(const std::string& id) = 0;
};

// Blobs under <root>/blobs/sha256/<aa>/<hex>; uploads in <root>/uploads/<id>/data
// on the same filesystem, fsynced and renamed into place on commit; blobs set
// aside are renamed to <root>/set-aside/<hex> (readers that opened one read on).
class FileBlobStore : public BlobStore {
 public:
  explicit FileBlobStore(std::string root);

  std::optional<uint64_t> size(const Digest& d) const override;
  std::unique_ptr<BlobReader> open(const Digest& d) const override;
  void put(const Digest& d, std::string_view content) override;
  bool set_aside(const Digest& d) override;
  void restore_set_aside(const Digest& d) override;
  void discard_set_aside(const Digest& d) override;
  std::vector<Digest> set_aside_blobs() const override;
  void for_each(const std::function<void(const Digest&, uint64_t size)>& fn) const override;

  void begin_upload(const std::string& id) override;
  std::optional<uint64_t> upload_size(const std::string& id) const override;
  uint64_t append(const std::string& id, uint64_t offset, const std::function<size_t(char*, size_t)>& read,
                  const std::function<void(const char*, size_t)>& on_data) override;
  void read_upload(const std::string& id, uint64_t length,
                   const std::function<void(const char*, size_t)>& fn) const override;
  void commit_upload(const std::string& id, const Digest& d) override;
  void cancel_upload(const std::string& id) override;

  const std::string& root() const { return root_; }

 private:
  std::string blob_path(const Digest& d) const;
  std::string set_aside_path(const Digest& d) const;
  std::string upload_dir(const std::string& id) const;
  std::string root_;
};

// The store a --storage value names: "" for a FileBlobStore in root (the
// default), "file:///path" for one elsewhere, "s3://bucket/prefix?..." for
// an S3BlobStore (its syntax: hub/s3_blob_store.h; root then holds only
// scratch space for request bodies on their way to S3).
std::unique_ptr<BlobStore> open_blob_store(const std::string& storage, const std::string& root);

}  // namespace berth::hub
