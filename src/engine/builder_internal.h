// The classic builder's private pieces, shared by builder.cc (stages and
// config-only steps), builder_run.cc (RUN) and builder_copy.cc (COPY/ADD).
//
// Stages whose dependencies (the stages their FROM, COPY --from and RUN
// --mount from= name) are built run concurrently, each on its own thread;
// the step methods are therefore called from several threads at once and
// Build's shared state is guarded. say() writes to the calling thread's
// stage, whose output is held back until every earlier stage's has been
// sent, so the client sees what a sequential build would print.
#pragma once

#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "build/copy_sources.h"
#include "build/dockerfile.h"
#include "build/dockerignore.h"
#include "build/shell_expand.h"
#include "engine/build_cache.h"
#include "engine/builder.h"
#include "image/image_store.h"
#include "image/layer.h"

namespace berth::engine {

using nlohmann::ordered_json;

// Run config helpers (builder_config.cc).
std::string env_name(const std::string& kv);  // "K=V" -> "K"
void set_env(ordered_json& run_config, const std::string& key, const std::string& value);
ordered_json string_array(const std::vector<std::string>& v);
// Go's fmt %v of a []string: "[a b c]", as dockerd's history shows lists.
std::string go_list(const std::vector<std::string>& v);

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

// Where COPY finds files it may hard-link instead of copying (builder_copy.cc).
struct LinkIndex {
  std::string fs;                            // the earlier layer's snapshot fs dir; "" for none
  std::map<std::string, std::string> files;  // dest -> content digest in that layer
  // The earlier copy of it, if it has the same content, else "".
  std::string candidate(const build::CopyItem& it) const;
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

// A stage of the build on its way: its place in the output and its outcome.
struct StageRun {
  enum class State { kWaiting, kRunning, kDone, kFailed };
  size_t index = 0;          // in the Dockerfile
  int first_step = 0;        // its FROM's step number, as a sequential build counts
  std::vector<size_t> deps;  // positions (in Build::runs_) of the stages it needs
  State state = State::kWaiting;
  StageState st;             // its result once kDone
  std::exception_ptr error;  // once kFailed
  bool cancelled = false;    // failed after the build was stopped (by the client or another stage)
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
  // To the client: right away from the stage that streams (or outside the
  // stages), else held until the earlier stages' output has been sent.
  void say(const std::string& text) const;
  std::string expand(const StageState& st, const std::string& text);
  // The args a RUN sees and history records: declared with a value, not
  // shadowed by Env; for history without the proxy args ("K=V", sorted).
  std::vector<std::string> build_arg_env(const StageState& st, bool for_history) const;
  // Cache: the key of a step on top of st's image; use_cache moves st onto
  // a cached result (and says so) when there is one.
  image::Digest step_key(const StageState& st, const std::string& what) const;
  // created_by (RUN, COPY, ADD): also look for the step in --cache-from images.
  bool use_cache(StageState& st, const image::Digest& key, const std::string& created_by = "");
  bool use_cache_from(StageState& st, const image::Digest& key, const std::string& created_by);
  // Stores a new image on top of st (with the layer in diff_dir when given),
  // records it in the cache under key and moves st onto it.
  void commit(StageState& st, const image::Digest& key, const std::string& created_by, ordered_json container_config,
              const std::string& diff_dir = "", const image::TarOptions& tar = {});
  // An overlay of img (its layers under a fresh upper dir) at <dir>/merged,
  // unmounted and removed with the ScratchDir.
  std::unique_ptr<ScratchDir> mount_image(const std::optional<image::ImageRecord>& img);
  LinkIndex read_link_index(const image::Digest& key);
  void write_link_index(const image::Digest& key, const image::Digest& chain, const build::CopyPlan& plan);
  // COPY --from: a stage's result (by name or index) or an image.
  image::ImageRecord copy_from_image(const std::string& from);
  const build::DockerIgnore* context_ignore();
  // A private directory for this build's temporary files, removed with it.
  std::string scratch_dir();

 private:
  void print_step(const build::Instruction& inst, int step);
  std::vector<size_t> stage_deps(size_t i) const;
  std::vector<size_t> stages_to_build(size_t target) const;
  void build_stages(const std::vector<size_t>& stages, int first_step);
  void build_stage(StageRun& run);
  void stage_thread(size_t pos);
  void finish_stage(size_t pos, std::exception_ptr error);
  void wait_to_stream();
  void from_step(StageState& st, const build::Stage& stage);
  void check_platform(const std::string& ref, const ordered_json& config, std::string wanted);
  void dispatch(StageState& st, const build::Instruction& inst);
  void config_step(StageState& st, const build::Instruction& inst);
  void run_triggers(StageState& st);
  // A config-only step: history "#(nop)  <text>", no layer.
  void commit_nop(StageState& st, const std::string& text);
  std::vector<std::string> expand_words(const StageState& st, const std::string& text);
  image::ImageRecord resolve_image(const std::string& ref);
  void done_step(const StageState& st);
  std::optional<std::string> arg_value(const std::string& name, const std::optional<std::string>& dflt);

  struct RequestStop {
    std::stop_source* source;
    void operator()() const { source->request_stop(); }
  };

  Engine& eng_;
  const BuildOptions& opts_;
  const BuildOutput& out_;
  std::stop_source stopper_;  // stopped by the client's request or the first failing stage
  std::stop_token stop_;      // stopper_'s: what steps check and RUN waits on
  std::stop_callback<RequestStop> forward_request_stop_;
  BuildCache cache_;
  build::Dockerfile df_;      // read-only once stages run, like the members up to here
  build::ShellLex lex_;
  std::map<std::string, std::optional<std::string>, std::less<>> meta_args_;  // global ARGs, values resolved
  int total_steps_ = 0;

  // Guards the members below; out_ is called with it held, which keeps the
  // client's messages whole and in order.
  mutable std::mutex mu_;
  mutable std::condition_variable_any changed_;  // a stage finished or streaming_ moved
  std::set<std::string> consumed_args_;
  std::map<size_t, std::string> stage_images_;  // stage index -> its result image ID
  std::optional<build::DockerIgnore> ignore_;
  std::string scratch_;
  std::vector<StageRun> runs_;                  // the stages to build, in file order
  std::map<std::thread::id, size_t> run_of_thread_;
  size_t streaming_ = 0;                        // runs_[streaming_] says to the client directly
  mutable std::vector<std::string> held_;       // per run: output said before its turn
};


}  // namespace berth::engine
