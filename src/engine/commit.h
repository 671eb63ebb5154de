// commit_container: what `docker commit` does. The container's upper dir
// becomes a new layer on top of its image's layers.
//
// Contract (dockerd's daemon/commit.go):
// - The layer is write_layer_tar of the upper dir (overlay whiteouts back
//   to ".wh." entries; the runtime's empty mountpoints left out, see
//   container_changes.h), stored uncompressed as a blob and prepared as the
//   snapshot on top of the image's chain.
// - The run config is the body's config when given, else the container's;
//   `changes` (Dockerfile instructions, image/changes.h) are applied to it,
//   then fields it leaves empty are filled from the container's config
//   (dockerd's merge: Env and Labels and ExposedPorts and Volumes are
//   unions, the rest is taken when unset).
// - The image config is the parent's with: config, container (the id),
//   container_config, created, docker_version, author and comment (when
//   given), history + {created, created_by: the container's Cmd joined,
//   author, comment}, rootfs.diff_ids + the new diff_id.
// - A running container is paused while its upper dir is read when `pause`
//   (and resumed afterwards, also on failure); a paused one stays paused.
// - The reference is checked before anything is written. On failure
//   everything this call stored is removed again.
// - Publishes the container's "commit" event (comment, imageID, imageRef)
//   and, when tagged, the image's "tag" event.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "image/image_store.h"
#include "image/layer.h"

namespace berth::engine {

class Engine;

// An image to store: `config` is its complete config blob, except that
// store_image appends the new layer's diff_id to rootfs.diff_ids.
struct NewImage {
  nlohmann::ordered_json config;
  std::vector<image::LayerDescriptor> parent_layers;  // the layers below, bottom first
  std::optional<image::Digest> parent;                // recorded as the image's Parent
  std::string diff_dir;                               // "" for no new layer, else an overlay upper dir
  image::TarOptions tar;                              // how diff_dir is written
  // The builder's layers: no fsyncs (the kernel writes them back; a build can
  // be made again), and diff_dir, when it holds exactly what the tar does
  // (nothing skipped), becomes the snapshot itself instead of being unpacked.
  bool durable = true;
  bool adopt_diff_dir = false;
};
// Stores the layer (blob, snapshot), the config and the record, all or
// nothing. The layer is kept uncompressed: its blob digest is its diff_id.
image::ImageRecord store_image(Engine& eng, NewImage img);

struct CommitOptions {
  std::string reference;             // "repo[:tag]", or empty for an untagged image
  std::string comment;
  std::string author;
  std::vector<std::string> changes;  // `--change` instructions
  nlohmann::json config;             // the request body's container config; null for none
  bool pause = true;
};

image::ImageRecord commit_container(Engine& eng, const std::string& ref, const CommitOptions& opts);

// dockerd's merge(userConf, imageConf): fills what *user leaves empty from base.
void merge_run_config(nlohmann::ordered_json* user, const nlohmann::ordered_json& base);

}  // namespace berth::engine
