#include "image/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "base/clock.h"
#include "base/error.h"
#include "base/fs.h"
#include "image/reference.h"

namespace berth::image {

namespace {

constexpr std::string_view kRefsFile = "repositories.json";

bool is_hex_prefix(std::string_view s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

nlohmann::json record_to_json(const ImageRecord& r) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : r.layers)
    layers.push_back({{"digest", l.digest.str()}, {"mediaType", l.media_type}, {"size", l.size}});
  nlohmann::json diff_ids = nlohmann::json::array();
  for (const auto& d : r.diff_ids) diff_ids.push_back(d.str());
  nlohmann::json j = {{"id", r.id.str()}, {"layers", layers}, {"diff_ids", diff_ids}, {"added", r.added}};
  if (r.manifest_digest) j["manifest_digest"] = r.manifest_digest->str();
  if (r.parent) j["parent"] = r.parent->str();
  return j;
}

ImageRecord record_from_json(const nlohmann::json& j) {
  ImageRecord r{.id = Digest::parse(j.at("id").get<std::string>())};
  for (const auto& l : j.at("layers"))
    r.layers.push_back({Digest::parse(l.at("digest").get<std::string>()), l.at("mediaType").get<std::string>(),
                        l.at("size").get<uint64_t>()});
  for (const auto& d : j.at("diff_ids")) r.diff_ids.push_back(Digest::parse(d.get<std::string>()));
  if (j.contains("manifest_digest")) r.manifest_digest = Digest::parse(j["manifest_digest"].get<std::string>());
  // Records written before parents were tracked have none.
  if (j.contains("parent")) r.parent = Digest::parse(j["parent"].get<std::string>());
  r.added = j.value("added", "");
  return r;
}

// The key a reference is stored under: normalized, "name" meaning
// "name:latest", and a tag+digest reference looked up by its digest alone.
std::string ref_key(const std::string& reference) {
  Reference r = with_default_tag(parse_reference(reference));
  if (r.digest) r.tag.reset();
  return r.str();
}

// Apparent bytes of the regular files under dirfd, each inode once (as
// docker's layer size, which counts hardlinks once).
void add_sizes(int dirfd, std::set<std::pair<dev_t, ino_t>>* seen, uint64_t* total, const std::string& where) {
  DIR* d = ::fdopendir(::dup(dirfd));
  if (!d) fail_errno("size of {}: opendir", where);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  for (const auto& n : names) {
    struct stat st;
    if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) fail_errno("size of {}: stat {}", where, n);
    if (S_ISREG(st.st_mode)) {
      if (seen->insert({st.st_dev, st.st_ino}).second) *total += static_cast<uint64_t>(st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub.valid()) fail_errno("size of {}: open {}", where, n);
      add_sizes(sub.get(), seen, total, where);
    }
  }
}

}  // namespace

ImageStore::ImageStore(std::string root, ContentStore& content, SnapshotStore& snapshots)
    : dir_(path_join(root, "images")), content_(content), snapshots_(snapshots) {
  mkdir_all(dir_);
  load();
}

std::string ImageStore::record_path(const Digest& id) const { return path_join(dir_, std::string(id.hex()) + ".json"); }

void ImageStore::load() {
  DIR* d = ::opendir(dir_.c_str());
  if (!d) fail_errno("image store: opendir {}", dir_);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const auto& n : names) {
    // Only "<64 hex>.json": temp files of an interrupted atomic write are ignored.
    if (n.size() != 69 || !n.ends_with(".json") || !is_hex_prefix(std::string_view(n).substr(0, 64))) continue;
    std::string path = path_join(dir_, n);
    try {
      ImageRecord r = record_from_json(nlohmann::json::parse(read_file(path)));
      if (r.id.hex() != std::string_view(n).substr(0, 64)) fail("id {} does not match the file name", r.id.str());
      records_.emplace(r.id, std::move(r));
    } catch (const nlohmann::json::exception& e) {
      fail("image store: load {}: {}", path, e.what());
    } catch (const Error& e) {
      throw e.wrap(fmt::format("image store: load {}", path));
    }
  }
  // A crash in remove() between rewriting children and unlinking the parent
  // cannot leave this, but a record copied in by hand or a lost file can:
  // a link to nothing would show as a ParentId that resolves to no image.
  for (auto& [id, r] : records_)
    if (r.parent && !records_.count(*r.parent)) r.parent.reset();
  std::string text;
  if (!read_file_if_exists(path_join(dir_, kRefsFile), &text)) return;
  try {
    nlohmann::json doc = nlohmann::json::parse(text);
    for (const auto& [ref, id] : doc.at("refs").items()) {
      Digest d = Digest::parse(id.get<std::string>());
      // A crash between writing tags and a record leaves tags of nothing: drop them.
      if (records_.count(d)) refs_.emplace(ref, d);
    }
  } catch (const nlohmann::json::exception& e) {
    fail("image store: load {}: {}", path_join(dir_, kRefsFile), e.what());
  }
}

