#include "image/content_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/fs.h"

namespace berth::image {

namespace {

void fsync_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) fail_errno("fsync {}", dir);
}

}  // namespace

ContentStore::ContentStore(std::string root)
    : root_(std::move(root)),
      blobs_(path_join(root_, "content/blobs/sha256")),
      ingest_(path_join(root_, "content/ingest")) {
  mkdir_all(blobs_);
  mkdir_all(ingest_);
}

std::string ContentStore::blob_path(const Digest& d) const { return path_join(blobs_, d.hex()); }

template <typename Next>
Digest ContentStore::ingest(const Digest* expected, Next next, bool* added) {
  std::string label = expected ? expected->str() : "(unknown digest)";
  std::string tmp = path_join(ingest_, (expected ? std::string(expected->hex()) : std::string("put")) + ".XXXXXX");
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) fail_errno("blob {}: create temp file in {}", label, ingest_);
  Digest got = sha256_of("");
  bool fresh = true;
  try {
    Sha256 h;
    std::string buf(1 << 16, '\0');
    while (size_t n = next(buf.data(), buf.size())) {
      h.update(buf.data(), n);
      write_all_fd(fd.get(), std::string_view(buf.data(), n), tmp);
    }
    got = h.finish();
    if (expected && got != *expected) fail("blob {}: digest mismatch (got {})", expected->str(), got.str());
    if (!expected && exists(got)) {  // same bytes already stored: keep the original file
      fresh = false;
      fd.reset();
      ::unlink(tmp.c_str());
    } else {
      if (::fchmod(fd.get(), 0644) != 0) fail_errno("chmod {}", tmp);
      if (::fsync(fd.get()) != 0) fail_errno("fsync {}", tmp);
      fd.reset();
      // Same name, same bytes: a concurrent writer's rename is harmless.
      if (::rename(tmp.c_str(), blob_path(got).c_str()) != 0) fail_errno("blob {}: rename into store", got.str());
    }
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (fresh) fsync_dir(blobs_);
  if (added) *added = fresh;
  return got;
}

namespace {

// A chunk reader over fd for ingest(); `what` names the source in errors.
auto fd_reader(int fd, std::string what) {
  return [fd, what = std::move(what)](char* buf, size_t cap) -> size_t {
    while (true) {
      ssize_t n = ::read(fd, buf, cap);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) fail_errno("blob {}: read source", what);
    }
  };
}

}  // namespace

Digest ContentStore::put_written(const std::function<void(int fd)>& produce, bool* added, bool durable) {
  std::string tmp = path_join(ingest_, "written.XXXXXX");
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) fail_errno("blob: create temp file in {}", ingest_);
  try {
    produce(fd.get());
    if (::lseek(fd.get(), 0, SEEK_SET) < 0) fail_errno("seek {}", tmp);
    Sha256 h;
    read_chunks(fd.get(), tmp, [&](const char* p, size_t n) { h.update(p, n); });
    Digest got = h.finish();
    bool fresh = !exists(got);
    if (fresh) {
      if (::fchmod(fd.get(), 0644) != 0) fail_errno("chmod {}", tmp);
      if (durable && ::fsync(fd.get()) != 0) fail_errno("fsync {}", tmp);
      fd.reset();
      if (::rename(tmp.c_str(), blob_path(got).c_str()) != 0) fail_errno("blob {}: rename into store", got.str());
      if (durable) fsync_dir(blobs_);
    } else {
      fd.reset();
      ::unlink(tmp.c_str());
    }
    if (added) *added = fresh;
    return got;
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

void ContentStore::ingest_fd(int fd, const Digest& expected) { ingest(&expected, fd_reader(fd, expected.str())); }

Digest ContentStore::put_fd(int fd, bool* added) { return ingest(nullptr, fd_reader(fd, "(unknown digest)"), added); }

void ContentStore::ingest_file(const std::string& path, const Digest& expected) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("blob {}: open {}", expected.str(), path);
  ingest_fd(fd.get(), expected);
}

void ContentStore::ingest_bytes(std::string_view data, const Digest& expected) {
  ingest(&expected, [&](char* buf, size_t cap) -> size_t {
    size_t n = std::min(cap, data.size());
    std::memcpy(buf, data.data(), n);
    data.remove_prefix(n);
    return n;
  });
}

