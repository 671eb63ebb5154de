// Runs independent jobs on a few threads (layer downloads, uploads).
//
// Contract: fn(i) is called once for each i in [0, count), on at most
// `threads` threads (the caller's included). After the first job throws, no
// new job starts; the jobs in flight finish, then that first exception is
// rethrown (optionally through wrap, e.g. to name the job).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace berth::registry {

inline void run_parallel(int threads, size_t count, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::exception_ptr first_error;
  auto worker = [&] {
    while (!failed) {
      size_t k = next++;
      if (k >= count) return;
      try {
        fn(k);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }
  };
  int n = std::max(1, std::min(threads, static_cast<int>(count)));
  std::vector<std::thread> pool;
  for (int i = 1; i < n; ++i) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace berth::registry
