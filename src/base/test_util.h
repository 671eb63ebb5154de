// Helpers shared by the unit tests of every library (header-only; tests
// only): a self-removing temporary directory and running code in a forked
// child, for tests that change process-wide state (capabilities, rlimits).
#pragma once

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"

namespace berth::test {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/berth-test-XXXXXX";
    if (!::mkdtemp(tmpl)) fail_errno("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    try {
      remove_all(path_);
    } catch (...) {  // a destructor must not throw; leftovers in /tmp are harmless
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view rel) const { return path_join(path_, rel); }

 private:
  std::string path_;
};

// Runs fn in a forked child and returns its exit code (fn's return value;
// 98 if it threw, -1 if the child did not exit normally).
inline int run_in_child(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int rc = 99;
    try {
      rc = fn();
    } catch (...) {
      rc = 98;
    }
    _exit(rc);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// The message of the berth::Error fn throws; a test failure if it throws none.
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

// Number of entries in dir, "." and ".." not counted.
inline int count_entries(const std::string& dir) {
  int n = 0;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  while (struct dirent* e = ::readdir(d))
    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") ++n;
  ::closedir(d);
  return n;
}

}  // namespace berth::test
