// RotatingLog: the json-file log with dockerd's size-based rotation.
//
// Contract: append() writes whole records. Before a record is written, if
// the file already holds max_size bytes or more, it is rotated as dockerd's
// loggerutils.LogFile does: with max_file >= 2, path.(max_file-2) ->
// path.(max_file-1), ..., path -> path.1 and a fresh file is opened; with
// max_file == 1 the file is truncated. max_size 0 means never rotate. A
// record is never split across files, so a file may exceed max_size by one
// record. The file is opened in append mode (a restarted shim continues it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/fd.h"

namespace berth::shim {

// The renames of one rotation, in the order they must happen (oldest first,
// so no file is overwritten before it has moved on). The last file,
// path.(max_file-1), is overwritten by the first rename.
std::vector<std::pair<std::string, std::string>> rotation_renames(const std::string& path, int max_file);

class RotatingLog {
 public:
  RotatingLog(std::string path, uint64_t max_size, int max_file);

  void append(std::string_view record);
  int rotations() const { return rotations_; }

 private:
  void open(bool truncate);
  void rotate();

  std::string path_;
  uint64_t max_size_;
  int max_file_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  int rotations_ = 0;
};

}  // namespace berth::shim
