// Test helpers shared by src/image/*_test.cc: a temp directory removed on
// destruction, tar archives built in memory with libarchive's writer, and
// images stored the way a pull would (blobs, snapshots, record).
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>

#include <fcntl.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"
#include "image/content_store.h"
#include "image/image_store.h"
#include "image/snapshots.h"

namespace berth::image::testing {

using berth::test::TempDir;

// One tar entry; type is 'f' file, 'd' dir, 'l' symlink, 'h' hardlink,
// 'c'/'b' char/block device, 'p' fifo.
struct TarEntry {
  std::string name;
  char type = 'f';
  std::string data;  // file contents
  std::string link;  // symlink target / hardlink target
  unsigned mode = 0644;
  long uid = 0, gid = 0;
  long long mtime = 1600000000;
  unsigned rdev_major = 0, rdev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

enum class Compression { none, gzip, zstd };

inline std::string build_tar(const std::vector<TarEntry>& entries, Compression c = Compression::none) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (c == Compression::gzip) archive_write_add_filter_gzip(a);
  if (c == Compression::zstd) archive_write_add_filter_zstd(a);
  archive_write_set_bytes_in_last_block(a, 1);
  std::string out(64 << 20, '\0');
  size_t used = 0;
  if (archive_write_open_memory(a, out.data(), out.size(), &used) != ARCHIVE_OK)
    fail("tar open: {}", archive_error_string(a));
  for (const auto& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.name.c_str());
    archive_entry_set_uid(ae, e.uid);
    archive_entry_set_gid(ae, e.gid);
    archive_entry_set_mtime(ae, e.mtime, 0);
    unsigned type = AE_IFREG;
    switch (e.type) {
      case 'd': type = AE_IFDIR; break;
      case 'l': type = AE_IFLNK; archive_entry_set_symlink(ae, e.link.c_str()); break;
      case 'h': archive_entry_set_hardlink(ae, e.link.c_str()); break;
      case 'c': type = AE_IFCHR; break;
      case 'b': type = AE_IFBLK; break;
      case 'p': type = AE_IFIFO; break;
    }
    archive_entry_set_filetype(ae, type);
    archive_entry_set_perm(ae, e.mode);
    if (e.type == 'c' || e.type == 'b') {
      archive_entry_set_rdevmajor(ae, e.rdev_major);
      archive_entry_set_rdevminor(ae, e.rdev_minor);
    }
    for (const auto& [k, v] : e.xattrs) archive_entry_xattr_add_entry(ae, k.c_str(), v.data(), v.size());
    if (e.type == 'f') archive_entry_set_size(ae, static_cast<la_int64_t>(e.data.size()));
    if (archive_write_header(a, ae) != ARCHIVE_OK) fail("tar header {}: {}", e.name, archive_error_string(a));
    if (e.type == 'f' && !e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(ae);
  }
  if (archive_write_close(a) != ARCHIVE_OK) fail("tar close: {}", archive_error_string(a));
  archive_write_free(a);
  out.resize(used);
  return out;
}

// The stores of one root directory, as the engine holds them.
struct Stores {
  explicit Stores(const std::string& root) : content(root), snapshots(root), images(root, content, snapshots) {}
  ContentStore content;
  SnapshotStore snapshots;
  ImageStore images;
};

inline const char* layer_media_type(Compression c) {
  switch (c) {
    case Compression::gzip: return "application/vnd.docker.image.rootfs.diff.tar.gzip";
    case Compression::zstd: return "application/vnd.oci.image.layer.v1.tar+zstd";
    default: return "application/vnd.docker.image.rootfs.diff.tar";
  }
}

// Stores layers (each a list of entries, blobs compressed with c), a config
// (`extra` merged over a minimal linux/amd64 one, e.g. to make IDs differ)
// and the image record; returns the record.
inline ImageRecord add_image(Stores& s, const std::vector<std::vector<TarEntry>>& layers,
                             const nlohmann::json& extra = nlohmann::json::object(),
                             Compression c = Compression::none) {
  std::vector<LayerDescriptor> descs;
  nlohmann::json diff_ids = nlohmann::json::array();
  std::optional<Digest> parent;
  for (const auto& entries : layers) {
    std::string plain = build_tar(entries), blob = build_tar(entries, c);
    Digest diff_id = sha256_of(plain), digest = s.content.put(blob);
    UniqueFd fd = s.content.open(digest);
    parent = s.snapshots.prepare(parent, diff_id, fd.get());
    descs.push_back({digest, layer_media_type(c), blob.size()});
    diff_ids.push_back(diff_id.str());
  }
  nlohmann::json config = {{"architecture", "amd64"},
                           {"os", "linux"},
                           {"created", "2024-01-02T03:04:05Z"},
                           {"config", {{"Cmd", {"sh"}}}},
                           {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  if (extra.is_object()) config.merge_patch(extra);  // `{}` at a call site is null, not an empty patch
  Digest id = s.content.put(config.dump());
  return s.images.add(id, descs);
}

}  // namespace berth::image::testing
