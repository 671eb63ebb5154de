#include "build/copy_sources.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "base/error.h"
#include "base/fd.h"
#include "base/fs.h"
#include "base/strings.h"

namespace berth::build {

namespace {

// Linux's limit on symlinks followed while resolving one path (ELOOP).
constexpr int kMaxSymlinks = 40;

[[noreturn]] void not_found(const std::string& rel) {
  fail("failed to compute cache key: failed to calculate checksum of ref context: \"/{}\": not found", rel);
}

std::string join_rel(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

std::string join_dest(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string read_link(const std::string& path) {
  std::string buf(256, '\0');
  while (true) {
    ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    if (n < 0) fail_errno("readlink {}", path);
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

// The build context as COPY sees it: the directory on disk minus what the
// .dockerignore hides. Paths are relative to the root, "" being the root.
class ContextView {
 public:
  ContextView(std::string root, const DockerIgnore* ignore) : root_(std::move(root)), ignore_(ignore) {}

  std::string abs(const std::string& rel) const { return rel.empty() ? root_ : path_join(root_, rel); }

  // lstat of a visible entry; false if it is missing or hidden.
  bool lookup(const std::string& rel, struct stat* st) {
    if (::lstat(abs(rel).c_str(), st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return false;
      fail_errno("stat {} in build context", rel.empty() ? "." : rel);
    }
    return visible(rel, *st);
  }

  struct Entry {
    std::string name;
    struct stat st;
  };

  // The visible entries of a directory, names sorted byte-wise.
  std::vector<Entry> list(const std::string& dir) {
    std::vector<Entry> out;
    for_each_entry(dir, [&](Entry e) {
      if (visible(join_rel(dir, e.name), e.st)) out.push_back(std::move(e));
      return true;
    });
    return out;
  }

  // Resolves rel following symlinks in every component, confined to the
  // root; false if some component is missing, hidden or not a directory.
  bool resolve(const std::string& rel, std::string* out, struct stat* st) {
    std::deque<std::string> todo;
    for (auto& part : split(rel, '/')) todo.push_back(std::move(part));
    std::string cur;
    int links = 0;
    if (!lookup("", st)) return false;
    while (!todo.empty()) {
      std::string part = std::move(todo.front());
      todo.pop_front();
      if (part.empty() || part == ".") continue;
      if (part == "..") {  // never above the root
        size_t slash = cur.rfind('/');
        cur = slash == std::string::npos ? "" : cur.substr(0, slash);
        if (!lookup(cur, st)) return false;
        continue;
      }
      if (!S_ISDIR(st->st_mode)) return false;
      std::string next = join_rel(cur, part);
      if (!lookup(next, st)) return false;
      if (S_ISLNK(st->st_mode)) {
        if (++links > kMaxSymlinks) fail("resolve {} in build context: too many levels of symbolic links", rel);
        std::string target = read_link(abs(next));
        std::vector<std::string> parts = split(target, '/');
        todo.insert(todo.begin(), parts.begin(), parts.end());
        if (!target.empty() && target[0] == '/') cur.clear();
        if (!lookup(cur, st)) return false;
        continue;
      }
      cur = std::move(next);
    }
    *out = cur;
    return true;
  }

 private:
  // Calls fn(entry) for each entry of dir on disk, in name order, while it
  // returns true. Stats relative to the directory descriptor: no path walks.
  template <typename Fn>
  void for_each_entry(const std::string& dir, Fn&& fn) {
    std::string where = dir.empty() ? "." : dir;
    std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(abs(dir).c_str()), ::closedir);
    if (!d) fail_errno("read directory {} in build context", where);
    std::vector<std::string> names;
    while (true) {
      errno = 0;
      struct dirent* e = ::readdir(d.get());
      if (!e) {
        if (errno != 0) fail_errno("read directory {} in build context", where);
        break;
      }
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    std::sort(names.begin(), names.end());
    for (auto& name : names) {
      Entry e{std::move(name), {}};
      if (::fstatat(::dirfd(d.get()), e.name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed meanwhile
        fail_errno("stat {} in build context", join_rel(dir, e.name));
      }
      if (!fn(std::move(e))) break;
    }
  }

  bool visible(const std::string& rel, const struct stat& st) {
    if (!ignore_ || rel.empty() || !ignore_->matches(rel)) return true;
    // An excluded directory is still there when an exception keeps
    // something below it.
    return S_ISDIR(st.st_mode) && !ignore_->can_skip_dir(rel) && has_visible_entry(rel);
  }

  bool has_visible_entry(const std::string& dir) {
    auto it = nonempty_.find(dir);
    if (it != nonempty_.end()) return it->second;
    bool found = false;
    for_each_entry(dir, [&](const Entry& e) {
      found = visible(join_rel(dir, e.name), e.st);
      return !found;
    });
    nonempty_[dir] = found;
    return found;
  }

  std::string root_;
  const DockerIgnore* ignore_;
  std::unordered_map<std::string, bool> nonempty_;
};

// BuildKit's containsWildcards, for one path segment.
bool has_wildcard(std::string_view segment) {
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '\\') {
      ++i;
    } else if (segment[i] == '*' || segment[i] == '?' || segment[i] == '[') {
      return true;
    }
  }
  return false;
}

// Hashes file contents on up to `threads` threads while the walk goes on:
// helpers take work as the walk finds it, and the walking thread joins in at
// the end, largest pieces first. A file over kChunk is hashed in kChunk
// pieces that run in parallel, its digest being the sha256 of their digests
// (the plan digest is only a cache key, so it need not be a plain sha256 of
// the file), which keeps one big file from bounding the time. Helpers start
// only once enough work is queued: for a few small files a thread costs more
// (its start and join wait for a busy core) than it saves.
class ContentHasher {
 public:
  explicit ContentHasher(int threads) : max_helpers_(static_cast<size_t>(std::max(threads, 1) - 1)) {}
  ~ContentHasher() {
    {
      std::lock_guard lock(mu_);
      queue_.clear();  // unwinding: nobody wants the digests
      closed_ = true;
    }
    cv_.notify_all();
    join();
  }
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;

  void add(size_t item, const std::string& path, off_t size) {
    bool spawn = false;
    {
      std::lock_guard lock(mu_);
      size_t pieces = size > kChunk ? static_cast<size_t>((size + kChunk - 1) / kChunk) : 1;
      pieces_[item] = pieces;
      for (size_t i = 0; i < pieces; ++i) {
        off_t offset = static_cast<off_t>(i) * kChunk;
        bool last = i + 1 == pieces;  // reads to the end, whatever the size is by then
        queue_.push_back({item, i, path, offset, last ? -1 : kChunk, last ? size - offset : kChunk});
      }
      queued_bytes_ += size;
      spawn = helpers_.size() < max_helpers_ && (queued_bytes_ >= kSpawnBytes || queue_.size() >= kSpawnFiles);
    }
    if (spawn) {
      helpers_.emplace_back([this] { drain(true); });
    } else {
      cv_.notify_one();
    }
  }

  // The content digest (sha256 hex) of every added item, indexed by item.
  std::vector<std::string> finish(size_t items) {
    {
      std::lock_guard lock(mu_);
      std::stable_sort(queue_.begin(), queue_.end(), [](const Job& a, const Job& b) { return a.weight > b.weight; });
      closed_ = true;
    }
    cv_.notify_all();
    drain(false);
    join();
    if (error_) std::rethrow_exception(error_);
    std::sort(done_.begin(), done_.end());
    std::vector<std::string> out(items);
    for (size_t k = 0; k < done_.size();) {
      size_t item = done_[k].item, n = pieces_.at(item);
      if (n == 1) {
        out[item] = std::move(done_[k].hex);
      } else {
        image::Sha256 h;
        for (size_t i = 0; i < n; ++i) h.update(done_[k + i].hex + "\n");
        out[item] = std::string(h.finish().hex());
      }
      k += n;
    }
    return out;
  }

 private:
  static constexpr off_t kChunk = 8 << 20;
  static constexpr off_t kSpawnBytes = 4 << 20;
  static constexpr size_t kSpawnFiles = 256;

  struct Job {
    size_t item = 0, piece = 0;
    std::string path;
    off_t offset = 0, length = -1;  // -1: to the end of the file
    off_t weight = 0;               // expected bytes, for ordering
  };
  struct Done {
    size_t item, piece;
    std::string hex;
    bool operator<(const Done& o) const { return std::tie(item, piece) < std::tie(o.item, o.piece); }
  };

  void drain(bool wait) {
    std::vector<char> buf(1 << 20);
    while (true) {
      Job job;
      {
        std::unique_lock lock(mu_);
        if (wait) cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= job.weight;
      }
      try {
        std::string hex = hash_range(job, &buf);
        std::lock_guard lock(mu_);
        done_.push_back({job.item, job.piece, std::move(hex)});
      } catch (...) {
        std::lock_guard lock(mu_);
        if (!error_) error_ = std::current_exception();
        queue_.clear();
      }
    }
  }

  static std::string hash_range(const Job& job, std::vector<char>* buf) {
    UniqueFd fd(::open(job.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) fail_errno("open {}", job.path);
    if (job.weight >= (1 << 20))
      ::posix_fadvise(fd.get(), job.offset, job.length < 0 ? 0 : job.length, POSIX_FADV_SEQUENTIAL);
    image::Sha256 h;
    off_t pos = job.offset;
    while (job.length < 0 || pos < job.offset + job.length) {
      size_t want = buf->size();
      if (job.length >= 0) want = std::min<size_t>(want, static_cast<size_t>(job.offset + job.length - pos));
      ssize_t n = ::pread(fd.get(), buf->data(), want, pos);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail_errno("read {}", job.path);
      }
      if (n == 0) break;
      h.update(buf->data(), static_cast<size_t>(n));
      pos += n;
    }
    return std::string(h.finish().hex());
  }

  void join() {
    for (auto& t : helpers_)
      if (t.joinable()) t.join();
  }

  const size_t max_helpers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  off_t queued_bytes_ = 0;
  bool closed_ = false;
  std::unordered_map<size_t, size_t> pieces_;  // item -> number of pieces
  std::vector<Done> done_;
  std::exception_ptr error_;
  std::vector<std::thread> helpers_;
};

// A source after wildcard expansion and symlink resolution.
struct Source {
  std::string name;  // the name COPY gives it inside a directory destination
  std::string real;  // resolved context path
  struct stat st;
};

class Planner {
 public:
  Planner(const std::string& root, const CopyRequest& req, const CopyOptions& opt)
      : view_(root, opt.ignore), req_(req), digests_(opt.digests), hasher_(std::max(opt.hash_threads, 1)) {}

  CopyPlan run() {
    std::vector<Source> sources;
    for (const auto& src : req_.sources) resolve_source(src, &sources);

    std::string_view dest = req_.dest;
    bool dest_is_dir = dest.empty() || dest.ends_with('/') || dest == "." || dest == ".." || dest.ends_with("/.") ||
                       dest.ends_with("/..");
    if (sources.size() > 1 && !dest_is_dir)
      fail("When using {} with more than one source file, the destination must be a directory and end with a /",
           req_.instruction);
    std::string base = image_path(req_.workdir, req_.dest);

    for (const auto& s : sources) {
      if (S_ISDIR(s.st.st_mode)) {
        CopyItem root;
        root.kind = CopyKind::dir;
        root.dest = base;
        root.mode = S_IFDIR | 0755;
        root.ensure_only = true;
        add(std::move(root), 0);
        add_tree(s.real, base);
      } else if (dest_is_dir) {
        add_entry(s.real, s.st, join_dest(base, s.name), "");
        items_.back().named = true;
      } else {
        add_entry(s.real, s.st, base, s.name);
        items_.back().named = true;
      }
    }
    contents_ = hasher_.finish(items_.size());
    for (auto& [i, hex] : cached_) contents_[i] = std::move(hex);
    if (digests_)
      for (const auto& [i, st] : hashed_) digests_->store(st, contents_[i]);
    image::Digest digest = plan_digest();
    for (size_t i = 0; i < items_.size(); ++i)
      if (items_[i].kind == CopyKind::file && items_[i].hardlink_to.empty()) items_[i].digest = contents_[i];
    return {std::move(items_), std::move(digest)};
  }

 private:
  static std::string image_path(const std::string& workdir, const std::string& dest) {
    if (!dest.empty() && dest[0] == '/') return clean_path(dest);
    return clean_path("/" + workdir + "/" + dest);
  }

  void resolve_source(const std::string& src, std::vector<Source>* out) {
    std::string rel = clean_path("/" + src).substr(1);
    std::vector<std::string> parts = rel.empty() ? std::vector<std::string>{} : split(rel, '/');
    auto first_wild = std::find_if(parts.begin(), parts.end(), has_wildcard);
    if (first_wild == parts.end()) {
      Source s;
      if (!view_.resolve(rel, &s.real, &s.st)) not_found(rel);
      s.name = parts.empty() ? "" : parts.back();
      out->push_back(std::move(s));
      return;
    }
    std::string literal = join(std::vector<std::string>(parts.begin(), first_wild), "/");
    std::string pattern = join(std::vector<std::string>(first_wild, parts.end()), "/");
    try {
      filepath_match(pattern, "");  // reject a malformed pattern even when nothing is there
    } catch (const Error& e) {
      throw e.wrap(fmt::format("{} source \"{}\"", req_.instruction, src));
    }
    std::string base;
    struct stat st;
    if (!view_.resolve(literal, &base, &st) || !S_ISDIR(st.st_mode)) return;
    // A match has at most one segment per '/' in the pattern, plus one per
    // class (a class may match '/'): deeper directories cannot match.
    size_t max_depth =
        1 + std::count(pattern.begin(), pattern.end(), '/') + std::count(pattern.begin(), pattern.end(), '[');
    std::vector<std::string> matches;
    match_below(base, "", 1, max_depth, pattern, &matches);
    for (const auto& m : matches) {
      std::string path = join_rel(base, m);
      Source s;
      if (!view_.resolve(path, &s.real, &s.st)) not_found(path);  // a dangling link
      s.name = path.substr(path.rfind('/') + 1);
      out->push_back(std::move(s));
    }
  }

  // filepath.Walk order: a matching directory is taken whole, not entered.
  void match_below(const std::string& base, const std::string& sub, size_t depth, size_t max_depth,
                   const std::string& pattern, std::vector<std::string>* out) {
    for (const auto& e : view_.list(join_rel(base, sub))) {
      std::string rel = join_rel(sub, e.name);
      if (filepath_match(pattern, rel)) {
        out->push_back(rel);
      } else if (S_ISDIR(e.st.st_mode) && depth < max_depth) {
        match_below(base, rel, depth + 1, max_depth, pattern, out);
      }
    }
  }

  void add_tree(const std::string& dir, const std::string& dest) {
    for (const auto& e : view_.list(dir)) {
      std::string rel = join_rel(dir, e.name), to = join_dest(dest, e.name);
      add_entry(rel, e.st, to, "");
      if (S_ISDIR(e.st.st_mode)) add_tree(rel, to);
    }
  }

  void add_entry(const std::string& rel, const struct stat& st, const std::string& dest,
                 const std::string& name_if_dir) {
    CopyItem it;
    it.source = view_.abs(rel);
    it.dest = dest;
    it.mode = st.st_mode;
    it.name_if_dir = name_if_dir;
    switch (st.st_mode & S_IFMT) {
      case S_IFREG: {
        it.kind = CopyKind::file;
        if (st.st_nlink > 1) {
          auto [pos, fresh] = inodes_.try_emplace({st.st_dev, st.st_ino}, dest);
          if (!fresh) it.hardlink_to = pos->second;
        }
        break;
      }
      case S_IFDIR: it.kind = CopyKind::dir; break;
      case S_IFLNK:
        it.kind = CopyKind::symlink;
        it.link_target = read_link(it.source);
        break;
      case S_IFIFO:
      case S_IFCHR:
      case S_IFBLK:
        it.kind = CopyKind::special;
        it.rdev = st.st_rdev;
        break;
      default:
        return;  // sockets cannot be sent in a context
    }
    add(std::move(it), st.st_size, &st);
  }

  void add(CopyItem it, off_t size, const struct stat* st = nullptr) {
    if (it.kind == CopyKind::file && it.hardlink_to.empty()) {
      std::optional<std::string> known;
      if (digests_ && st) known = digests_->find(*st);
      if (known) {
        cached_.emplace_back(items_.size(), std::move(*known));
      } else {
        hasher_.add(items_.size(), it.source, size);
        if (digests_ && st) hashed_.emplace_back(items_.size(), *st);
      }
    }
    items_.push_back(std::move(it));
  }

  // Fields are separated by NUL, which no path or link target can hold.
  image::Digest plan_digest() const {
    image::Sha256 h;
    h.update("berth copy plan v1\n");
    auto field = [&](std::string_view s) {
      h.update(s);
      h.update(std::string_view("\0", 1));
    };
    for (size_t i = 0; i < items_.size(); ++i) {
      const CopyItem& it = items_[i];
      switch (it.kind) {
        case CopyKind::file: field("file"); break;
        case CopyKind::dir: field(it.ensure_only ? "dir-ensure" : "dir"); break;
        case CopyKind::symlink: field("symlink"); break;
        case CopyKind::special: field(fmt::format("special-{:o}", it.mode & S_IFMT)); break;
      }
      field(it.dest);
      field(fmt::format("{:o}", it.mode & 07777));
      switch (it.kind) {
        case CopyKind::file: field(it.hardlink_to.empty() ? contents_[i] : "link=" + it.hardlink_to); break;
        case CopyKind::symlink: field(it.link_target); break;
        case CopyKind::special: field(std::to_string(it.rdev)); break;
        case CopyKind::dir: field(""); break;
      }
      field(it.name_if_dir);
      h.update("\n");
    }
    return h.finish();
  }

  ContextView view_;
  const CopyRequest& req_;
  std::vector<CopyItem> items_;
  std::vector<std::string> contents_;  // sha256 hex per file item
  DigestCache* digests_;
  std::vector<std::pair<size_t, std::string>> cached_;   // item -> digest the cache knew
  std::vector<std::pair<size_t, struct stat>> hashed_;  // items hashed now, to remember
  std::map<std::pair<dev_t, ino_t>, std::string> inodes_;
  ContentHasher hasher_;  // last: its threads stop before the rest goes
};

}  // namespace

DigestCache::Key DigestCache::key(const struct stat& st) {
  return {st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec,
          st.st_ctim.tv_nsec};
}

std::optional<std::string> DigestCache::find(const struct stat& st) const {
  std::lock_guard lock(mu_);
  auto it = map_.find(key(st));
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void DigestCache::store(const struct stat& st, std::string hex) {
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec - st.st_ctim.tv_sec < min_age_ || now.tv_sec - st.st_mtim.tv_sec < min_age_) return;
  std::lock_guard lock(mu_);
  if (map_.size() >= max_) map_.clear();
  map_[key(st)] = std::move(hex);
}

size_t DigestCache::size() const {
  std::lock_guard lock(mu_);
  return map_.size();
}

CopyPlan plan_copy(const std::string& context_root, const CopyRequest& request, const CopyOptions& options) {
  return Planner(context_root, request, options).run();
}

}  // namespace berth::build
