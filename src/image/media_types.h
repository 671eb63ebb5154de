// Media types of image manifests, configs and layers (OCI image-spec and
// Docker's schema2), and sniffing a layer blob's compression from its magic
// bytes, so a layer stored "exactly as received" gets the right type.
#pragma once

#include <string>
#include <string_view>

namespace berth::image {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

enum class BlobCompression { none, gzip, zstd, xz, bzip2 };

// From the first bytes of a stream (at least 6 for xz).
BlobCompression compression_of(std::string_view head);
// Reads the first bytes of fd with pread (the offset is not moved).
BlobCompression compression_of_fd(int fd);
// Docker's schema2 types for none/gzip (what dockerd writes), OCI's for zstd
// (schema2 has none); throws for xz and bzip2, which no registry accepts.
std::string layer_media_type(BlobCompression c);
// Whether a manifest's layer media type is a tar we can unpack
// (tar, tar+gzip, tar+zstd in OCI and Docker spellings, incl. non-distributable).
bool is_layer_media_type(std::string_view media_type);
// Foreign (Docker) or non-distributable (OCI) layers: fetched from their
// descriptor's urls, never pushed (docker's default).
bool is_foreign_layer_media_type(std::string_view media_type);

}  // namespace berth::image
