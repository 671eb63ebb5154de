// load_archive (archive.h) in three phases: extract the tar into a private
// directory (refusing unsafe entries), plan (parse and verify every piece of
// metadata, nothing stored yet), then store (blobs, snapshots, records,
// tags) with an Undo that removes what this call created if a step fails.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "image/archive.h"
#include "image/import.h"
#include "image/manifest.h"
#include "image/media_types.h"
#include "image/reference.h"
#include "image/undo.h"

namespace berth::image {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxMetadata = 32 << 20;  // manifest.json, index.json, configs, manifests

struct ReadFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

// Removes the extraction directory on every way out.
class TempTree {
 public:
  explicit TempTree(const std::string& parent) {
    mkdir_all(parent, 0700);
    path_ = path_join(parent, "load-XXXXXX");
    if (!::mkdtemp(path_.data())) fail_errno("load: create temp dir in {}", parent);
    fd_ = UniqueFd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd_.valid()) fail_errno("load: open {}", path_);
  }
  ~TempTree() {
    try {
      remove_all(path_);
    } catch (...) {  // leftovers under <root>/tmp are harmless
    }
  }
  int fd() const { return fd_.get(); }

 private:
  std::string path_;
  UniqueFd fd_;
};

// Cleans an archive member name: "./a//b" -> "a/b". Throws for absolute
// names and any ".." (docker's own archives never contain them).
std::string member_path(std::string_view raw) {
  if (raw.starts_with('/')) fail("absolute path");
  std::vector<std::string> parts;
  for (auto& c : split(raw, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") fail("path escapes the archive");
    parts.push_back(c);
  }
  return join(parts, "/");
}

// Whether a relative path, ".." applied lexically, stays inside the root.
bool stays_inside(std::string_view rel) {
  int depth = 0;
  for (auto& c : split(rel, '/')) {
    if (c.empty() || c == ".") continue;
    depth += c == ".." ? -1 : 1;
    if (depth < 0) return false;
  }
  return true;
}

std::string parent_of(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? "" : p.substr(0, s);
}

std::string base_of(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

void write_all(int fd, const char* p, size_t n, off_t off) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail_errno("write");
    p += w;
    n -= static_cast<size_t>(w);
    off += w;
  }
}

UniqueFd parent_dir(int root, const std::string& rel) {
  std::string parent = parent_of(rel);
  return parent.empty() ? open_in_root(root, ".", O_PATH | O_DIRECTORY) : mkdir_all_in_root(root, parent, 0700);
}

void extract_entry(int root, struct archive* a, struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (!raw) fail("entry without a usable name");
  std::string rel = member_path(raw);
  if (rel.empty()) return;  // "./"
  if (const char* hard = archive_entry_hardlink(e)) {
    // Copied rather than linked: the target is read through the confined resolver.
    std::string target = member_path(hard);
    UniqueFd src = open_in_root(root, target, O_RDONLY);
    UniqueFd p = parent_dir(root, rel);
    UniqueFd dst(::openat(p.get(), base_of(rel).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!dst.valid()) fail_errno("create");
    off_t off = 0;
    read_chunks(src.get(), target, [&](const char* b, size_t n) {
      write_all(dst.get(), b, n, off);
      off += static_cast<off_t>(n);
    });
    return;
  }
  switch (archive_entry_filetype(e)) {
    case AE_IFDIR:
      mkdir_all_in_root(root, rel, 0700);
      return;
    case AE_IFREG: {
      UniqueFd p = parent_dir(root, rel);
      UniqueFd fd(::openat(p.get(), base_of(rel).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd.valid()) fail_errno("create");
      const void* buf;
      size_t size;
      la_int64_t off;
      while (true) {
        int r = archive_read_data_block(a, &buf, &size, &off);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) fail("read data: {}", archive_error_string(a));
        write_all(fd.get(), static_cast<const char*>(buf), size, static_cast<off_t>(off));
      }
      if (archive_entry_size_is_set(e) && ::ftruncate(fd.get(), archive_entry_size(e)) != 0) fail_errno("truncate");
      return;
    }
    case AE_IFLNK: {
      // Old docker saves link duplicate layers ("../<id>/layer.tar"); allowed
      // while the target stays inside the archive.
      const char* target = archive_entry_symlink(e);
      if (!target || !*target) fail("symlink without target");
      if (target[0] == '/' || !stays_inside(parent_of(rel) + "/" + target))
        fail("symlink target {} escapes the archive", target);
      UniqueFd p = parent_dir(root, rel);
      if (::symlinkat(target, p.get(), base_of(rel).c_str()) != 0) fail_errno("symlink");
      return;
    }
    default:
      fail("unsupported entry type (only files, directories and links)");
  }
}

void extract(int in_fd, int root) {
  std::unique_ptr<struct archive, ReadFree> a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), in_fd, 1 << 16) != ARCHIVE_OK)
    fail("load: {}", archive_error_string(a.get()));
  size_t entries = 0;
  while (true) {
    struct archive_entry* e;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) fail("load: not a valid tar archive: {}", archive_error_string(a.get()));
    const char* name = archive_entry_pathname(e);
    try {
      extract_entry(root, a.get(), e);
    } catch (const Error& err) {
      throw err.wrap(fmt::format("load: entry {}", name ? std::string(name).substr(0, 200) : "?"));
    }
    ++entries;
  }
  if (entries == 0) fail("load: empty archive");
}

