// The classic builder's private pieces, shared by builder.cc (stages and
// config-only steps), builder_run.cc (RUN) and builder_copy.cc (COPY/ADD).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "build/dockerfile.h"
#include "build/dockerignore.h"
#include "build/shell_expand.h"
#include "engine/build_cache.h"
#include "engine/builder.h"
#include "image/image_store.h"
#include "image/layer.h"

namespace berth::engine {

using nlohmann::ordered_json;

// One stage's state between steps.
struct StageState {
  std::optional<image::ImageRecord> image;  // nullopt: FROM scratch, nothing committed yet
  ordered_json config;                      // the image config blob being built on
  // ARGs declared in this stage, with their values (nullopt: declared, no value).
  std::map<std::string, std::optional<std::string>, std::less<>> args;
  bool cmd_set = false;                     // CMD given in this stage (ENTRYPOINT then keeps it)

  ordered_json& run_config() { return config["config"]; }
  std::string image_id() const { return image ? image->id.str() : ""; }
  // The SHELL, or /bin/sh -c.
  std::vector<std::string> shell() const;
  // The values variables expand to: the stage's args, overridden by its Env.
  std::map<std::string, std::string, std::less<>> variables() const;
};

// Removes a directory tree on destruction (unmounting what is mounted below first).
class ScratchDir {
 public:
  ScratchDir() = default;
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Build {
 public:
  Build(Engine& eng, const BuildOptions& opts, const BuildOutput& out, std::stop_token stop);
  ~Build();
  Build(const Build&) = delete;
  Build& operator=(const Build&) = delete;
  std::string run();

  // --- for the step files (builder_run.cc, builder_copy.cc)
  void run_step(StageState& st, const build::Instruction& inst);
  void copy_step(StageState& st, const build::Instruction& inst);

  Engine& engine() { return eng_; }
  const BuildOptions& options() const { return opts_; }
  std::stop_token stop_token() const { return stop_; }
  void say(const std::string& text) const;
  std::string expand(const StageState& st, const std::string& text);
  // The args a RUN sees and history records: declared with a value, not
  // shadowed by Env; for history without the proxy args ("K=V", sorted).
  std::vector<std::string> build_arg_env(const StageState& st, bool for_history) const;
  // Cache: the key of a step on top of st's image; use_cache moves st onto
  // a cached result (and says so) when there is one.
  image::Digest step_key(const StageState& st, const std::string& what) const;
  bool use_cache(StageState& st, const image::Digest& key);
  // Stores a new image on top of st (with the layer in diff_dir when given),
  // records it in the cache under key and moves st onto it.
  void commit(StageState& st, const image::Digest& key, const std::string& created_by, ordered_json container_config,
              const std::string& diff_dir = "", const image::TarOptions& tar = {});
  // An overlay of img (its layers under a fresh upper dir) at <dir>/merged,
  // unmounted and removed with the ScratchDir.
  std::unique_ptr<ScratchDir> mount_image(const std::optional<image::ImageRecord>& img);
  // COPY --from: a stage's result (by name or index) or an image.
  image::ImageRecord copy_from_image(const std::string& from);
  const build::DockerIgnore* context_ignore();
  // A private directory for this build's temporary files, removed with it.
  std::string scratch_dir();

 private:
  void print_step(const build::Instruction& inst);
  std::vector<size_t> stages_to_build(size_t target) const;
  void from_step(StageState& st, const build::Stage& stage);
  void dispatch(StageState& st, const build::Instruction& inst);
  void config_step(StageState& st, const build::Instruction& inst);
  void run_triggers(StageState& st);
  // A config-only step: history "#(nop)  <text>", no layer.
  void commit_nop(StageState& st, const std::string& text);
  std::vector<std::string> expand_words(const StageState& st, const std::string& text);
  image::ImageRecord resolve_image(const std::string& ref);
  void done_step(const StageState& st);
  std::optional<std::string> arg_value(const std::string& name, const std::optional<std::string>& dflt);

  Engine& eng_;
  const BuildOptions& opts_;
  const BuildOutput& out_;
  std::stop_token stop_;
  BuildCache cache_;
  build::Dockerfile df_;
  build::ShellLex lex_;
  std::map<std::string, std::optional<std::string>, std::less<>> meta_args_;  // global ARGs, values resolved
  std::set<std::string> consumed_args_;
  std::map<size_t, std::string> stage_images_;  // stage index -> its result image ID
  std::optional<build::DockerIgnore> ignore_;
  int step_ = 0, total_steps_ = 0;
  std::string scratch_;
};


}  // namespace berth::engine