void ImageStore::save_refs() const {
  nlohmann::json refs = nlohmann::json::object();
  for (const auto& [ref, id] : refs_) refs[ref] = id.str();
  write_file_atomic(path_join(dir_, kRefsFile), nlohmann::json{{"refs", refs}}.dump(2) + "\n");
}

ImageRecord ImageStore::with_tags(const ImageRecord& r) const {
  ImageRecord out = r;
  for (const auto& [key, id] : refs_) {
    if (id != r.id) continue;
    Reference ref = parse_reference(key);
    (ref.digest ? out.repo_digests : out.repo_tags).push_back(ref.familiar());
  }
  std::sort(out.repo_tags.begin(), out.repo_tags.end());
  std::sort(out.repo_digests.begin(), out.repo_digests.end());
  return out;
}

ImageRecord ImageStore::add(const Digest& config_digest, const std::vector<LayerDescriptor>& layers,
                            std::optional<Digest> manifest_digest, std::optional<Digest> parent) {
  {
    std::lock_guard lock(mu_);
    if (auto it = records_.find(config_digest); it != records_.end()) return with_tags(it->second);
  }
  auto ctx = [&] { return fmt::format("add image {}", config_digest.short_str()); };
  ImageRecord r{.id = config_digest, .layers = layers, .manifest_digest = manifest_digest, .parent = parent};
  if (parent && *parent == config_digest) fail("{}: an image cannot be its own parent", ctx());
  try {
    nlohmann::json config = nlohmann::json::parse(content_.read(config_digest));
    for (const auto& d : config.at("rootfs").at("diff_ids")) r.diff_ids.push_back(Digest::parse(d.get<std::string>()));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: config: {}", ctx(), e.what());
  } catch (const Error& e) {
    throw e.wrap(ctx());
  }
  if (r.diff_ids.size() != layers.size())
    fail("{}: {} layers given, config lists {} diff_ids", ctx(), layers.size(), r.diff_ids.size());
  for (const auto& l : layers)
    if (!content_.exists(l.digest)) fail("{}: layer blob {} is not in the content store", ctx(), l.digest.str());
  for (const auto& c : r.chain_ids())
    if (!snapshots_.exists(c)) fail("{}: snapshot {} is not prepared", ctx(), c.str());
  if (manifest_digest && !content_.exists(*manifest_digest))
    fail("{}: manifest {} is not in the content store", ctx(), manifest_digest->str());
  r.added = now_rfc3339_nano();

  std::lock_guard lock(mu_);
  if (auto it = records_.find(config_digest); it != records_.end()) return with_tags(it->second);
  // Checked under the lock: the parent could be removed while blobs were checked.
  if (parent && !records_.count(*parent)) fail("{}: parent image {} does not exist", ctx(), parent->str());
  write_file_atomic(record_path(r.id), record_to_json(r).dump(2) + "\n");
  records_.emplace(r.id, r);
  return with_tags(r);
}

std::optional<Digest> ImageStore::lookup(const std::string& s) const {
  // ParseAnyReference: a full ID, with or without "sha256:".
  Digest full = sha256_of("");
  if (Digest::try_parse(s, &full) || (s.size() == 64 && Digest::try_parse("sha256:" + s, &full))) {
    if (records_.count(full)) return full;
    return std::nullopt;
  }
  std::string key = ref_key(s);  // throws for an invalid reference, as dockerd does
  if (auto it = refs_.find(key); it != refs_.end()) return it->second;
  std::string_view prefix = s;
  if (prefix.starts_with("sha256:")) prefix.remove_prefix(7);
  if (!is_hex_prefix(prefix)) return std::nullopt;
  std::optional<Digest> found;
  for (auto it = records_.lower_bound(Digest::from_hex(std::string(prefix) + std::string(64 - prefix.size(), '0')));
       it != records_.end() && it->first.hex().starts_with(prefix); ++it) {
    if (found) fail("ambiguous image ID prefix {}", s);
    found = it->first;
  }
  return found;
}

std::optional<ImageRecord> ImageStore::find(const std::string& ref_or_id) const {
  std::lock_guard lock(mu_);
  std::optional<Digest> id = lookup(ref_or_id);
  if (!id) return std::nullopt;
  return with_tags(records_.at(*id));
}

ImageRecord ImageStore::resolve(const std::string& ref_or_id) const {
  auto r = find(ref_or_id);
  if (!r) fail("No such image: {}", ref_or_id);
  return *r;
}

