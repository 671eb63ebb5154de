// build_image: the classic docker builder (what dockerd runs for POST /build
// without BuildKit): a Dockerfile and a context directory on disk become an
// image, step by step, each step's result an image whose Parent is the
// previous one, reported as docker's JSON message stream ("Step 2/5 : RUN
// ...", " ---> Running in <id>", " ---> <id>", errors with their code).
//
// Contract:
// - The target (the last stage when none) and the stages it needs (by FROM,
//   COPY --from, RUN --mount from) are built; the others are skipped.
//   Stages whose dependencies are done build in parallel (up to 4), while
//   the stream shows their output in file order, as a sequential build would.
// - Every step is looked up in the BuildCache (build_cache.h) by a key made
//   of the parent image ID and what the step reads: the expanded
//   instruction, the build args it uses, and for COPY/ADD the content digest
//   of what it copies (copy_sources.h: contents and modes, not mtimes). A hit
//   reuses the image without running anything ("Using cache").
// - RUN runs in a container created from the step's parent image (network
//   from the request, the build args the stage declared in its environment),
//   removed afterwards; its output is streamed (stderr in docker's red). A
//   non-zero exit fails the build with "The command '<cmd>' returned a
//   non-zero code: N" and that code. COPY/ADD write into an overlay of the
//   parent with a fresh upper dir, which becomes the layer.
// - Failures throw BuildError (message, code); images of finished steps are
//   kept (they are cache), nothing of the failed step is.
// - Layers are stored without fsyncs, a COPY's upper dir becoming its
//   snapshot as is; one syncfs of the data root runs after the build, in the
//   background. (A power cut in between can lose that build's layers, as
//   with docker's overlay2, which never syncs them.)
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "build/copy_sources.h"

namespace berth::engine {

class Engine;

struct BuildOptions {
  std::string context_dir;                // the extracted context, or the client's directory
  build::DigestCache* digests = nullptr;  // remembers context file digests across builds (optional)
  std::string dockerfile = "Dockerfile";  // relative to context_dir
  std::vector<std::string> tags;
  std::map<std::string, std::optional<std::string>> build_args;
  std::map<std::string, std::string> labels;
  std::string target;
  std::string network_mode;               // RUN containers' NetworkMode; "" = default
  std::string platform;                   // --platform: base images must be for it
  nlohmann::json host_config = nlohmann::json::object();  // RUN containers' resources (Memory, ShmSize, ...)
  std::vector<std::string> cache_from;    // accepted; local images are always candidates
  std::map<std::string, std::string> secrets;  // id -> content, for RUN --mount=type=secret
  bool no_cache = false;
  bool pull = false;
  bool quiet = false;                     // only errors and the final ID
  bool remove = true;                     // remove RUN containers after success (always on failure with force_remove)
  bool force_remove = false;
};

struct BuildOutput {
  std::function<void(const std::string&)> stream;       // {"stream": text}
  std::function<void(const nlohmann::json&)> aux;       // {"aux": value}
  // Pulls a base image missing locally (or every one with --pull); reports its own progress.
  std::function<void(const std::string& reference)> pull;
};

class BuildError : public Error {
 public:
  BuildError(const std::string& msg, int code) : Error(msg), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// Returns the built image's ID ("sha256:...").
std::string build_image(Engine& eng, const BuildOptions& opts, const BuildOutput& out, std::stop_token stop);

}  // namespace berth::engine