// ------------------------------------------------------------ planning

struct PlannedLayer {
  std::string path;                  // member holding the blob
  std::optional<Digest> blob_digest; // what it must hash to, when known
  std::optional<std::string> media_type;
  Digest diff_id;
};

struct PlannedImage {
  Digest id;           // the config's digest
  std::string config;  // its bytes (verified)
  std::vector<PlannedLayer> layers;
  std::optional<std::string> manifest;  // OCI/schema2 manifest bytes, stored too
  std::vector<Reference> tags;
};

bool member_exists(int root, const std::string& rel) {
  struct stat st;
  UniqueFd fd = try_open_in_root(root, rel, O_PATH);
  return fd.valid() && ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode);
}

UniqueFd open_member(int root, const std::string& raw) {
  std::string rel;
  try {
    rel = member_path(raw);
  } catch (const Error& e) {
    fail("{}: {}", raw, e.what());
  }
  UniqueFd fd = try_open_in_root(root, rel, O_RDONLY);
  if (!fd.valid()) fail("{}: not found in the archive", raw);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) fail_errno("stat {}", raw);
  if (!S_ISREG(st.st_mode)) fail("{}: not a regular file", raw);
  return fd;
}

std::string read_member(int root, const std::string& raw) {
  UniqueFd fd = open_member(root, raw);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) fail_errno("stat {}", raw);
  if (static_cast<size_t>(st.st_size) > kMaxMetadata) fail("{}: too large for metadata ({} bytes)", raw, st.st_size);
  return read_fd(fd.get(), raw);
}

std::string blob_path_in_layout(const Digest& d) { return "blobs/sha256/" + std::string(d.hex()); }

// "blobs/sha256/<hex>" or "<hex>.json" / "<hex>" name the digest of their bytes.
std::optional<Digest> digest_in_name(const std::string& raw) {
  std::string rel = member_path(raw);
  std::string base = base_of(rel);
  if (base.ends_with(".json")) base.resize(base.size() - 5);
  Digest d = sha256_of("");
  if (Digest::try_parse("sha256:" + base, &d) && (rel.starts_with("blobs/sha256/") || parent_of(rel).empty())) return d;
  return std::nullopt;
}

std::vector<Digest> diff_ids_of(const std::string& config, const std::string& what) {
  return config_diff_ids(parse_json_document(config, what), what);
}

void add_planned(std::vector<PlannedImage>* plan, PlannedImage img) {
  for (auto& p : *plan) {
    if (p.id != img.id) continue;
    for (auto& t : img.tags)
      if (std::find(p.tags.begin(), p.tags.end(), t) == p.tags.end()) p.tags.push_back(t);
    if (!p.manifest) p.manifest = img.manifest;
    return;
  }
  plan->push_back(std::move(img));
}