Digest ContentStore::put(std::string_view data) {
  Digest d = sha256_of(data);
  if (!exists(d)) ingest_bytes(data, d);
  return d;
}

bool ContentStore::exists(const Digest& d) const { return path_exists(blob_path(d)); }

uint64_t ContentStore::size(const Digest& d) const {
  struct stat st;
  if (::stat(blob_path(d).c_str(), &st) != 0) {
    if (errno == ENOENT) fail("blob {}: not found", d.str());
    fail_errno("blob {}: stat", d.str());
  }
  return static_cast<uint64_t>(st.st_size);
}

UniqueFd ContentStore::open(const Digest& d) const {
  UniqueFd fd(::open(blob_path(d).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) fail("blob {}: not found", d.str());
    fail_errno("blob {}: open", d.str());
  }
  return fd;
}

std::string ContentStore::read(const Digest& d) const {
  UniqueFd fd = open(d);
  return read_fd(fd.get(), "blob " + d.str());
}

bool ContentStore::remove(const Digest& d) {
  if (::unlink(blob_path(d).c_str()) == 0) return true;
  if (errno == ENOENT) return false;
  fail_errno("blob {}: remove", d.str());
}

std::vector<Digest> ContentStore::list() const {
  std::vector<Digest> out;
  DIR* dir = ::opendir(blobs_.c_str());
  if (!dir) fail_errno("opendir {}", blobs_);
  while (struct dirent* e = ::readdir(dir)) {
    Digest d = sha256_of("");
    if (Digest::try_parse(std::string("sha256:") + e->d_name, &d)) out.push_back(d);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

std::unique_ptr<BlobWriter> ContentStore::open_writer(const Digest& expected) {
  return std::unique_ptr<BlobWriter>(new BlobWriter(*this, expected));
}

BlobWriter::BlobWriter(const ContentStore& store, Digest expected)
    : store_(store), expected_(std::move(expected)),
      path_(path_join(store.ingest_, std::string(expected_.hex()) + ".partial")) {
  fd_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd_.valid()) fail_errno("blob {}: open {}", expected_.str(), path_);
  while (::flock(fd_.get(), LOCK_EX) != 0) {
    if (errno != EINTR) fail_errno("blob {}: lock {}", expected_.str(), path_);
  }
  // The previous holder may have committed (file renamed away) or discarded
  // (unlinked) it while we waited: then our descriptor names a stale inode.
  struct stat held, named;
  if (::fstat(fd_.get(), &held) != 0) fail_errno("blob {}: stat {}", expected_.str(), path_);
  if (::stat(path_.c_str(), &named) != 0 || named.st_ino != held.st_ino) {
    fd_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd_.valid() || ::flock(fd_.get(), LOCK_EX) != 0) fail_errno("blob {}: reopen {}", expected_.str(), path_);
  }
  // Re-hash what an interrupted attempt left, so the digest covers it.
  std::string buf(1 << 16, '\0');
  while (true) {
    ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("blob {}: read {}", expected_.str(), path_);
    if (n == 0) break;
    hash_.update(buf.data(), static_cast<size_t>(n));
  }
}

BlobWriter::~BlobWriter() = default;  // closing drops the lock; partial bytes stay

void BlobWriter::write(std::string_view data) {
  write_all_fd(fd_.get(), data, path_);
  hash_.update(data);
}

UniqueFd BlobWriter::reopen_partial() const {
  UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("blob {}: open {}", expected_.str(), path_);
  return fd;
}

void BlobWriter::commit() {
  if (done_) return;
  Digest got = hash_.finish();
  done_ = true;
  if (got != expected_) {
    ::unlink(path_.c_str());
    fail("blob {}: digest mismatch (got {})", expected_.str(), got.str());
  }
  if (::fsync(fd_.get()) != 0) fail_errno("fsync {}", path_);
  if (::rename(path_.c_str(), store_.blob_path(expected_).c_str()) != 0)
    fail_errno("blob {}: rename into store", expected_.str());
  fsync_dir(store_.blobs_);
}

void BlobWriter::discard() {
  done_ = true;
  ::unlink(path_.c_str());
}

}  // namespace berth::image
