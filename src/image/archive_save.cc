// save_archive (archive.h). Tar entries need their size in the header, so a
// compressed layer blob is decompressed twice: once to count and verify its
// bytes, once to write them. Uncompressed blobs are their own size.
#include <archive.h>
#include <archive_entry.h>

#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "image/archive.h"
#include "image/media_types.h"
#include "image/reference.h"

namespace berth::image {

namespace {

using ojson = nlohmann::ordered_json;

struct WriteFree {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct ReadFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
struct EntryFree {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

std::string blob_name(const Digest& d) { return "blobs/sha256/" + std::string(d.hex()); }

// Streams a stored layer blob decompressed (plain blobs pass through),
// handing chunks to sink; returns the sha256 and size of what it produced.
std::pair<Digest, uint64_t> stream_layer(ContentStore& content, const Digest& blob,
                                         const std::function<void(const char*, size_t)>& sink) {
  UniqueFd fd = content.open(blob);
  std::unique_ptr<struct archive, ReadFree> a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_fd(a.get(), fd.get(), 1 << 16) != ARCHIVE_OK)
    fail("layer {}: {}", blob.str(), archive_error_string(a.get()));
  struct archive_entry* e;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
    fail("layer {}: {}", blob.str(), archive_error_string(a.get()));
  Sha256 h;
  std::vector<char> buf(1 << 16);
  while (true) {
    la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
    if (n < 0) fail("layer {}: decompress: {}", blob.str(), archive_error_string(a.get()));
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
    sink(buf.data(), static_cast<size_t>(n));
  }
  uint64_t size = h.size();
  return {h.finish(), size};
}

class TarOut {
 public:
  explicit TarOut(int fd) : a_(archive_write_new()) {
    archive_write_set_format_pax_restricted(a_.get());
    archive_write_set_bytes_in_last_block(a_.get(), 1);
    if (archive_write_open_fd(a_.get(), fd) != ARCHIVE_OK) fail("save: {}", archive_error_string(a_.get()));
  }

  void dir(const std::string& name) { header(name, AE_IFDIR, 0755, 0); }

  void file(const std::string& name, std::string_view data) {
    header(name, AE_IFREG, 0644, data.size());
    data_chunk(name, data.data(), data.size());
  }

  // A file whose bytes come from `produce`, which must hand exactly size bytes to its sink.
  void file(const std::string& name, uint64_t size,
            const std::function<void(const std::function<void(const char*, size_t)>&)>& produce) {
    header(name, AE_IFREG, 0644, size);
    uint64_t written = 0;
    produce([&](const char* p, size_t n) {
      if (written + n > size) fail("save: {}: more bytes than expected ({})", name, size);
      data_chunk(name, p, n);
      written += n;
    });
    if (written != size) fail("save: {}: {} bytes, expected {}", name, written, size);
  }

  void close() {
    if (archive_write_close(a_.get()) != ARCHIVE_OK) fail("save: {}", archive_error_string(a_.get()));
  }

 private:
  void header(const std::string& name, unsigned type, unsigned perm, uint64_t size) {
    std::unique_ptr<struct archive_entry, EntryFree> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e.get(), 0, 0);
    if (archive_write_header(a_.get(), e.get()) != ARCHIVE_OK)
      fail("save: {}: {}", name, archive_error_string(a_.get()));
  }

