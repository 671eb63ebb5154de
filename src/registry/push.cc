#include "registry/push.h"

#include <unistd.h>

#include <exception>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "image/media_types.h"
#include "registry/parallel.h"

namespace berth::registry {

using image::Digest;
using nlohmann::json;

namespace {

std::string short_id(const Digest& d) { return std::string(d.hex().substr(0, 12)); }

// The stored manifest, if it still describes exactly this image's blobs.
std::optional<std::pair<std::string, std::string>> stored_manifest(const image::ImageRecord& img,
                                                                   image::ContentStore& content) {
  if (!img.manifest_digest || !content.exists(*img.manifest_digest)) return std::nullopt;
  std::string bytes = content.read(*img.manifest_digest);
  json doc = json::parse(bytes, nullptr, false);
  std::string type = image::manifest_media_type(doc, "");
  if (!image::is_image_manifest_media_type(type)) return std::nullopt;
  try {
    image::ImageManifest m = image::parse_image_manifest(doc, type, "stored manifest");
    if (m.config.digest != img.id || m.layers.size() != img.layers.size()) return std::nullopt;
    for (size_t i = 0; i < m.layers.size(); ++i)
      if (m.layers[i].digest != img.layers[i].digest) return std::nullopt;
  } catch (const Error&) {
    return std::nullopt;
  }
  return std::make_pair(bytes, type);
}

}  // namespace

std::pair<std::string, std::string> manifest_for_push(const image::ImageRecord& img, image::ContentStore& content) {
  if (auto m = stored_manifest(img, content)) return *m;
  bool oci = false;
  for (const auto& l : img.layers)
    if (l.media_type.starts_with("application/vnd.oci.")) oci = true;
  std::string type(oci ? image::kOciManifest : image::kDockerManifest);
  json layers = json::array();
  for (const auto& l : img.layers) layers.push_back({{"mediaType", l.media_type}, {"size", l.size}, {"digest", l.digest.str()}});
  json m = {{"schemaVersion", 2},
            {"mediaType", type},
            {"config",
             {{"mediaType", oci ? image::kOciConfig : image::kDockerConfig},
              {"size", content.size(img.id)},
              {"digest", img.id.str()}}},
            {"layers", layers}};
  return {m.dump(3), type};
}

PushResult push_image(Repository& repo, const image::Reference& ref, const image::ImageRecord& img, Stores stores,
                      const PushOptions& opts, const ProgressFn& progress) {
  std::mutex report_mu;
  auto report = [&](const std::string& id, const std::string& status, uint64_t cur = 0, uint64_t total = 0,
                    bool detail = false) {
    std::lock_guard lock(report_mu);
    if (progress) progress(PullProgress{id, status, cur, total, detail});
  };
  std::string host = registry_host(ref.domain);

  struct Blob {
    Digest digest;
    std::string id;  // progress id: short diff_id for layers
    uint64_t size;
    bool foreign = false;  // stays where its urls point
  };
  std::vector<Blob> blobs;
  for (size_t i = 0; i < img.layers.size(); ++i) {
    blobs.push_back({img.layers[i].digest, short_id(img.diff_ids[i]), img.layers[i].size,
                     image::is_foreign_layer_media_type(img.layers[i].media_type)});
    report(blobs.back().id, "Preparing");
  }
  // As dockerd: only layers beyond the upload slots wait.
  for (size_t i = static_cast<size_t>(std::max(opts.max_concurrent_uploads, 1)); i < blobs.size(); ++i)
    report(blobs[i].id, "Waiting");

  auto push_blob = [&](const Blob& b, bool is_layer) {
    if (b.foreign) {
      report(b.id, "Skipped foreign layer");
      return;
    }
    if (repo.blob_size(b.digest)) {
      if (is_layer) report(b.id, "Layer already exists");
      return;
    }
    if (stores.sources) {
      for (const auto& from : stores.sources->on_host(b.digest, host, repo.path())) {
        if (repo.mount_blob(b.digest, from)) {
          if (is_layer) report(b.id, "Mounted from " + from);
          return;
        }
        break;  // one refused mount is enough to know: upload
      }
    }
    UniqueFd fd = stores.content.open(b.digest);
    uint64_t sent = 0;
    auto last = std::chrono::steady_clock::now();
    repo.upload_blob(
        b.digest, b.size,
        [&](char* buf, size_t cap) -> size_t {
          ssize_t n;
          do n = ::read(fd.get(), buf, cap);
          while (n < 0 && errno == EINTR);
          if (n < 0) fail_errno("read blob {}", b.digest.str());
          sent += static_cast<uint64_t>(n);
          auto now = std::chrono::steady_clock::now();
          if (is_layer && now - last > std::chrono::milliseconds(100)) {
            last = now;
            report(b.id, "Pushing", sent, b.size, true);
          }
          return static_cast<size_t>(n);
        },
        opts.chunk_size);
    if (is_layer) {
      report(b.id, "Pushing", b.size, b.size, true);
      report(b.id, "Pushed");
    }
  };

  // Mount sources need pull access to them in the same token.
  if (stores.sources)
    for (const auto& b : blobs)
      for (const auto& from : stores.sources->on_host(b.digest, host, repo.path())) repo.add_pull_scope(from);
  repo.connect();

  run_parallel(opts.max_concurrent_uploads, blobs.size(), [&](size_t k) {
    try {
      push_blob(blobs[k], true);
    } catch (const Error& e) {
      throw e.wrap("layer " + blobs[k].digest.short_str());
    }
  });

  push_blob({img.id, short_id(img.id), stores.content.size(img.id)}, false);
  auto [bytes, type] = manifest_for_push(img, stores.content);
  Digest d = repo.put_manifest(*ref.tag, bytes, type);
  stores.content.put(bytes);
  if (stores.sources)
    for (const auto& b : blobs) stores.sources->add(b.digest, host, repo.path());
  image::Reference by_digest = ref;
  by_digest.tag.reset();
  by_digest.digest = d.str();
  stores.images.tag(img.id, by_digest.str());
  report("", fmt::format("{}: digest: {} size: {}", *ref.tag, d.str(), bytes.size()));
  return PushResult{d, bytes.size()};
}

}  // namespace berth::registry
