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
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "image/digest.h"

namespace berth::image {

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

  std::string root_, blobs_, ingest_;
};

}  // namespace berth::image
