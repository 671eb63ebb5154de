// SyncPipe: the runtime <-> container-process handshake over a socketpair.
//
// Messages are short strings; the container process reports failure as
// "error:<message>" and the runtime turns that into an Error, so a setup
// failure deep in the container process surfaces as one clear line from the
// runtime command. Descriptors (a pty master) may ride along.
#pragma once

#include <string>

#include "base/fd.h"

namespace berth::runtime {

class SyncPipe {
 public:
  // Creates a connected pair; parent() and child() each keep one end.
  static std::pair<SyncPipe, SyncPipe> make();
  explicit SyncPipe(UniqueFd fd) : fd_(std::move(fd)) {}

  void send(const std::string& msg) const;
  // Receives one message; "error:..." becomes an Error, EOF becomes an Error
  // saying the container process exited while `what`.
  std::string receive(const std::string& what) const;
  // Receives and checks it equals `expected`.
  void expect(const std::string& expected, const std::string& what) const;
  // Receives a descriptor sent with send_fd (unix_socket.h); an "error:..."
  // message sent instead becomes that Error, EOF an Error naming `what`.
  UniqueFd receive_fd(const std::string& what) const;
  // Best-effort error report from the container process (never throws).
  void send_error(const std::string& msg) const noexcept;
  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

}  // namespace berth::runtime
