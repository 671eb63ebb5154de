// Undo: steps that reverse what a multi-step operation (import, load) has
// created so far; they run newest first on destruction unless the
// operation commit()s. A failing step is skipped so the others still run:
// the caller is already unwinding with the error that matters.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace berth::image {

class Undo {
 public:
  Undo() = default;
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;
  ~Undo() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      try {
        (*it)();
      } catch (...) {  // best effort: see above
      }
    }
  }

  void add(std::function<void()> step) { steps_.push_back(std::move(step)); }
  void commit() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

}  // namespace berth::image