std::vector<PlannedImage> plan_docker_archive(int root) {
  std::vector<PlannedImage> plan;
  json m = parse_json_document(read_member(root, "manifest.json"), "manifest.json");
  if (!m.is_array()) fail("invalid manifest.json: not an array");
  for (size_t i = 0; i < m.size(); ++i) {
    const json& item = m[i];
    auto bad = [&](std::string_view why) { fail("invalid manifest.json: entry {}: {}", i, why); };
    if (!item.is_object()) bad("not an object");
    if (!item.contains("Config") || !item["Config"].is_string()) bad("Config must be a string");
    if (!item.contains("Layers") || !item["Layers"].is_array()) bad("Layers must be an array");
    if (item.contains("RepoTags") && !item["RepoTags"].is_null() && !item["RepoTags"].is_array())
      bad("RepoTags must be an array");
    std::string config_path = item["Config"];
    std::string config = read_member(root, config_path);
    PlannedImage img{.id = sha256_of(config), .config = config};
    if (auto want = digest_in_name(config_path); want && *want != img.id)
      fail("config {}: digest mismatch (got {})", config_path, img.id.str());
    std::vector<Digest> diff_ids = diff_ids_of(config, "config " + config_path);
    if (diff_ids.size() != item["Layers"].size())
      fail("image {}: manifest.json lists {} layers, config has {} diff_ids", img.id.short_str(), item["Layers"].size(),
           diff_ids.size());
    for (size_t k = 0; k < diff_ids.size(); ++k) {
      if (!item["Layers"][k].is_string()) bad("Layers must hold strings");
      std::string path = item["Layers"][k];
      open_member(root, path);  // present and regular, or an error naming it
      img.layers.push_back({path, digest_in_name(path), std::nullopt, diff_ids[k]});
    }
    if (item.contains("RepoTags") && item["RepoTags"].is_array()) {
      for (const auto& t : item["RepoTags"]) {
        if (!t.is_string()) bad("RepoTags must hold strings");
        Reference r = with_default_tag(parse_reference(t.get<std::string>()));
        if (r.digest) bad("RepoTags holds a digest reference");
        img.tags.push_back(r);
      }
    }
    add_planned(&plan, std::move(img));
  }
  return plan;
}

// A blob of the layout, checked against its descriptor.
std::string read_blob(int root, const Descriptor& d) {
  std::string path = blob_path_in_layout(d.digest);
  std::string data = read_member(root, path);
  Digest got = sha256_of(data);
  if (got != d.digest) fail("blob {}: digest mismatch (got {})", d.digest.str(), got.str());
  if (d.size && *d.size != data.size()) fail("blob {}: size {} differs from descriptor's {}", d.digest.str(), data.size(), *d.size);
  return data;
}

std::optional<Reference> name_from_annotations(const json& a) {
  std::string name;
  if (a.contains("io.containerd.image.name") && a["io.containerd.image.name"].is_string()) {
    name = a["io.containerd.image.name"];
  } else if (a.contains("org.opencontainers.image.ref.name") && a["org.opencontainers.image.ref.name"].is_string()) {
    // A bare tag ("latest") names no repository; a full reference does.
    std::string v = a["org.opencontainers.image.ref.name"];
    if (v.find_first_of(":/") != std::string::npos) name = v;
  }
  if (name.empty()) return std::nullopt;
  Reference r = with_default_tag(parse_reference(name));
  if (r.digest && !r.tag) return std::nullopt;  // digest names add nothing to a load
  r.digest.reset();
  return r;
}

void plan_oci_manifest(int root, const Descriptor& d, const std::optional<Reference>& name,
                       std::vector<PlannedImage>* plan, int depth) {
  if (depth > 4) fail("index nesting too deep at {}", d.digest.str());
  std::string bytes = read_blob(root, d);
  json m = parse_json_document(bytes, "manifest " + d.digest.str());
  std::string type = d.media_type.empty() ? manifest_media_type(m, "") : d.media_type;
  if (is_index_media_type(type)) {
    Platform host = Platform::host();
    std::optional<Descriptor> pick = pick_platform(m, host, "index " + d.digest.str());
    if (!pick) fail("index {}: no {} image", d.digest.str(), host.str());
    return plan_oci_manifest(root, *pick, name, plan, depth + 1);
  }
  ImageManifest im = parse_image_manifest(m, type, "manifest " + d.digest.str());
  std::string config = read_blob(root, im.config);
  PlannedImage img{.id = im.config.digest, .config = config, .manifest = bytes};
  std::vector<Digest> diff_ids = diff_ids_of(config, "config " + im.config.digest.str());
  if (diff_ids.size() != im.layers.size())
    fail("image {}: manifest lists {} layers, config has {} diff_ids", img.id.short_str(), im.layers.size(), diff_ids.size());
  for (size_t k = 0; k < diff_ids.size(); ++k) {
    const Descriptor& ld = im.layers[k];
    std::string path = blob_path_in_layout(ld.digest);
    UniqueFd fd = open_member(root, path);
    struct stat st;
    if (ld.size && (::fstat(fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_size) != *ld.size))
      fail("layer {}: size differs from its descriptor's {}", ld.digest.str(), *ld.size);
    img.layers.push_back({path, ld.digest, ld.media_type, diff_ids[k]});
  }
  if (name) img.tags.push_back(*name);
  add_planned(plan, std::move(img));
}

