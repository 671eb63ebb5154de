// The classic builder's driver: the stage graph and its threads, FROM, the
// config-only steps and the cache. RUN is in builder_run.cc, COPY/ADD in
// builder_copy.cc.
#include "engine/builder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <thread>

#include "base/clock.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "engine/builder_internal.h"
#include "engine/commit.h"
#include "engine/engine.h"
#include "engine/names.h"
#include "engine/rootfs_mount.h"
#include "image/reference.h"

namespace berth::engine {

namespace {

constexpr char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Docker passes these to RUN without an ARG and keeps them out of history.
bool is_proxy_arg(std::string_view name) {
  static constexpr std::string_view kProxies[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                                  "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                                  "ALL_PROXY",  "all_proxy"};
  return std::find(std::begin(kProxies), std::end(kProxies), name) != std::end(kProxies);
}





ordered_json scratch_config() {
  return ordered_json{{"architecture", "amd64"},
                      {"os", "linux"},
                      {"config", ordered_json{{"Env", ordered_json::array({kDefaultPath})}}},
                      {"rootfs", {{"type", "layers"}, {"diff_ids", ordered_json::array()}}},
                      {"history", ordered_json::array()}};
}

// Stages building at once: enough for the usual fan-out of a multi-stage
// Dockerfile without letting one build take every core and the disk.
constexpr size_t kMaxParallelStages = 4;


}  // namespace

std::vector<std::string> StageState::shell() const {
  const ordered_json& rc = config["config"];
  if (rc.contains("Shell") && rc["Shell"].is_array() && !rc["Shell"].empty()) {
    std::vector<std::string> out;
    for (const auto& s : rc["Shell"]) out.push_back(s.get<std::string>());
    return out;
  }
  return {"/bin/sh", "-c"};
}

std::map<std::string, std::string, std::less<>> StageState::variables() const {
  std::map<std::string, std::string, std::less<>> vars;
  for (const auto& [k, v] : args)
    if (v) vars[k] = *v;
  const ordered_json& rc = config["config"];
  if (rc.contains("Env") && rc["Env"].is_array())
    for (const auto& e : rc["Env"]) {
      std::string kv = e.get<std::string>();
      auto eq = kv.find('=');
      vars[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
  return vars;
}

ScratchDir::~ScratchDir() {
  if (path_.empty()) return;
  unmount_rootfs(rootfs_paths(path_));
  try {
    remove_all(path_);
  } catch (const Error& e) {
    fprintf(stderr, "berthd: build: %s\n", e.what());
  }
}

Build::Build(Engine& eng, const BuildOptions& opts, const BuildOutput& out, std::stop_token stop)
    : eng_(eng),
      opts_(opts),
      out_(out),
      stop_(stopper_.get_token()),
      forward_request_stop_(stop, RequestStop{&stopper_}),
      cache_(eng.options().data_root, eng.images()) {}

Build::~Build() {
  if (scratch_.empty()) return;
  try {
    remove_all(scratch_);
  } catch (const Error& e) {
    fprintf(stderr, "berthd: build: %s\n", e.what());
  }
}

void Build::say(const std::string& text) const {
  if (opts_.quiet) return;
  std::lock_guard lock(mu_);
  auto it = run_of_thread_.find(std::this_thread::get_id());
  if (it != run_of_thread_.end() && it->second != streaming_) held_[it->second] += text;
  else out_.stream(text);
}

std::string Build::scratch_dir() {
  std::lock_guard lock(mu_);
  if (scratch_.empty()) {
    scratch_ = path_join(eng_.options().data_root, "builder/tmp/" + random_id().substr(0, 16));
    mkdir_all(scratch_, 0700);
  }
  return scratch_;
}

const build::DockerIgnore* Build::context_ignore() {
  std::lock_guard lock(mu_);
  if (!ignore_) {
    std::string text;
    ignore_ = read_file_if_exists(path_join(opts_.context_dir, ".dockerignore"), &text)
                  ? build::DockerIgnore::parse(text)
                  : build::DockerIgnore();
  }
  return ignore_->empty() ? nullptr : &*ignore_;
}

std::string Build::expand(const StageState& st, const std::string& text) {
  auto vars = st.variables();
  auto e = lex_.expand(text, build::lookup_in(vars));
  std::lock_guard lock(mu_);
  consumed_args_.insert(e.matched.begin(), e.matched.end());
  return e.word;
}

std::vector<std::string> Build::expand_words(const StageState& st, const std::string& text) {
  auto vars = st.variables();
  return lex_.expand(text, build::lookup_in(vars)).words;
}

std::vector<std::string> Build::build_arg_env(const StageState& st, bool for_history) const {
  std::set<std::string> env_keys;
  const ordered_json& rc = st.config["config"];
  if (rc.contains("Env") && rc["Env"].is_array())
    for (const auto& e : rc["Env"]) env_keys.insert(env_name(e.get<std::string>()));
  std::vector<std::string> out;
  for (const auto& [k, v] : st.args)
    if (v && !env_keys.count(k) && !(for_history && is_proxy_arg(k))) out.push_back(k + "=" + *v);
  if (!for_history)
    for (const auto& [k, v] : opts_.build_args)
      if (is_proxy_arg(k) && v && !st.args.count(k)) out.push_back(k + "=" + *v);
  return out;
}

std::optional<std::string> Build::arg_value(const std::string& name, const std::optional<std::string>& dflt) {
  auto it = opts_.build_args.find(name);
  if (it != opts_.build_args.end() && it->second) return it->second;
  return dflt;
}

image::Digest Build::step_key(const StageState& st, const std::string& what) const {
  return image::sha256_of(st.image_id() + "\n" + what);
}

bool Build::use_cache(StageState& st, const image::Digest& key, const std::string& created_by) {
  if (opts_.no_cache) return false;
  auto hit = cache_.lookup(key);
  if (!hit) {
    if (created_by.empty() || !use_cache_from(st, key, created_by)) return false;
    hit = st.image->id;
  }
  st.image = eng_.images().get(*hit);
  st.config = ordered_json::parse(eng_.content().read(*hit));
  say(" ---> Using cache\n");
  return true;
}

// --cache-from (dockerd's imageSourcesCache): when the step's parent is a
// prefix of a source image (the same history and layers so far) and that
// image's next history entry is this step, the step takes that entry's
// layer instead of running. The source's layers are local already, so the
// result is a new record over existing snapshots.
bool Build::use_cache_from(StageState& st, const image::Digest& key, const std::string& created_by) {
  if (opts_.cache_from.empty() || !st.image) return false;
  const ordered_json& mine = st.config["history"];
  size_t entries = mine.is_array() ? mine.size() : 0, layers = st.image->diff_ids.size();
  for (const auto& ref : opts_.cache_from) {
    auto source = eng_.images().find(ref);
    if (!source || source->diff_ids.size() <= layers ||
        !std::equal(st.image->diff_ids.begin(), st.image->diff_ids.end(), source->diff_ids.begin()))
      continue;
    ordered_json theirs = ordered_json::parse(eng_.content().read(source->id)).value("history", ordered_json::array());
    if (!theirs.is_array() || theirs.size() <= entries) continue;
    bool same = true;
    for (size_t i = 0; i < entries && same; ++i)
      same = theirs[i].value("created_by", "") == mine[i].value("created_by", "") &&
             theirs[i].value("empty_layer", false) == mine[i].value("empty_layer", false);
    const ordered_json& next = theirs[entries];
    if (!same || next.value("created_by", "") != created_by || next.value("empty_layer", false)) continue;
    NewImage img;
    img.config = st.config;
    img.config["created"] = next.value("created", now_rfc3339_nano());
    img.config["history"].push_back(next);
    img.config["rootfs"]["diff_ids"].push_back(source->diff_ids[layers].str());
    img.parent_layers = st.image->layers;
    img.parent_layers.push_back(source->layers[layers]);
    img.parent = st.image->id;
    image::ImageRecord rec = store_image(eng_, std::move(img));
    cache_.store(key, rec.id);
    st.image = rec;
    return true;
  }
  return false;
}

void Build::commit(StageState& st, const image::Digest& key, const std::string& created_by,
                   ordered_json container_config, const std::string& diff_dir, const image::TarOptions& tar) {
  NewImage img;
  img.config = st.config;
  std::string created = now_rfc3339_nano();
  img.config["created"] = created;
  img.config["docker_version"] = "berth";
  img.config["container_config"] = std::move(container_config);
  img.config.erase("container");
  ordered_json entry = {{"created", created}, {"created_by", created_by}};
  if (diff_dir.empty()) entry["empty_layer"] = true;
  if (!img.config.contains("history") || !img.config["history"].is_array())
    img.config["history"] = ordered_json::array();
  img.config["history"].push_back(entry);
  if (st.image) {
    img.parent_layers = st.image->layers;
    img.parent = st.image->id;
  }
  img.diff_dir = diff_dir;
  img.tar = tar;
  img.durable = false;         // see sync_after_build
  img.adopt_diff_dir = true;   // used unless tar skips entries (RUN's runtime placeholders)
  image::ImageRecord rec = store_image(eng_, std::move(img));
  cache_.store(key, rec.id);
  st.image = rec;
  st.config = ordered_json::parse(eng_.content().read(rec.id));
}

void Build::commit_nop(StageState& st, const std::string& text) {
  std::vector<std::string> shell = st.shell();
  std::string created_by = join(shell, " ") + " #(nop)  " + text;
  image::Digest key = step_key(st, created_by);
  if (use_cache(st, key)) return;
  ordered_json cc = st.run_config();
  std::vector<std::string> cmd = shell;
  cmd.push_back("#(nop) ");
  cmd.push_back(text);
  cc["Cmd"] = string_array(cmd);
  cc["Image"] = st.image_id();
  commit(st, key, created_by, std::move(cc));
}

void Build::done_step(const StageState& st) { say(" ---> " + (st.image ? st.image->id.str().substr(7, 12) : "") + "\n"); }

void Build::print_step(const build::Instruction& inst, int step) {
  if (stop_.stop_requested()) throw BuildError("build cancelled", 1);
  say(fmt::format("Step {}/{} : {}", step, total_steps_, inst.original));
  say("\n");
}

// A pull reports its progress to the client itself, past say(): it waits
// until the stage's output is the one the client sees.
void Build::wait_to_stream() {
  std::unique_lock lock(mu_);
  auto it = run_of_thread_.find(std::this_thread::get_id());
  if (it == run_of_thread_.end()) return;
  size_t pos = it->second;
  if (!changed_.wait(lock, stop_, [&] { return streaming_ == pos; })) throw BuildError("build cancelled", 1);
}

image::ImageRecord Build::resolve_image(const std::string& ref) {
  if (!opts_.pull) {
    if (auto img = eng_.images().find(ref)) return *img;
  }
  if (!out_.pull) throw BuildError("No such image: " + ref, 1);
  wait_to_stream();
  out_.pull(ref);
  return eng_.images().resolve(ref);
}

image::ImageRecord Build::copy_from_image(const std::string& from) {
  std::optional<std::string> built;
  {
    std::lock_guard lock(mu_);
    for (const auto& stage : df_.stages)
      if (stage_images_.count(stage.index) && (to_lower(from) == stage.name || from == std::to_string(stage.index)))
        built = stage_images_.at(stage.index);
  }
  if (built) return eng_.images().get(image::Digest::parse(*built));
  try {
    return resolve_image(from);
  } catch (const Error& e) {
    throw BuildError(fmt::format("invalid from flag value {}: {}", from, e.what()), 1);
  }
}

// The earlier stages stage i reads: those its FROM (expanded with the
// global ARGs, as from_step does), COPY/ADD --from and RUN --mount from=
// name. A --from with variables is resolved only as the stage runs, so it
// could be any of them.
std::vector<size_t> Build::stage_deps(size_t i) const {
  std::set<size_t> deps;
  auto add = [&](const std::string& ref) {
    for (size_t j = 0; j < i; ++j)
      if (ref.find('$') != std::string::npos || (!df_.stages[j].name.empty() && df_.stages[j].name == to_lower(ref)) ||
          ref == std::to_string(j))
        deps.insert(j);
  };
  std::map<std::string, std::string, std::less<>> meta;
  for (const auto& [k, v] : meta_args_)
    if (v) meta[k] = *v;
  const build::Stage& s = df_.stages[i];
  add(lex_.process_word(s.base, build::lookup_in(meta)));
  for (const auto& inst : s.instructions) {
    if (inst.keyword == "COPY" || inst.keyword == "ADD") {
      if (auto from = inst.flag("from")) add(*from);
    } else if (inst.keyword == "RUN") {
      for (const auto& spec : inst.flag_all("mount"))
        for (const auto& field : split(spec, ',')) {
          auto eq = field.find('=');
          if (eq != std::string::npos && to_lower(std::string(trim(field.substr(0, eq)))) == "from")
            add(field.substr(eq + 1));
        }
    }
  }
  return {deps.begin(), deps.end()};
}

// The stages the target needs: itself and, transitively, the stages they
// read. (Docker's classic builder builds every stage up to the target;
// BuildKit builds only these.)
std::vector<size_t> Build::stages_to_build(size_t target) const {
  std::set<size_t> need;
  std::vector<size_t> todo = {target};
  while (!todo.empty()) {
    size_t i = todo.back();
    todo.pop_back();
    if (!need.insert(i).second) continue;
    for (size_t dep : stage_deps(i)) todo.push_back(dep);
  }
  return {need.begin(), need.end()};
}

// Runs the stages, each on its own thread once the stages it reads are
// built, at most kMaxParallelStages at once. The first failure stops the
// others (through stopper_); the error reported is that of the first stage
// in file order that failed by itself, after the output of the stages
// before it, as a sequential build would have reported it.
void Build::build_stages(const std::vector<size_t>& stages, int first_step) {
  std::unique_lock lock(mu_);
  for (size_t i : stages) {
    StageRun run;
    run.index = i;
    run.first_step = first_step;
    first_step += 1 + static_cast<int>(df_.stages[i].instructions.size());
    for (size_t dep : stage_deps(i))
      run.deps.push_back(static_cast<size_t>(std::find(stages.begin(), stages.end(), dep) - stages.begin()));
    runs_.push_back(std::move(run));
  }
  held_.assign(runs_.size(), "");
  auto has = [&](StageRun::State state) {
    return std::any_of(runs_.begin(), runs_.end(), [&](const StageRun& r) { return r.state == state; });
  };
  std::vector<std::thread> threads;
  for (;;) {
    size_t running = std::count_if(runs_.begin(), runs_.end(),
                                   [](const StageRun& r) { return r.state == StageRun::State::kRunning; });
    for (size_t pos = 0; pos < runs_.size() && running < kMaxParallelStages && !has(StageRun::State::kFailed); ++pos) {
      StageRun& run = runs_[pos];
      if (run.state != StageRun::State::kWaiting ||
          !std::all_of(run.deps.begin(), run.deps.end(),
                       [&](size_t d) { return runs_[d].state == StageRun::State::kDone; }))
        continue;
      try {
        threads.emplace_back(&Build::stage_thread, this, pos);
      } catch (const std::system_error& e) {
        run.state = StageRun::State::kFailed;
        run.error = std::make_exception_ptr(BuildError(fmt::format("build stage thread: {}", e.what()), 1));
        stopper_.request_stop();
        break;
      }
      run_of_thread_[threads.back().get_id()] = pos;  // before the thread can take mu_ to say anything
      run.state = StageRun::State::kRunning;
      ++running;
    }
    if (running == 0) break;
    changed_.wait(lock);
  }
  lock.unlock();
  for (auto& t : threads) t.join();

  const StageRun* failed = nullptr;
  for (bool cancelled_too : {false, true})
    for (const auto& r : runs_)
      if (!failed && r.state == StageRun::State::kFailed && (cancelled_too || !r.cancelled)) failed = &r;
  if (!failed) return;
  lock.lock();
  for (size_t pos = streaming_; pos <= static_cast<size_t>(failed - runs_.data()); ++pos)
    if (!held_[pos].empty()) out_.stream(held_[pos]);
  std::rethrow_exception(failed->error);
}

void Build::stage_thread(size_t pos) {
  std::exception_ptr error;
  try {
    build_stage(runs_[pos]);  // runs_ keeps its size while threads run; run.st is this thread's alone
  } catch (...) {
    error = std::current_exception();
  }
  finish_stage(pos, error);
}

void Build::build_stage(StageRun& run) {
  const build::Stage& stage = df_.stages[run.index];
  int step = run.first_step;
  print_step(stage.from, step++);
  from_step(run.st, stage);
  for (const auto& inst : stage.instructions) {
    print_step(inst, step++);
    dispatch(run.st, inst);
    done_step(run.st);
  }
}

// Records the outcome; a stage done lets the stages after it that the
// client waits for send what they held.
void Build::finish_stage(size_t pos, std::exception_ptr error) {
  std::lock_guard lock(mu_);
  StageRun& run = runs_[pos];
  run_of_thread_.erase(std::this_thread::get_id());
  changed_.notify_all();
  if (!error) {
    run.state = StageRun::State::kDone;
    stage_images_[run.index] = run.st.image_id();
    try {
      while (streaming_ < runs_.size() && runs_[streaming_].state == StageRun::State::kDone)
        if (++streaming_ < runs_.size() && !held_[streaming_].empty()) {
          out_.stream(held_[streaming_]);
          held_[streaming_].clear();
        }
      return;
    } catch (...) {
      error = std::current_exception();  // the client is gone: nothing more to build for it
    }
  }
  run.state = StageRun::State::kFailed;
  run.error = error;
  run.cancelled = stop_.stop_requested();
  stopper_.request_stop();
}

// FROM --platform (else the build's --platform): the local image must be
// for it, as dockerd checks; berth runs linux/amd64 images only, so there
// is no other variant to pull.
void Build::check_platform(const std::string& ref, const ordered_json& config, std::string wanted) {
  if (wanted.empty()) wanted = opts_.platform;
  if (wanted.empty()) return;
  std::string actual = config.value("os", "linux") + "/" + config.value("architecture", "amd64");
  std::string normalized = to_lower(wanted);
  if (normalized == "linux/x86_64" || normalized == "linux/amd64/v1") normalized = "linux/amd64";
  if (normalized != actual)
    throw BuildError(fmt::format("image with reference {} was found but does not match the specified platform: "
                                 "wanted {}, actual: {}", ref, wanted, actual), 1);
}

void Build::from_step(StageState& st, const build::Stage& stage) {
  std::map<std::string, std::string, std::less<>> meta;
  for (const auto& [k, v] : meta_args_)
    if (v) meta[k] = *v;
  auto e = lex_.expand(stage.base, build::lookup_in(meta));
  std::string base = e.word;
  if (base.empty()) throw BuildError(fmt::format("base name ({}) should not be blank", stage.base), 1);
  std::optional<std::string> built;
  {
    std::lock_guard lock(mu_);
    consumed_args_.insert(e.matched.begin(), e.matched.end());
    for (const auto& prev : df_.stages)
      if (prev.index < stage.index && stage_images_.count(prev.index) && !prev.name.empty() &&
          prev.name == to_lower(base))
        built = stage_images_.at(prev.index);
  }
  st = StageState{};
  if (built) {
    image::Digest id = image::Digest::parse(*built);
    st.image = eng_.images().get(id);
    st.config = ordered_json::parse(eng_.content().read(id));
  }
  if (!st.image) {
    if (to_lower(base) == "scratch") {
      st.config = scratch_config();
    } else {
      image::ImageRecord img = resolve_image(base);
      st.image = img;
      st.config = ordered_json::parse(eng_.content().read(img.id));
      check_platform(base, st.config, lex_.process_word(stage.platform, build::lookup_in(meta)));
    }
  }
  if (!st.config.contains("config") || !st.config["config"].is_object()) st.config["config"] = ordered_json::object();
  ordered_json& rc = st.run_config();
  bool has_path = false;
  if (rc.contains("Env") && rc["Env"].is_array())
    for (const auto& kv : rc["Env"]) has_path = has_path || env_name(kv.get<std::string>()) == "PATH";
  if (!has_path) set_env(rc, "PATH", std::string(kDefaultPath).substr(5));
  run_triggers(st);
  done_step(st);
}

// The base image's ONBUILD triggers run first, as if written after FROM.
void Build::run_triggers(StageState& st) {
  ordered_json& rc = st.run_config();
  if (!rc.contains("OnBuild") || !rc["OnBuild"].is_array() || rc["OnBuild"].empty()) return;
  std::vector<std::string> triggers;
  for (const auto& t : rc["OnBuild"]) triggers.push_back(t.get<std::string>());
  rc["OnBuild"] = nullptr;  // a child's children do not inherit them
  say(fmt::format("# Executing {} build trigger{}", triggers.size(), triggers.size() == 1 ? "" : "s"));
  say("\n");
  for (const auto& text : triggers) {
    std::vector<build::Instruction> insts;
    try {
      insts = build::parse_instructions(text, "ONBUILD");
    } catch (const Error& e) {
      throw BuildError(e.what(), 1);
    }
    for (const auto& inst : insts) {
      if (inst.keyword == "ONBUILD" || inst.keyword == "FROM" || inst.keyword == "MAINTAINER")
        throw BuildError(fmt::format("{} isn't allowed as an ONBUILD trigger", inst.keyword), 1);
      dispatch(st, inst);
    }
  }
}

void Build::dispatch(StageState& st, const build::Instruction& inst) {
  if (inst.keyword == "RUN") return run_step(st, inst);
  if (inst.keyword == "COPY" || inst.keyword == "ADD") return copy_step(st, inst);
  config_step(st, inst);
}


std::string Build::run() {
  std::string text;
  std::string df_path = path_join(opts_.context_dir, opts_.dockerfile);
  if (!read_file_if_exists(df_path, &text))
    throw BuildError(fmt::format("Cannot locate specified Dockerfile: {}", opts_.dockerfile), 1);
  if (text.empty()) throw BuildError(fmt::format("the Dockerfile ({}) cannot be empty", opts_.dockerfile), 1);
  try {
    df_ = build::parse_dockerfile(text, "Dockerfile");
  } catch (const Error& e) {
    throw BuildError(e.what(), 1);
  }
  lex_ = build::ShellLex(df_.escape);
  for (const auto& w : df_.warnings) say("[Warning] " + w + "\n");

  // Global ARGs expand against each other and the build args only. Their
  // values come first: FROM lines, and so the stages needed, depend on them.
  for (const auto& inst : df_.global_args)
    for (const auto& kv : inst.pairs) {
      std::optional<std::string> dflt;
      if (kv.value) {
        std::map<std::string, std::string, std::less<>> vars;
        for (const auto& [k, v] : meta_args_)
          if (v) vars[k] = *v;
        dflt = lex_.process_word(*kv.value, build::lookup_in(vars));
      }
      meta_args_[kv.key] = arg_value(kv.key, dflt);
      consumed_args_.insert(kv.key);
    }

  size_t target = df_.stages.size() - 1;
  if (!opts_.target.empty()) {
    const build::Stage* s = df_.find_stage(opts_.target);
    if (!s) throw BuildError(fmt::format("failed to reach build target {} in Dockerfile", opts_.target), 1);
    target = s->index;
  }
  std::vector<size_t> stages = stages_to_build(target);
  int step = 0;
  total_steps_ = static_cast<int>(df_.global_args.size()) + (opts_.labels.empty() ? 0 : 1);
  for (size_t i : stages) total_steps_ += 1 + static_cast<int>(df_.stages[i].instructions.size());
  for (const auto& inst : df_.global_args) print_step(inst, ++step);

  build_stages(stages, step + 1);
  StageState& st = runs_.back().st;  // the target's: every stage it needs comes before it
  if (!opts_.labels.empty()) {
    std::vector<std::string> shown;
    ordered_json& rc = st.run_config();
    if (!rc.contains("Labels") || !rc["Labels"].is_object()) rc["Labels"] = ordered_json::object();
    for (const auto& [k, v] : opts_.labels) {
      rc["Labels"][k] = v;
      shown.push_back(k + "=" + v);
    }
    build::Instruction label;
    label.original = "LABEL " + join(shown, " ");
    print_step(label, total_steps_);
    commit_nop(st, label.original);
    done_step(st);
  }
  if (!st.image) throw BuildError("No image was generated. Is your Dockerfile empty?", 1);
  std::string id = st.image->id.str();
  if (!opts_.quiet) out_.aux({{"ID", id}});
  std::vector<std::string> unused;
  for (const auto& [k, v] : opts_.build_args)
    if (!consumed_args_.count(k) && !is_proxy_arg(k)) unused.push_back(k);
  if (!unused.empty()) say("[Warning] One or more build-args " + go_list(unused) + " were not consumed\n");
  say("Successfully built " + id.substr(7, 12) + "\n");
  for (const auto& tag : opts_.tags) {
    image::Reference ref = image::with_default_tag(image::parse_reference(tag));
    eng_.images().tag(st.image->id, ref.str());
    eng_.events().publish({"image", "tag", id, {{"name", ref.familiar()}}, 0});
    say("Successfully tagged " + ref.familiar() + "\n");
  }
  if (opts_.quiet) out_.stream(id + "\n");
  return id;
}

std::string build_image(Engine& eng, const BuildOptions& opts, const BuildOutput& out, std::stop_token stop) {
  // sync_after_build: the steps' layers are written without fsyncs (an
  // fsync, let alone a syncfs, of each layer would make the build wait for
  // the disk, several seconds here for 58 MiB); one syncfs after the build,
  // off the request's path, makes them durable as docker's overlay2 leaves
  // them to the kernel altogether.
  struct SyncAfterBuild {
    std::string root;
    ~SyncAfterBuild() {
      std::thread([root = root] {
        UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (fd.valid()) ::syncfs(fd.get());
      }).detach();
    }
  } sync_later{eng.options().data_root};
  Build b(eng, opts, out, stop);
  return b.run();
}

}  // namespace berth::engine
