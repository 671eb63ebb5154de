#include "shim/line_splitter.h"

namespace berth::shim {

void LineSplitter::feed(std::string_view data, const Emit& emit) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    size_t room = kMaxChunk - pending_.size();
    if (nl != std::string_view::npos && nl < room) {
      // A whole line: emit straight from data when nothing is pending, which
      // is the common case and saves a copy.
      if (pending_.empty()) {
        emit(data.substr(0, nl + 1));
      } else {
        pending_.append(data.substr(0, nl + 1));
        emit(pending_);
        pending_.clear();
      }
      data.remove_prefix(nl + 1);
      continue;
    }
    if (data.size() < room) {
      pending_.append(data);
      return;
    }
    // The buffer fills before a newline: flush it as a partial message.
    pending_.append(data.substr(0, room));
    data.remove_prefix(room);
    emit(pending_);
    pending_.clear();
  }
}

void LineSplitter::finish(const Emit& emit) {
  if (!pending_.empty()) emit(pending_);
  pending_.clear();
}

}  // namespace berth::shim
