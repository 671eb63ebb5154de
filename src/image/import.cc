#include "image/import.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "image/changes.h"
#include "image/media_types.h"
#include "image/reference.h"
#include "image/undo.h"

namespace berth::image {

std::string host_architecture() {
  struct utsname u;
  if (::uname(&u) != 0) return "amd64";
  std::string_view m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64" || m == "arm64") return "arm64";
  if (m.starts_with("arm")) return "arm";
  if (m == "i386" || m == "i686") return "386";
  if (m == "ppc64le") return "ppc64le";
  if (m == "s390x") return "s390x";
  if (m == "riscv64") return "riscv64";
  return std::string(m);
}

ImageRecord import_rootfs(ContentStore& content, SnapshotStore& snapshots, ImageStore& images, int tar_fd,
                          const ImportOptions& opts) {
  auto ctx = [] { return std::string("import"); };
  nlohmann::ordered_json run_config = nlohmann::ordered_json::object();
  std::optional<Reference> ref;
  try {
    apply_changes(&run_config, opts.changes);
    if (!opts.reference.empty()) {
      ref = with_default_tag(parse_reference(opts.reference));
      if (ref->digest) fail("cannot import with a digest reference: {}", opts.reference);
    }
  } catch (const Error& e) {
    throw e.wrap(ctx());
  }

  Undo undo;
  try {
    bool blob_new = false;
    Digest blob = content.put_fd(tar_fd, &blob_new);
    if (blob_new) undo.add([&content, blob] { content.remove(blob); });
    UniqueFd fd = content.open(blob);
    std::string media_type = layer_media_type(compression_of_fd(fd.get()));
    UnpackOptions uo;
    uo.name = blob.short_str();
    bool snap_new = false;
    SnapshotStore::Prepared layer = snapshots.prepare_unknown(std::nullopt, fd.get(), uo, &snap_new);
    if (snap_new) undo.add([&snapshots, id = layer.chain_id] { snapshots.remove(id); });

    std::string created = now_rfc3339_nano();
    std::string comment = opts.message.empty() ? "Imported from " + opts.source : opts.message;
    nlohmann::ordered_json config = {
        {"comment", comment},
        {"created", created},
        {"config", run_config},
        {"architecture", host_architecture()},
        {"os", "linux"},
        {"rootfs", {{"type", "layers"}, {"diff_ids", {layer.digests.diff_id.str()}}}},
        {"history", {{{"created", created}, {"comment", comment}}}},
    };
    std::string bytes = config.dump();
    Digest id = sha256_of(bytes);
    if (!content.exists(id)) {
      content.put(bytes);
      undo.add([&content, id] { content.remove(id); });
    }
    bool image_new = !images.find(id.str());
    ImageRecord rec = images.add(id, {{blob, media_type, layer.digests.size}});
    if (image_new) undo.add([&images, id] { images.remove(id); });
    if (ref) {
      images.tag(id, ref->str());
      rec = images.get(id);
    }
    undo.commit();
    return rec;
  } catch (const Error& e) {
    throw e.wrap(ctx());
  }
}

}  // namespace berth::image
