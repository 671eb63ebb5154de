// The build context the CLI sends with POST /build, made as the docker CLI
// makes it for the classic builder (cli/command/image/build.go and
// cli/command/image/build/context.go).
//
// Contract:
// - resolve_local_context is GetContextFromLocalDir: the context directory
//   made absolute with symlinks resolved; the Dockerfile (-f, taken relative
//   to the working directory, else PATH/Dockerfile, else PATH/dockerfile)
//   resolved likewise and named relative to the context ("../x" when outside
//   it; "-" when it comes from stdin). Errors are docker's, without the
//   "unable to prepare context: " prefix the caller adds.
// - write_context_tar is archive.TarWithOptions as the CLI calls it: the
//   directory walked in lexical order, .dockerignore honoured (an excluded
//   directory is skipped whole when no exception can reach below it, else
//   walked without its own entry), the Dockerfile and .dockerignore always
//   kept (TrimBuildFilesFromExcludes), uid/gid 0 and no user names, mtimes
//   truncated to seconds, symlinks as symlinks, hard links as links, sockets
//   left out. With `extra` (a Dockerfile from stdin or from outside the
//   context) it is added under its random name and .dockerignore (created if
//   missing) gets that name appended, as AddDockerfileToBuildContext does.
// - The tar ends with the two zero blocks and no further padding, as Go's
//   tar writer ends it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::build {

struct LocalContext {
  std::string dir;         // absolute, symlinks resolved
  std::string dockerfile;  // relative to dir, '/'-separated, or "-"
  bool dockerfile_outside() const { return dockerfile.starts_with("../"); }
};
LocalContext resolve_local_context(const std::string& context, const std::string& dockerfile_flag);

struct ExtraDockerfile {
  std::string name;  // ".dockerfile.<20 hex digits>"
  std::string content;
};
// ".dockerfile." + 20 random hex digits.
std::string random_dockerfile_name();

struct ContextTarOptions {
  std::string keep;  // the Dockerfile (relative to the context): sent even when ignored
  std::optional<ExtraDockerfile> extra;
  bool gzip = false;  // --compress
};
// Writes the context tar of dir to fd; returns the bytes written.
uint64_t write_context_tar(const std::string& dir, const ContextTarOptions& opts, int fd);

// Whether the first bytes of stdin start an archive (gzip, bzip2, xz, zstd,
// or a tar header with a valid checksum), as build.IsArchive decides.
bool looks_like_archive(std::string_view head);
// A tar holding one file, "Dockerfile" (a Dockerfile given on stdin as the
// whole context): mode 0666 less the umask, owned by the caller.
uint64_t write_dockerfile_tar(std::string_view content, int fd);

}  // namespace berth::build