std::vector<PlannedImage> plan_oci_layout(int root) {
  json layout = parse_json_document(read_member(root, "oci-layout"), "oci-layout");
  if (!layout.is_object() || !layout.contains("imageLayoutVersion")) fail("invalid oci-layout: no imageLayoutVersion");
  json index = parse_json_document(read_member(root, "index.json"), "index.json");
  if (!index.is_object() || !index.contains("manifests") || !index["manifests"].is_array())
    fail("invalid index.json: no manifests array");
  std::vector<PlannedImage> plan;
  for (const auto& j : index["manifests"]) {
    Descriptor d = parse_descriptor(j, "index.json");
    plan_oci_manifest(root, d, name_from_annotations(d.annotations), &plan, 0);
  }
  return plan;
}

// ------------------------------------------------------------ storing

LoadedImage store(ContentStore& content, SnapshotStore& snapshots, ImageStore& images, int root,
                  const PlannedImage& p, Undo& undo) {
  std::vector<LayerDescriptor> layers;
  std::optional<Digest> parent;
  for (const auto& l : p.layers) {
    UniqueFd in = open_member(root, l.path);
    bool blob_new = false;
    Digest blob = content.put_fd(in.get(), &blob_new);
    if (blob_new) undo.add([&content, blob] { content.remove(blob); });
    if (l.blob_digest && blob != *l.blob_digest) fail("layer {}: digest mismatch (got {})", l.path, blob.str());
    UniqueFd fd = content.open(blob);
    std::string media_type = l.media_type ? *l.media_type : layer_media_type(compression_of_fd(fd.get()));
    Digest chain = chain_id(parent, l.diff_id);
    bool snap_new = !snapshots.exists(chain);
    UnpackOptions uo;
    uo.name = l.path;
    snapshots.prepare(parent, l.diff_id, fd.get(), uo);
    if (snap_new) undo.add([&snapshots, chain] { snapshots.remove(chain); });
    layers.push_back({blob, media_type, content.size(blob)});
    parent = chain;
  }
  if (!content.exists(p.id)) {
    content.ingest_bytes(p.config, p.id);
    undo.add([&content, id = p.id] { content.remove(id); });
  }
  std::optional<Digest> manifest_digest;
  if (p.manifest) {
    manifest_digest = sha256_of(*p.manifest);
    if (!content.exists(*manifest_digest)) {
      content.put(*p.manifest);
      undo.add([&content, d = *manifest_digest] { content.remove(d); });
    }
  }
  bool image_new = !images.find(p.id.str());
  ImageRecord r = images.add(p.id, layers, manifest_digest);
  if (image_new) undo.add([&images, id = p.id] { images.remove(id); });
  return LoadedImage{r.id, {}};
}

}  // namespace

std::vector<std::string> LoadResult::messages() const {
  std::vector<std::string> out;
  for (const auto& i : images) {
    if (i.tags.empty()) out.push_back("Loaded image ID: " + i.id.str());
    for (const auto& t : i.tags) out.push_back("Loaded image: " + t);
  }
  return out;
}

LoadResult load_archive(ContentStore& content, SnapshotStore& snapshots, ImageStore& images, int in_fd) {
  TempTree tmp(path_join(content.root(), "tmp"));
  extract(in_fd, tmp.fd());
  std::vector<PlannedImage> plan;
  try {
    if (member_exists(tmp.fd(), "manifest.json")) {
      plan = plan_docker_archive(tmp.fd());
    } else if (member_exists(tmp.fd(), "index.json")) {
      plan = plan_oci_layout(tmp.fd());
    } else {
      fail("archive has neither manifest.json nor index.json (not a docker-archive or OCI layout)");
    }
  } catch (const Error& e) {
    throw e.wrap("load");
  }
  if (plan.empty()) fail("load: archive contains no images");

  LoadResult result;
  Undo undo;
  try {
    for (const auto& p : plan) {
      result.images.push_back(store(content, snapshots, images, tmp.fd(), p, undo));
    }
  } catch (const Error& e) {
    throw e.wrap("load");
  }
  undo.commit();  // images are complete; tags may now point at them
  for (size_t i = 0; i < plan.size(); ++i)
    for (const auto& t : plan[i].tags) {
      images.tag(plan[i].id, t.str());
      result.images[i].tags.push_back(t.familiar());
    }
  return result;
}

}  // namespace berth::image
