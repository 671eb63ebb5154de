#include "shim/log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/error.h"

namespace berth::shim {

std::vector<std::pair<std::string, std::string>> rotation_renames(const std::string& path, int max_file) {
  std::vector<std::pair<std::string, std::string>> out;
  if (max_file < 2) return out;
  for (int i = max_file - 1; i > 1; --i)
    out.emplace_back(path + "." + std::to_string(i - 1), path + "." + std::to_string(i));
  out.emplace_back(path, path + ".1");
  return out;
}

RotatingLog::RotatingLog(std::string path, uint64_t max_size, int max_file)
    : path_(std::move(path)), max_size_(max_size), max_file_(max_file < 1 ? 1 : max_file) {
  open(false);
}

void RotatingLog::open(bool truncate) {
  int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0);
  fd_.reset(::open(path_.c_str(), flags, 0640));
  if (!fd_.valid()) fail_errno("open log {}", path_);
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) fail_errno("stat log {}", path_);
  size_ = static_cast<uint64_t>(st.st_size);
}

void RotatingLog::rotate() {
  for (const auto& [from, to] : rotation_renames(path_, max_file_)) {
    // Older files may not exist yet; only the live file must move.
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
      fail_errno("rotate log {} to {}", from, to);
  }
  open(true);
  ++rotations_;
}

void RotatingLog::append(std::string_view record) {
  if (max_size_ > 0 && size_ >= max_size_) rotate();
  while (!record.empty()) {
    ssize_t n = ::write(fd_.get(), record.data(), record.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("write log {}", path_);
    }
    size_ += static_cast<uint64_t>(n);
    record.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace berth::shim
