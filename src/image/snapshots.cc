#include "image/snapshots.h"

#include <dirent.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"

namespace berth::image {

Digest chain_id(const std::optional<Digest>& parent, const Digest& diff_id) {
  if (!parent) return diff_id;
  return sha256_of(parent->str() + " " + diff_id.str());
}

std::vector<Digest> chain_ids(const std::vector<Digest>& diff_ids) {
  std::vector<Digest> out;
  std::optional<Digest> parent;
  for (const auto& d : diff_ids) {
    out.push_back(chain_id(parent, d));
    parent = out.back();
  }
  return out;
}

SnapshotStore::SnapshotStore(std::string root) : root_(path_join(root, "snapshots")) {
  if (root_.find_first_of(":,") != std::string::npos)
    fail("snapshot root {}: ':' and ',' are not allowed (overlay mount options)", root_);
  mkdir_all(root_);
}

std::string SnapshotStore::dir(const Digest& id) const { return path_join(root_, id.hex()); }
std::string SnapshotStore::fs_path(const Digest& id) const { return path_join(dir(id), "fs"); }
bool SnapshotStore::exists(const Digest& id) const { return path_exists(dir(id)); }

Digest SnapshotStore::prepare(const std::optional<Digest>& parent, const Digest& diff_id, int layer_fd,
                              UnpackOptions opts, bool sync) {
  Digest id = chain_id(parent, diff_id);
  if (exists(id)) return id;
  if (opts.name == "layer") opts.name = diff_id.short_str();
  return unpack_into_place(parent, &diff_id, layer_fd, std::move(opts), nullptr, sync).chain_id;
}

SnapshotStore::Prepared SnapshotStore::prepare_unknown(const std::optional<Digest>& parent, int layer_fd,
                                                       UnpackOptions opts, bool* added) {
  return unpack_into_place(parent, nullptr, layer_fd, std::move(opts), added);
}

SnapshotStore::Prepared SnapshotStore::unpack_into_place(const std::optional<Digest>& parent,
                                                         const Digest* expected, int layer_fd, UnpackOptions opts,
                                                         bool* added, bool sync) {
  std::string label = expected ? std::string(chain_id(parent, *expected).hex().substr(0, 12)) : "new";
  std::string tmp = path_join(root_, ".tmp-" + label + "-XXXXXX");
  if (!::mkdtemp(tmp.data())) fail_errno("snapshot {}: create temp dir in {}", label, root_);
  try {
    mkdir_all(path_join(tmp, "fs"));
    LayerDigests got = unpack_layer(layer_fd, path_join(tmp, "fs"), opts);
    if (expected && got.diff_id != *expected)
      fail("layer {}: diff_id mismatch: expected {}, got {}", opts.name, expected->str(), got.diff_id.str());
    Digest id = chain_id(parent, got.diff_id);
    nlohmann::json meta = {{"chain_id", id.str()},
                           {"parent", parent ? parent->str() : ""},
                           {"diff_id", got.diff_id.str()},
                           {"tar_size", got.tar_size}};
    if (sync) write_file_atomic(path_join(tmp, "meta.json"), meta.dump() + "\n");
    else write_file_replace(path_join(tmp, "meta.json"), meta.dump() + "\n");
    bool fresh = true;
    if (exists(id)) {
      fresh = false;
      remove_all(tmp);
    } else {
      // The extracted files are durable before the snapshot appears under
      // its id: syncfs of this file system only, not every tenant's (sync).
      if (sync) {
        UniqueFd root(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!root.valid() || ::syncfs(root.get()) != 0) fail_errno("snapshot {}: syncfs", id.short_str());
      }
      if (::rename(tmp.c_str(), dir(id).c_str()) != 0) {
        if (errno != ENOTEMPTY && errno != EEXIST) fail_errno("snapshot {}: rename into place", id.short_str());
        fresh = false;
        remove_all(tmp);  // a concurrent prepare won; its copy is identical
      }
    }
    if (added) *added = fresh;
    return Prepared{id, got};
  } catch (...) {
    remove_all(tmp);
    throw;
  }
}

Digest SnapshotStore::adopt(const std::optional<Digest>& parent, const Digest& diff_id, const std::string& from,
                            uint64_t tar_size) {
  Digest id = chain_id(parent, diff_id);
  if (exists(id)) return id;
  std::string tmp = path_join(root_, ".tmp-" + std::string(id.hex().substr(0, 12)) + "-XXXXXX");
  if (!::mkdtemp(tmp.data())) fail_errno("snapshot {}: create temp dir in {}", id.short_str(), root_);
  try {
    nlohmann::json meta = {{"chain_id", id.str()},
                           {"parent", parent ? parent->str() : ""},
                           {"diff_id", diff_id.str()},
                           {"tar_size", tar_size}};
    write_file_replace(path_join(tmp, "meta.json"), meta.dump() + "\n");
    if (::rename(from.c_str(), path_join(tmp, "fs").c_str()) != 0) fail_errno("snapshot {}: move {}", id.short_str(), from);
    if (::rename(tmp.c_str(), dir(id).c_str()) != 0) {
      if (errno != ENOTEMPTY && errno != EEXIST) fail_errno("snapshot {}: rename into place", id.short_str());
      remove_all(tmp);  // a concurrent prepare won; its copy is identical
    }
    return id;
  } catch (...) {
    remove_all(tmp);
    throw;
  }
}

std::optional<uint64_t> SnapshotStore::tar_size(const Digest& id) const {
  std::string text;
  if (!read_file_if_exists(path_join(dir(id), "meta.json"), &text)) return std::nullopt;
  auto meta = nlohmann::json::parse(text, nullptr, false);
  if (!meta.is_object() || !meta.contains("tar_size") || !meta["tar_size"].is_number_unsigned()) return std::nullopt;
  return meta["tar_size"].get<uint64_t>();
}

bool SnapshotStore::remove(const Digest& id) {
  std::string doomed = path_join(root_, ".tmp-rm-" + std::string(id.hex().substr(0, 12)) + "-XXXXXX");
  if (!::mkdtemp(doomed.data())) fail_errno("snapshot {}: create temp dir", id.short_str());
  // Rename the snapshot onto the empty temp dir: it vanishes from its id atomically.
  if (::rename(dir(id).c_str(), doomed.c_str()) != 0) {
    int e = errno;
    ::rmdir(doomed.c_str());
    if (e == ENOENT) return false;
    errno = e;
    fail_errno("snapshot {}: remove", id.short_str());
  }
  remove_all(doomed);
  return true;
}

std::vector<Digest> SnapshotStore::list() const {
  std::vector<Digest> out;
  DIR* d = ::opendir(root_.c_str());
  if (!d) fail_errno("opendir {}", root_);
  while (struct dirent* e = ::readdir(d)) {
    Digest id = sha256_of("");
    if (Digest::try_parse(std::string("sha256:") + e->d_name, &id)) out.push_back(id);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string SnapshotStore::lowerdir_string(const std::vector<Digest>& chain) const {
  if (chain.empty()) fail("lowerdir: empty snapshot chain");
  std::string s;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!exists(*it)) fail("lowerdir: snapshot {} does not exist", it->str());
    if (!s.empty()) s += ':';
    s += fs_path(*it);
  }
  return s;
}

}  // namespace berth::image
