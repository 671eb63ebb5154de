#include "image/media_types.h"

#include <unistd.h>

#include <cerrno>

#include "base/error.h"

namespace berth::image {

BlobCompression compression_of(std::string_view h) {
  if (h.starts_with("\x1f\x8b")) return BlobCompression::gzip;
  if (h.starts_with("\x28\xb5\x2f\xfd")) return BlobCompression::zstd;
  if (h.starts_with("\xfd" "7zXZ\x00")) return BlobCompression::xz;
  if (h.starts_with("BZh")) return BlobCompression::bzip2;
  return BlobCompression::none;
}

BlobCompression compression_of_fd(int fd) {
  char buf[8];
  ssize_t n;
  do {
    n = ::pread(fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fail_errno("read blob header");
  return compression_of(std::string_view(buf, static_cast<size_t>(n)));
}

std::string layer_media_type(BlobCompression c) {
  switch (c) {
    case BlobCompression::none: return std::string(kDockerLayer);
    case BlobCompression::gzip: return std::string(kDockerLayerGzip);
    case BlobCompression::zstd: return std::string(kOciLayerZstd);
    case BlobCompression::xz: fail("xz-compressed layers are not supported (use gzip or zstd)");
    case BlobCompression::bzip2: fail("bzip2-compressed layers are not supported (use gzip or zstd)");
  }
  fail("unknown compression");
}

bool is_layer_media_type(std::string_view m) {
  for (std::string_view base : {std::string_view("application/vnd.oci.image.layer.v1.tar"),
                                std::string_view("application/vnd.oci.image.layer.nondistributable.v1.tar")}) {
    if (m == base) return true;
    if (m.starts_with(base) && (m.substr(base.size()) == "+gzip" || m.substr(base.size()) == "+zstd")) return true;
  }
  return m == kDockerLayer || m == kDockerLayerGzip ||
         m == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

bool is_foreign_layer_media_type(std::string_view m) {
  return m.starts_with("application/vnd.docker.image.rootfs.foreign.") ||
         m.starts_with("application/vnd.oci.image.layer.nondistributable.");
}

}  // namespace berth::image