ImageRecord ImageStore::get(const Digest& id) const {
  std::lock_guard lock(mu_);
  auto it = records_.find(id);
  if (it == records_.end()) fail("No such image: {}", id.str());
  return with_tags(it->second);
}

std::vector<ImageRecord> ImageStore::list() const {
  std::lock_guard lock(mu_);
  std::vector<ImageRecord> out;
  for (const auto& [id, r] : records_) out.push_back(with_tags(r));
  return out;
}

std::vector<Digest> ImageStore::children(const Digest& id) const {
  std::lock_guard lock(mu_);
  std::vector<Digest> out;
  for (const auto& [other, r] : records_)
    if (r.parent == id) out.push_back(other);
  return out;  // records_ is ordered by ID
}

nlohmann::json ImageStore::config(const Digest& id) const {
  get(id);  // "No such image" before "blob not found"
  try {
    return nlohmann::json::parse(content_.read(id));
  } catch (const nlohmann::json::exception& e) {
    fail("image {}: config: {}", id.short_str(), e.what());
  }
}

uint64_t ImageStore::layer_size(const Digest& chain_id) const {
  std::string fs = snapshots_.fs_path(chain_id);
  UniqueFd fd(::open(fs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("size of layer {}: open {}", chain_id.short_str(), fs);
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = 0;
  add_sizes(fd.get(), &seen, &total, fs);
  return total;
}

uint64_t ImageStore::size(const Digest& id) const {
  std::vector<Digest> chain;
  {
    std::lock_guard lock(mu_);
    if (auto it = sizes_.find(id); it != sizes_.end()) return it->second;
    auto rec = records_.find(id);
    if (rec == records_.end()) fail("No such image: {}", id.str());
    chain = rec->second.chain_ids();
  }
  uint64_t total = 0;
  for (const auto& c : chain) total += layer_size(c);
  std::lock_guard lock(mu_);
  sizes_[id] = total;
  return total;
}

void ImageStore::tag(const Digest& id, const std::string& reference) {
  Reference r = with_default_tag(parse_reference(reference));
  if (r.tag && r.digest) fail("refusing to create a tag with a digest reference: {}", reference);
  std::lock_guard lock(mu_);
  if (!records_.count(id)) fail("No such image: {}", id.str());
  std::string key = r.str();
  std::optional<Digest> before;
  if (auto it = refs_.find(key); it != refs_.end()) before = it->second;
  refs_.insert_or_assign(key, id);
  try {
    save_refs();
  } catch (...) {  // keep memory in step with disk
    if (before) refs_.insert_or_assign(key, *before);
    else refs_.erase(key);
    throw;
  }
}

bool ImageStore::untag(const std::string& reference) {
  std::string key = ref_key(reference);
  std::lock_guard lock(mu_);
  auto it = refs_.find(key);
  if (it == refs_.end()) return false;
  Digest id = it->second;
  refs_.erase(it);
  try {
    save_refs();
  } catch (...) {
    refs_.emplace(key, id);
    throw;
  }
  return true;
}

void ImageStore::remove(const Digest& id) {
  std::lock_guard lock(mu_);
  auto it = records_.find(id);
  if (it == records_.end()) fail("No such image: {}", id.str());
  ImageRecord doomed = it->second;
  // Tags first, then the record: a crash in between leaves an untagged
  // image, never tags of a missing one.
  std::erase_if(refs_, [&](const auto& kv) { return kv.second == id; });
  save_refs();
  // Children before the record, so no record on disk names a missing parent.
  for (auto& [other, r] : records_) {
    if (r.parent != id) continue;
    ImageRecord orphan = r;
    orphan.parent.reset();
    write_file_atomic(record_path(other), record_to_json(orphan).dump(2) + "\n");
    r.parent.reset();
  }
  if (::unlink(record_path(id).c_str()) != 0 && errno != ENOENT) fail_errno("remove image {}", id.short_str());
  records_.erase(it);
  sizes_.erase(id);

  std::set<Digest> blobs_in_use, chains_in_use;
  for (const auto& [other, r] : records_) {
    blobs_in_use.insert(other);
    if (r.manifest_digest) blobs_in_use.insert(*r.manifest_digest);
    for (const auto& l : r.layers) blobs_in_use.insert(l.digest);
    for (const auto& c : r.chain_ids()) chains_in_use.insert(c);
  }
  content_.remove(id);
  if (doomed.manifest_digest && !blobs_in_use.count(*doomed.manifest_digest)) content_.remove(*doomed.manifest_digest);
  for (const auto& l : doomed.layers)
    if (!blobs_in_use.count(l.digest)) content_.remove(l.digest);
  for (const auto& c : doomed.chain_ids())
    if (!chains_in_use.count(c)) snapshots_.remove(c);
}

}  // namespace berth::image
