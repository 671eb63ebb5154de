#include "registry/pull.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <mutex>
#include <thread>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "registry/parallel.h"

namespace berth::registry {

using image::Descriptor;
using image::Digest;
using nlohmann::json;

namespace {

std::string short_id(const Digest& d) { return std::string(d.hex().substr(0, 12)); }

// Serializes progress callbacks from the layer threads and throttles
// "Downloading" updates to about ten per second per layer.
class Reporter {
 public:
  explicit Reporter(const ProgressFn& fn) : fn_(fn) {}

  void status(const std::string& id, const std::string& status) {
    std::lock_guard lock(mu_);
    if (fn_) fn_(PullProgress{id, status});
  }
  void progress(const std::string& id, const std::string& status, uint64_t current, uint64_t total, bool force) {
    auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(mu_);
    auto& last = last_[id];
    if (!force && now - last < std::chrono::milliseconds(100)) return;
    last = now;
    if (fn_) fn_(PullProgress{id, status, current, total, true});
  }

 private:
  const ProgressFn& fn_;
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_;
};

struct LayerJob {
  Descriptor desc;
  Digest diff_id;
  std::optional<Digest> parent_chain;
  Digest chain;
  bool need_blob = false;
  bool need_snapshot = false;
};

// Writes into a pipe; a closed read end (the unpacker gave up) surfaces as
// EPIPE, which ends the download: the unpacker's own error is reported.
class PipeFeed {
 public:
  explicit PipeFeed(UniqueFd w) : w_(std::move(w)) {}
  void write(std::string_view data) {
    if (w_.valid()) write_all_fd(w_.get(), data, "layer pipe");
  }
  void close() { w_.reset(); }

 private:
  UniqueFd w_;
};

// One attempt at one layer: download (resuming) and unpack concurrently.
// *resumed says whether bytes kept from an earlier attempt were used.
void fetch_layer_once(Repository& repo, const LayerJob& job, Stores stores, Reporter& report, bool* resumed) {
  const std::string id = short_id(job.desc.digest);
  const std::string name = "layer " + job.desc.digest.str();
  uint64_t total = job.desc.size.value_or(0);

  std::unique_ptr<image::BlobWriter> writer;
  if (job.need_blob) writer = stores.content.open_writer(job.desc.digest);
  if (writer && stores.content.exists(job.desc.digest)) writer.reset();  // another pull stored it meanwhile

  // The unpacker reads the whole stream from a pipe in its own thread.
  std::optional<PipeFeed> feed;
  std::thread unpacker;
  std::exception_ptr unpack_error;
  UniqueFd read_end;
  if (job.need_snapshot && !stores.snapshots.exists(job.chain)) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) fail_errno("{}: pipe", name);
    read_end = UniqueFd(p[0]);
    feed.emplace(UniqueFd(p[1]));
    unpacker = std::thread([&] {
      try {
        image::UnpackOptions uo;
        uo.name = name;
        stores.snapshots.prepare(job.parent_chain, job.diff_id, read_end.get(), uo);
      } catch (...) {
        unpack_error = std::current_exception();
      }
      read_end.reset();  // a writer still feeding now gets EPIPE
    });
  }
  auto finish_unpack = [&] {
    if (feed) feed->close();
    if (unpacker.joinable()) unpacker.join();
  };

