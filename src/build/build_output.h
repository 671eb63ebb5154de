// `build --output type=local,dest=DIR`: the built image's file system,
// exported by the daemon as a tar, unpacked into a directory on the client.
//
// Contract: libarchive's secure extraction (entries with "..", absolute
// paths and writes through symlinks are refused with "output DIR: ..."),
// modes and times kept, owners kept only when running as root. dir is
// created when missing. The working directory is changed for the duration
// and restored, so call it while no other thread depends on it.
#pragma once

#include <string>

namespace berth::build {

void extract_tar(int fd, const std::string& dir);

}  // namespace berth::build
