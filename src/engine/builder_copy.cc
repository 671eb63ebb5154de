// COPY and ADD: the sources are planned (build/copy_sources.h, whose digest
// is the cache key), then written into an overlay of the parent image with a
// fresh upper dir, which becomes the step's layer. No container is made:
// nothing runs, and FROM scratch has no image to make one from. ADD's URLs
// are fetched (libcurl, registry/http_client.h) into the build's scratch dir
// first, and planned from there like heredoc files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>

#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"
#include "build/copy_apply.h"
#include "build/copy_sources.h"
#include "engine/builder_internal.h"
#include "engine/engine.h"
#include "engine/names.h"
#include "engine/rootfs_mount.h"
#include "engine/user_lookup.h"
#include "registry/http_client.h"

namespace berth::engine {

namespace {

bool is_url(const std::string& s) { return s.starts_with("http://") || s.starts_with("https://"); }

// --chmod: octal permission bits, as BuildKit takes them.
std::optional<mode_t> parse_chmod(const std::optional<std::string>& flag) {
  if (!flag) return std::nullopt;
  const std::string& s = *flag;
  if (s.empty() || s.size() > 4 || s.find_first_not_of("01234567") != std::string::npos)
    throw BuildError(fmt::format("invalid chmod parameter: {}", s), 1);
  return static_cast<mode_t>(std::stoul(s, nullptr, 8));
}

// --chown user[:group] resolved in the image being built (names through its
// /etc/passwd and /etc/group; numbers as they are).
std::pair<uid_t, gid_t> resolve_chown(const std::string& root, const std::string& spec) {
  try {
    ResolvedUser u = resolve_user_in_rootfs(root, spec, {});
    return {u.uid, u.gid};
  } catch (const Error& e) {
    throw BuildError(fmt::format("unable to convert uid/gid chown string to host mapping: {}", e.what()), 1);
  }
}

// ADD <url>: the body saved in dir under the URL path's last segment (the
// name docker gives it), mode 0600 and the Last-Modified time, as dockerd's
// classic builder does; returns that name. Never unpacked.
std::string fetch_url(const std::string& url, const std::string& dir) {
  std::string path = url.substr(url.find("://") + 3);
  path = path.substr(0, path.find_first_of("?#"));
  auto slash = path.find('/');
  std::string name = slash == std::string::npos ? "" : path.substr(path.rfind('/') + 1);
  if (name.empty() || name == "." || name == "..")
    throw BuildError(fmt::format("ADD {}: cannot determine a filename from the URL", url), 1);
  std::string file = path_join(dir, name);
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) fail_errno("ADD {}: create {}", url, file);
  registry::HttpClient client;
  registry::HttpRequest req;
  req.url = url;
  registry::HttpResponse res;
  try {
    res = client.send(req, [&](std::string_view data) { write_all_fd(fd.get(), data, file); });
  } catch (const Error& e) {
    throw BuildError(fmt::format("ADD failed: {}", e.what()), 1);
  }
  if (!res.ok())
    throw BuildError(fmt::format("ADD failed: failed to GET {} with status {}: {}", url, res.status,
                                 std::string(trim(res.body.substr(0, 200)))), 1);
  if (std::string lm = res.header("last-modified"); !lm.empty()) {
    struct tm tm {};
    if (::strptime(lm.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
      struct timespec times[2] = {{::timegm(&tm), 0}, {::timegm(&tm), 0}};
      ::futimens(fd.get(), times);
    }
  }
  return name;
}

}  // namespace

std::string LinkIndex::candidate(const build::CopyItem& it) const {
  auto f = files.find(it.dest);
  if (fs.empty() || it.digest.empty() || f == files.end() || f->second != it.digest) return "";
  std::string path = path_join(fs, it.dest.substr(1));
  struct stat st;
  if (!it.name_if_dir.empty() && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    path = path_join(path, it.name_if_dir);
  // Only a file inside that snapshot: a symlink on the way must not lead out.
  char real[PATH_MAX];
  if (!::realpath(path.c_str(), real) || !std::string_view(real).starts_with(fs + "/")) return "";
  return real;
}

// builder/copy-index/<key>: {"snapshot": chain id, "files": {dest: content digest}}.
LinkIndex Build::read_link_index(const image::Digest& key) {
  LinkIndex index;
  std::string text;
  if (!read_file_if_exists(path_join(eng_.options().data_root, "builder/copy-index/" + std::string(key.hex())), &text))
    return index;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("snapshot") || !j.contains("files")) return index;
  try {
    image::Digest chain = image::Digest::parse(j["snapshot"].get<std::string>());
    if (!eng_.snapshots().exists(chain)) return index;
    index.fs = eng_.snapshots().fs_path(chain);
    for (const auto& [dest, digest] : j["files"].items()) index.files[dest] = digest.get<std::string>();
  } catch (const std::exception&) {
    return {};  // a damaged index only costs the copies
  }
  return index;
}

void Build::write_link_index(const image::Digest& key, const image::Digest& chain, const build::CopyPlan& plan) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& it : plan.items)
    if (it.kind == build::CopyKind::file && !it.digest.empty()) files[it.dest] = it.digest;
  std::string dir = path_join(eng_.options().data_root, "builder/copy-index");
  mkdir_all(dir, 0700);
  // Not fsynced: a lost index only costs the copies.
  write_file_replace(path_join(dir, std::string(key.hex())),
                     nlohmann::json{{"snapshot", chain.str()}, {"files", files}}.dump(), 0600);
}