  try {
    if (!writer) {
      // The blob is here already: unpack from it.
      if (feed) {
        UniqueFd blob = stores.content.open(job.desc.digest);
        read_chunks(blob.get(), name, [&](const char* p, size_t n) { feed->write(std::string_view(p, n)); });
      }
    } else {
      uint64_t offset = writer->offset();
      repo.fetch_blob(
          job.desc.digest, offset,
          [&](std::string_view data) {
            writer->write(data);
            if (feed) feed->write(data);
            report.progress(id, "Downloading", writer->offset(), total, false);
          },
          [&](uint64_t start) {
            if (start == 0 && offset > 0) {  // the registry ignored Range: start over
              writer->discard();
              writer = stores.content.open_writer(job.desc.digest);
            } else if (start > 0) {
              *resumed = true;
            }
            if (start > 0 && feed) {  // resumed: the unpacker needs the kept prefix first
              UniqueFd prefix = writer->reopen_partial();
              uint64_t left = start;
              std::string buf(1 << 16, '\0');
              while (left > 0) {
                ssize_t n = ::read(prefix.get(), buf.data(), std::min<uint64_t>(buf.size(), left));
                if (n <= 0) fail_errno("{}: replay partial download", name);
                feed->write(std::string_view(buf.data(), static_cast<size_t>(n)));
                left -= static_cast<uint64_t>(n);
              }
            }
          },
          job.desc.urls);
      report.progress(id, "Downloading", writer->offset(), total, true);
      report.status(id, "Verifying Checksum");
      if (job.desc.size && writer->offset() != *job.desc.size) {
        uint64_t got = writer->offset();
        writer->discard();
        fail("{}: size {} differs from the manifest's {}", name, got, *job.desc.size);
      }
      writer->commit();  // verifies the digest
      report.status(id, "Download complete");
    }
  } catch (const Error& e) {
    finish_unpack();
    // The unpacker's error explains a broken pipe better than EPIPE does.
    if (unpack_error && std::string_view(e.what()).find("layer pipe") != std::string_view::npos)
      std::rethrow_exception(unpack_error);
    throw;
  } catch (...) {
    finish_unpack();
    throw;
  }
  finish_unpack();
  if (unpack_error) std::rethrow_exception(unpack_error);
}

void fetch_layer(Repository& repo, const LayerJob& job, Stores stores, Reporter& report, int attempts) {
  const std::string id = short_id(job.desc.digest);
  for (int attempt = 1;; ++attempt) {
    bool resumed = false;
    try {
      fetch_layer_once(repo, job, stores, report, &resumed);
      report.status(id, "Pull complete");
      return;
    } catch (const Error& e) {
      std::string msg = e.what();
      // Verification failures are final, unless kept bytes of an earlier
      // attempt were involved (they are dropped now); transport errors are
      // retried.
      bool bad_bytes = msg.find("digest mismatch") != std::string::npos ||
                       msg.find("differs from the manifest") != std::string::npos ||
                       msg.find("entry ") != std::string::npos;
      bool final = (bad_bytes && !resumed) || attempt >= attempts;
      if (final) throw;
      report.status(id, fmt::format("Retrying in {} second{}", attempt, attempt > 1 ? "s" : ""));
      std::this_thread::sleep_for(std::chrono::seconds(attempt));
    }
  }
}

// Small enough to refetch whole when a transfer breaks.
std::string fetch_config(Repository& repo, const Descriptor& d, Stores stores, Reporter& report, int attempts) {
  if (stores.content.exists(d.digest)) return stores.content.read(d.digest);
  for (int attempt = 1;; ++attempt) {
    std::string bytes;
    try {
      repo.fetch_blob(d.digest, 0, [&](std::string_view data) {
        if (bytes.size() + data.size() > (64u << 20)) fail("config {}: larger than 64 MiB", d.digest.str());
        bytes.append(data);
      }, {});
    } catch (const Error& e) {
      if (attempt >= attempts || std::string_view(e.what()).find("larger than") != std::string_view::npos) throw;
      report.status(short_id(d.digest), fmt::format("Retrying in {} second{}", attempt, attempt > 1 ? "s" : ""));
      std::this_thread::sleep_for(std::chrono::seconds(attempt));
      continue;
    }
    Digest got = image::sha256_of(bytes);
    if (got != d.digest) fail("config {}: digest mismatch (got {})", d.digest.str(), got.str());
    return bytes;
  }
}

}  // namespace

