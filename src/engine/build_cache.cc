#include "engine/build_cache.h"

#include <dirent.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::engine {

namespace {

std::vector<std::string> entry_names(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') out.emplace_back(e->d_name);
  ::closedir(d);
  return out;
}

}  // namespace

BuildCache::BuildCache(const std::string& data_root, const image::ImageStore& images)
    : dir_(path_join(data_root, "builder/cache")), images_(images) {
  mkdir_all(dir_, 0700);
}

std::string BuildCache::path(const image::Digest& key) const { return path_join(dir_, key.hex()); }

std::optional<image::Digest> BuildCache::lookup(const image::Digest& key) const {
  std::string text;
  if (!read_file_if_exists(path(key), &text)) return std::nullopt;
  try {
    image::Digest id = image::Digest::parse(std::string(trim(text)));
    if (images_.find(id.str())) return id;
  } catch (const Error&) {
    // A damaged entry is a miss; the step rewrites it.
  }
  ::unlink(path(key).c_str());
  return std::nullopt;
}

void BuildCache::store(const image::Digest& key, const image::Digest& image_id) const {
  // Not fsynced: a lost entry only costs a rebuild of that step.
  write_file_replace(path(key), image_id.str() + "\n", 0600);
}

std::vector<image::Digest> BuildCache::prune() const {
  std::vector<image::Digest> ids;
  for (const auto& name : entry_names(dir_)) {
    std::string text;
    if (read_file_if_exists(path_join(dir_, name), &text)) {
      try {
        ids.push_back(image::Digest::parse(std::string(trim(text))));
      } catch (const Error&) {
      }
    }
    ::unlink(path_join(dir_, name).c_str());
  }
  return ids;
}

size_t BuildCache::size() const { return entry_names(dir_).size(); }

}  // namespace berth::engine