std::unique_ptr<ScratchDir> Build::mount_image(const std::optional<image::ImageRecord>& img) {
  auto dir = std::make_unique<ScratchDir>(path_join(scratch_dir(), random_id().substr(0, 12)));
  RootfsPaths p = rootfs_paths(dir->path());
  std::string lower;
  if (img && !img->diff_ids.empty()) {
    lower = eng_.snapshots().lowerdir_string(img->chain_ids());
  } else {
    lower = path_join(dir->path(), "empty");
    mkdir_all(lower, 0755);
  }
  mount_rootfs(p, lower);
  return dir;
}

void Build::copy_step(StageState& st, const build::Instruction& inst) {
  const bool add = inst.keyword == "ADD";
  build::CopySources src = build::copy_sources(inst);
  std::vector<std::string> paths, urls;
  for (const auto& p : src.paths) {
    std::string expanded = expand(st, p);
    if (!is_url(expanded)) paths.push_back(expanded);
    else if (add) urls.push_back(expanded);
    else throw BuildError("source can't be a URL for COPY", 1);
  }
  std::string dest = expand(st, src.dest);
  std::optional<mode_t> chmod = parse_chmod(inst.flag("chmod"));
  std::optional<std::string> chown_spec;
  if (auto c = inst.flag("chown")) chown_spec = expand(st, *c);
  std::string workdir = st.run_config().value("WorkingDir", "");
  if (workdir.empty()) workdir = "/";

  // Where the sources come from: another stage or image, the heredocs, or the context.
  std::unique_ptr<ScratchDir> from_mount;
  std::string root = opts_.context_dir;
  const build::DockerIgnore* ignore = context_ignore();
  if (auto from = inst.flag("from")) {
    image::ImageRecord img = copy_from_image(expand(st, *from));
    from_mount = mount_image(img);
    root = rootfs_paths(from_mount->path()).merged;
    ignore = nullptr;
  }
  build::CopyPlan plan;
  auto add_plan = [&plan](build::CopyPlan more) {
    if (plan.items.empty()) {
      plan = std::move(more);
      return;
    }
    plan.items.insert(plan.items.end(), more.items.begin(), more.items.end());
    plan.digest = image::sha256_of(plan.digest.str() + more.digest.str());
  };
  std::vector<std::string> inline_names;
  try {
    if (!urls.empty()) {
      std::string dir = path_join(scratch_dir(), "url-" + random_id().substr(0, 12));
      mkdir_all(dir, 0755);
      std::vector<std::string> names;
      for (const auto& url : urls) names.push_back(fetch_url(url, dir));
      build::CopyPlan fetched = build::plan_copy(dir, {inst.keyword, names, dest, workdir}, {nullptr, 2});
      for (auto& item : fetched.items) item.named = false;  // docker never unpacks a download
      add_plan(std::move(fetched));
    }
    if (!src.files.empty()) {
      // Heredoc files live in a directory of their own, one file per body.
      std::string dir = path_join(scratch_dir(), "heredoc-" + random_id().substr(0, 12));
      mkdir_all(dir, 0755);
      for (const auto& f : src.files) {
        std::string data = f.expand ? expand(st, f.data) : f.data;
        write_file(path_join(dir, f.name), data, 0644);
        inline_names.push_back(f.name);
      }
      add_plan(build::plan_copy(dir, {inst.keyword, inline_names, dest, workdir}, {nullptr, 2}));
    }
    if (!paths.empty()) {
      add_plan(build::plan_copy(root, {inst.keyword, paths, dest, workdir},
                                {ignore, 2, from_mount ? nullptr : opts_.digests}));
    }
  } catch (const BuildError&) {
    throw;
  } catch (const Error& e) {
    throw BuildError(fmt::format("{} failed: {}", inst.keyword, e.what()), 1);
  }

  // History as dockerd writes it: "file:<hash> in <dest> ", "dir:..", "multi:..".
  size_t sources = paths.size() + inline_names.size() + urls.size();
  bool single_dir = sources == 1 && !plan.items.empty() && plan.items.front().ensure_only;
  std::string kind = sources > 1 ? "multi" : single_dir ? "dir" : "file";
  std::string shown_dest = dest.starts_with("/") ? dest : path_join(workdir, dest) + (dest.ends_with("/") ? "/" : "");
  std::string created_by = fmt::format("{} #(nop) {} {}:{} in {} ", join(st.shell(), " "), inst.keyword, kind,
                                       plan.digest.hex(), shown_dest);
  std::string key_text = fmt::format("{}\n{}\nchown={}\nchmod={}\n", inst.keyword, created_by,
                                     chown_spec.value_or(""), chmod ? std::to_string(*chmod) : "");
  image::Digest key = step_key(st, key_text);
  if (use_cache(st, key, created_by)) return;
  // The same instruction's last layer, whatever its parent was: files whose
  // content and metadata have not changed are hard-linked from it.
  image::Digest same_copy = image::sha256_of(fmt::format("{}\n{}\n{}\n{}\nchown={}\nchmod={}\n", inst.keyword,
                                                         join(src.paths, "\n"), inst.flag("from").value_or(""),
                                                         shown_dest, chown_spec.value_or(""),
                                                         chmod ? std::to_string(*chmod) : ""));
  LinkIndex previous = read_link_index(same_copy);

  auto target = mount_image(st.image);
  RootfsPaths p = rootfs_paths(target->path());
  build::ApplyOptions ao;
  if (chown_spec) ao.chown = resolve_chown(p.merged, *chown_spec);
  ao.chmod = chmod;
  ao.extract_archives = add;
  ao.upper = p.upper;  // new directories are filled in upper directly, not through overlayfs
  ao.link_source = [&previous](const build::CopyItem& it) { return previous.candidate(it); };
  try {
    build::apply_copy_plan(p.merged, plan, ao);
  } catch (const Error& e) {
    throw BuildError(fmt::format("{} failed: {}", inst.keyword, e.what()), 1);
  }
  unmount_rootfs(p);
  ordered_json cc = st.run_config();
  std::vector<std::string> cmd = st.shell();
  cmd.push_back(created_by.substr(join(st.shell(), " ").size() + 1));
  cc["Cmd"] = ordered_json(cmd);
  cc["Image"] = st.image_id();
  commit(st, key, created_by, std::move(cc), p.upper);
  write_link_index(same_copy, st.image->chain_ids().back(), plan);
}

}  // namespace berth::engine
