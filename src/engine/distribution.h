// Distribution: the daemon side of pull, push and login — the registry
// client (registry/) wired to the engine's image stores, its registry
// settings (mirrors, insecure registries) and its events.
//
// Contract:
// - pull() accepts what `docker pull` sends: a reference with tag, digest
//   or neither (then "latest"; with all_tags every tag of the repository);
//   it reports docker's JSON progress vocabulary through `progress` and
//   publishes an image "pull" event per image.
// - push() pushes every tag of the repository when the reference has no
//   tag (docker's behaviour), else that tag; "push" events.
// - login() checks the credentials against the registry's /v2/ and returns
//   an identity token when the registry issued one.
// - Errors carry the operation and reference ("pull localhost:5000/x:1: ...").
// - Thread-safe: concurrent pulls share one HTTP client (connection reuse)
//   and the stores' own locking.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "registry/blob_sources.h"
#include "registry/endpoints.h"
#include "registry/http_client.h"
#include "registry/pull.h"
#include "registry/push.h"
#include "registry/repository.h"
#include "registry/search.h"

namespace berth::engine {

struct TransferLimits {
  int max_concurrent_downloads = 3;
  int max_concurrent_uploads = 5;
};

class Distribution {
 public:
  Distribution(Engine& engine, std::string data_root, registry::RegistryConfig config, TransferLimits limits = {});

  // Returns the familiar reference pulled ("busybox:latest").
  std::string pull(const std::string& reference, bool all_tags, const std::string& platform,
                   const registry::AuthConfig& auth, const registry::ProgressFn& progress);
  void push(const std::string& reference, const registry::AuthConfig& auth, const registry::ProgressFn& progress);
  // server: "localhost:5000", "https://index.docker.io/v1/", "" (docker.io).
  std::string login(const std::string& server, const registry::AuthConfig& auth);

  // GET /distribution/{name}/json: the descriptor the reference resolves to
  // and, for an index, its platforms.
  struct RemoteInfo {
    registry::ManifestInfo descriptor;
    std::vector<nlohmann::json> platforms;
  };
  RemoteInfo inspect(const std::string& reference, const registry::AuthConfig& auth);

  // docker search: the index's results for term, at most limit.
  std::vector<registry::SearchResult> search(const std::string& term, int limit, const registry::AuthConfig& auth);

  const registry::RegistryConfig& config() const { return config_; }

 private:
  registry::Repository repository(const image::Reference& ref, const registry::AuthConfig& auth, bool push);
  registry::Stores stores();

  Engine& engine_;
  registry::RegistryConfig config_;
  TransferLimits limits_;
  registry::HttpClient http_;
  registry::BlobSources sources_;
};

}  // namespace berth::engine
