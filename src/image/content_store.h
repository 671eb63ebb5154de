// ContentStore: content-addressed blobs under <root>/content/blobs/sha256/<hex>.
//
// Contract: a blob appears under its name only after its bytes were written
// to a private temp file in <root>/content/ingest/, fsynced and verified
// against the expected digest; then it is renamed into place (atomic, so
// concurrent writers of the same blob are safe: both rename identical
// bytes). A digest mismatch throws "blob sha256:..: digest mismatch (got
// sha256:..)" and removes the temp file, leaving nothing behind. Readers
// therefore never see partial blobs. A crash may leave files in ingest/;
// they are never read and may be removed while no ingest runs.
//
// Downloads use open_writer(): a resumable ingest kept in
// ingest/<hex>.partial between attempts (see BlobWriter).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "image/digest.h"

namespace berth::image {

class ContentStore;

// One resumable ingest of a blob whose digest is known (a registry
// download). Bytes are appended to ingest/<hex>.partial, which is locked
// (flock) while the writer lives, so two pulls of the same blob take turns
// rather than interleave. A partial file left by an interrupted attempt is
// kept: offset() says how many bytes it holds (the download resumes from
// there). commit() verifies the digest and renames into place; a mismatch
// throws and removes the partial file, so the next attempt starts afresh.
// Destroying an uncommitted writer keeps the partial bytes for a resume.
class BlobWriter {
 public:
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  const Digest& digest() const { return expected_; }
  uint64_t offset() const { return hash_.size(); }
  void write(std::string_view data);
  // A read-only descriptor positioned at 0 over the bytes written so far
  // (to replay a resumed prefix into a consumer that needs the whole stream).
  UniqueFd reopen_partial() const;
  // Verifies, fsyncs and renames into the store (no-op rename when another
  // writer stored it meanwhile).
  void commit();
  // Drops the partial bytes (e.g. the server sent something else).
  void discard();

 private:
  friend class ContentStore;
  BlobWriter(const ContentStore& store, Digest expected);

  const ContentStore& store_;
  Digest expected_;
  std::string path_;
  UniqueFd fd_;
  Sha256 hash_;
  bool done_ = false;
};

class ContentStore {
 public:
  // Creates <root>/content/{blobs/sha256,ingest} when missing.
  explicit ContentStore(std::string root);

  // Reads fd to EOF into the store, verifying it hashes to expected.
  void ingest_fd(int fd, const Digest& expected);
  void ingest_file(const std::string& path, const Digest& expected);
  void ingest_bytes(std::string_view data, const Digest& expected);
  // Stores data under its own digest (manifests, configs) and returns it.
  Digest put(std::string_view data);
  // Reads fd to EOF and stores the bytes under their own digest (docker
  // import: the digest is known only at the end). *added, when given, says
  // whether the blob is new (false: it was already there, untouched).
  Digest put_fd(int fd, bool* added = nullptr);
  // Lets produce write a blob straight into an ingest file (no copy), then
  // hashes it and renames it into place. durable=false skips the fsyncs: for
  // blobs that can be made again (the builder's layers), whose write-back
  // the caller leaves to the kernel or a later syncfs.
  Digest put_written(const std::function<void(int fd)>& produce, bool* added = nullptr, bool durable = true);

  // See BlobWriter. Blocks while another writer holds the same blob.
  std::unique_ptr<BlobWriter> open_writer(const Digest& expected);

  bool exists(const Digest& d) const;
  // Throws "blob sha256:..: not found" when missing (also open/read).
  uint64_t size(const Digest& d) const;
  UniqueFd open(const Digest& d) const;
  std::string read(const Digest& d) const;
  // Returns false when the blob was not there.
  bool remove(const Digest& d);
  // Every blob, sorted.
  std::vector<Digest> list() const;

  std::string blob_path(const Digest& d) const;
  const std::string& root() const { return root_; }

 private:
  // Streams chunks from `next` (returns 0 at EOF) into a temp file, verifies
  // against *expected (when given), renames; returns the digest and sets
  // *added as put_fd documents.
  template <typename Next>
  Digest ingest(const Digest* expected, Next next, bool* added = nullptr);

  friend class BlobWriter;
  std::string root_, blobs_, ingest_;
};

}  // namespace berth::image