PullResult pull_image(Repository& repo, const image::Reference& ref, Stores stores, const PullOptions& opts,
                      const ProgressFn& progress) {
  Reporter report(progress);
  std::string ref_str = ref.digest ? *ref.digest : *ref.tag;
  // Like dockerd, say nothing before the manifest is found: an unknown
  // reference then fails before any progress went out.
  FetchedManifest top = repo.get_manifest(ref_str);
  report.status(ref_str, "Pulling from " + ref.path.substr(ref.domain == "docker.io" && ref.path.starts_with("library/") ? 8 : 0));
  json doc = image::parse_json_document(top.bytes, "manifest " + ref_str);
  std::string type = image::manifest_media_type(doc, top.media_type);
  FetchedManifest chosen = top;
  if (image::is_index_media_type(type)) {
    auto pick = image::pick_platform(doc, opts.platform, "manifest list " + top.digest.str());
    if (!pick) fail("no matching manifest for {} in the manifest list entries", opts.platform.str());
    chosen = repo.get_manifest(pick->digest.str());
    doc = image::parse_json_document(chosen.bytes, "manifest " + pick->digest.str());
    type = image::manifest_media_type(doc, chosen.media_type);
    if (image::is_index_media_type(type)) fail("manifest {}: nested index not supported", pick->digest.str());
  }
  image::ImageManifest m = image::parse_image_manifest(doc, type, "manifest " + chosen.digest.str());

  std::string config = fetch_config(repo, m.config, stores, report, opts.attempts);
  std::vector<Digest> diff_ids =
      image::config_diff_ids(image::parse_json_document(config, "config " + m.config.digest.str()),
                             "config " + m.config.digest.str());
  if (diff_ids.size() != m.layers.size())
    fail("manifest {}: {} layers but the config has {} diff_ids", chosen.digest.str(), m.layers.size(), diff_ids.size());

  std::vector<Digest> chains = image::chain_ids(diff_ids);
  std::vector<LayerJob> jobs;
  std::vector<size_t> todo;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    LayerJob j{m.layers[i], diff_ids[i], i ? std::optional<Digest>(chains[i - 1]) : std::nullopt, chains[i]};
    j.need_blob = !stores.content.exists(j.desc.digest);
    j.need_snapshot = !stores.snapshots.exists(j.chain);
    jobs.push_back(j);
    if (j.need_blob || j.need_snapshot) {
      todo.push_back(i);
      report.status(short_id(j.desc.digest), "Pulling fs layer");
    } else {
      report.status(short_id(j.desc.digest), "Already exists");
    }
  }

  // As dockerd: layers beyond the download slots wait.
  for (size_t k = static_cast<size_t>(std::max(opts.max_concurrent_downloads, 1)); k < todo.size(); ++k)
    report.status(short_id(jobs[todo[k]].desc.digest), "Waiting");
  run_parallel(opts.max_concurrent_downloads, todo.size(),
               [&](size_t k) { fetch_layer(repo, jobs[todo[k]], stores, report, opts.attempts); });

  if (!stores.content.exists(m.config.digest)) stores.content.ingest_bytes(config, m.config.digest);
  stores.content.put(chosen.bytes);
  if (top.digest != chosen.digest) stores.content.put(top.bytes);

  std::vector<image::LayerDescriptor> layers;
  std::string host = registry_host(ref.domain);
  for (const auto& l : m.layers)
    if (stores.sources) stores.sources->add(l.digest, host, repo.path());
  for (const auto& l : m.layers) layers.push_back({l.digest, l.media_type, l.size.value_or(stores.content.size(l.digest))});
  std::optional<image::ImageRecord> before;
  if (ref.tag) before = stores.images.find(ref.str());
  image::ImageRecord rec = stores.images.add(m.config.digest, layers, chosen.digest);
  image::Reference by_digest = ref;
  by_digest.tag.reset();
  by_digest.digest = top.digest.str();
  stores.images.tag(rec.id, by_digest.str());
  if (ref.tag) {
    image::Reference tagged = ref;
    tagged.digest.reset();
    stores.images.tag(rec.id, tagged.str());
  }
  PullResult out{stores.images.get(rec.id), top.digest, !before || before->id != rec.id};
  if (!todo.empty()) out.new_image = true;
  return out;
}

}  // namespace berth::registry