  void data_chunk(const std::string& name, const char* p, size_t n) {
    while (n > 0) {
      la_ssize_t w = archive_write_data(a_.get(), p, n);
      if (w < 0) fail("save: {}: {}", name, archive_error_string(a_.get()));
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  std::unique_ptr<struct archive, WriteFree> a_;
};

struct Selected {
  ImageRecord record;
  std::vector<Reference> tags;  // normalized, tagged
};

// docker save's name handling (tarexport.parseNames).
std::vector<Selected> select_images(ImageStore& images, const std::vector<std::string>& names) {
  std::vector<Selected> out;
  std::map<Digest, size_t> index;
  auto add = [&](const ImageRecord& r, const std::optional<Reference>& tag) {
    auto [it, fresh] = index.emplace(r.id, out.size());
    if (fresh) out.push_back({r, {}});
    auto& tags = out[it->second].tags;
    if (tag && std::find(tags.begin(), tags.end(), *tag) == tags.end()) tags.push_back(*tag);
  };
  for (const auto& name : names) {
    Digest d = sha256_of("");
    if (Digest::try_parse(name, &d) || (name.size() == 64 && Digest::try_parse("sha256:" + name, &d))) {
      add(images.get(d), std::nullopt);
      continue;
    }
    Reference ref = parse_reference(name);
    if (ref.digest) {
      add(images.resolve(name), std::nullopt);
    } else if (ref.tag) {
      add(images.resolve(name), ref);
    } else {
      bool any = false;  // every tag of the repository
      for (const auto& r : images.list())
        for (const auto& t : r.repo_tags) {
          Reference tr = parse_reference(t);
          if (tr.name() != ref.name()) continue;
          add(r, tr);
          any = true;
        }
      if (!any) add(images.resolve(name), std::nullopt);  // an ID prefix, or "No such image"
    }
  }
  return out;
}

}  // namespace

void save_archive(ImageStore& images, ContentStore& content, const std::vector<std::string>& names, int out_fd) {
  std::vector<Selected> selected = select_images(images, names);
  if (selected.empty()) fail("save: no images given");
  TarOut tar(out_fd);
  tar.dir("blobs/");
  tar.dir("blobs/sha256/");
  std::set<Digest> written;
  ojson manifest_json = ojson::array();
  ojson index_manifests = ojson::array();
  ojson repositories = ojson::object();

  for (const auto& s : selected) {
    const ImageRecord& r = s.record;
    if (r.layers.empty()) fail("save: image {}: empty export - not implemented", r.id.str());
    std::string config = content.read(r.id);
    ojson layer_descs = ojson::array();
    ojson layer_paths = ojson::array();
    for (size_t i = 0; i < r.layers.size(); ++i) {
      const Digest& diff_id = r.diff_ids[i];
      const Digest& blob = r.layers[i].digest;
      uint64_t size;
      if (blob == diff_id) {
        size = content.size(blob);
      } else {  // compressed: count (and verify) first
        auto [got, n] = stream_layer(content, blob, [](const char*, size_t) {});
        if (got != diff_id) fail("save: layer {}: diff_id mismatch: expected {}, got {}", blob.str(), diff_id.str(), got.str());
        size = n;
      }
      if (written.insert(diff_id).second) {
        tar.file(blob_name(diff_id), size, [&](const auto& sink) {
          auto [got, n] = stream_layer(content, blob, sink);
          if (got != diff_id)
            fail("save: layer {}: diff_id mismatch: expected {}, got {}", blob.str(), diff_id.str(), got.str());
        });
      }
      layer_descs.push_back({{"mediaType", kOciLayer}, {"digest", diff_id.str()}, {"size", size}});
      layer_paths.push_back(blob_name(diff_id));
    }
    if (written.insert(r.id).second) tar.file(blob_name(r.id), config);

    ojson cfg = ojson::parse(config, nullptr, false);
    ojson platform = {{"architecture", cfg.is_object() ? cfg.value("architecture", "") : ""},
                      {"os", cfg.is_object() ? cfg.value("os", "") : ""}};
    std::string manifest = ojson{{"schemaVersion", 2},
                                 {"mediaType", kOciManifest},
                                 {"config", {{"mediaType", kOciConfig}, {"digest", r.id.str()}, {"size", config.size()}}},
                                 {"layers", layer_descs}}
                               .dump();
    Digest manifest_digest = sha256_of(manifest);
    if (written.insert(manifest_digest).second) tar.file(blob_name(manifest_digest), manifest);

    ojson repo_tags = s.tags.empty() ? ojson(nullptr) : ojson::array();
    ojson desc = {{"mediaType", kOciManifest},
                  {"digest", manifest_digest.str()},
                  {"size", manifest.size()},
                  {"platform", platform}};
    if (s.tags.empty()) index_manifests.push_back(desc);
    for (const auto& t : s.tags) {
      repo_tags.push_back(t.familiar());
      // Legacy "repositories" wants the v1 ID of the top layer; Berth has no
      // v1 IDs, so it records the top diff_id's hex (loaders use manifest.json).
      repositories[t.familiar_name()][*t.tag] = std::string(r.diff_ids.back().hex());
      ojson tagged = desc;
      tagged["annotations"] = {{"io.containerd.image.name", t.str()}, {"org.opencontainers.image.ref.name", *t.tag}};
      index_manifests.push_back(tagged);
    }
    manifest_json.push_back({{"Config", blob_name(r.id)}, {"RepoTags", repo_tags}, {"Layers", layer_paths}});
  }

  tar.file("index.json",
           ojson{{"schemaVersion", 2}, {"mediaType", kOciIndex}, {"manifests", index_manifests}}.dump() + "\n");
  tar.file("manifest.json", manifest_json.dump() + "\n");
  tar.file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  if (!repositories.empty()) tar.file("repositories", repositories.dump() + "\n");
  tar.close();
}

}  // namespace berth::image
