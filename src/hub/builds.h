// BuildService: Docker Hub's automated builds. A repository is linked to a
// git repository (a URL git can reach, or a local path) with rules; matching
// branches and tags are built by berthd (the Engine API's POST /build) and
// pushed back to this hub under the repository.
//
// Contract:
// - A rule: source type "branch" or "tag", a source name (exact, or a
//   regular expression written "/re/"), the build context (a directory of
//   the git repository) and the Dockerfile (relative to the context), and a
//   tag template where "{sourceref}" is the branch or tag name and "{\1}"..
//   "{\9}" are the regex's groups. Every rule matching a ref builds it.
// - Builds are queued rows; one worker thread runs them one at a time,
//   claiming each with a conditional UPDATE so replicas never run the same
//   build twice. The process running a build records a heartbeat every
//   Options::stale / 4; a build "running" without one for Options::stale
//   (its process crashed or lost the database) is queued again, with a line
//   in its log saying so, and fails after kMaxRuns such runs. Each claim
//   writes a new runner token and every later write of that run names it,
//   so a run another replica took over changes nothing any more. A build clones the ref (depth 1), sends the context to
//   berthd, stores its log as it streams, pushes <hub host>/<repo>:<tag>
//   with the push_credentials callback's credentials, removes that tag from
//   berthd again and records success (with the pushed digest) or failure
//   (with the error at the end of the log).
// - Triggers: POST .../builds (every rule's matching refs, or only "ref");
//   a poller that runs `git ls-remote` every Options::poll and builds refs
//   whose commit changed (refs present when the rules were saved are the
//   baseline, not built); POST .../builds/trigger/<token> (no account: the
//   token from the rules is the credential).
// - Routes under /api/v1/repositories/<repo>/: build-rules (GET, PUT:
//   Level::kAdmin), builds (GET list, POST trigger: kAdmin for POST, kRead
//   to list), builds/<id> (kRead, with the log); also after "<repo>/-/"
//   (hub/names.h: match_repository_route).
// - Git URLs: http(s)://, git://, ssh://, file://, scp-like user@host:path
//   or an absolute path; never git's command-running transports (ext::).
//   Sources on the hub's own file system (a path, file://) are for site
//   admins only unless Options::local_sources: any repository admin could
//   otherwise build, and so read, any git repository on the hub host.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "hub/hub_context.h"

namespace berth::hub {

struct BuildRule {
  std::string source_type = "branch";  // "branch" or "tag"
  std::string source_name = "main";    // exact, or "/regex/"
  std::string dockerfile = "Dockerfile";
  std::string context = "/";
  std::string tag = "latest";
};

// One ref from `git ls-remote`: "refs/heads/main" -> type branch, name main.
struct GitRef {
  std::string type;  // "branch" or "tag"
  std::string name;
  std::string commit;
};

// The tag rule gives ref, or nullopt when the rule does not match it.
std::optional<std::string> match_rule(const BuildRule& rule, const GitRef& ref);
// Parses `git ls-remote --heads --tags` output (peeled "^{}" entries give a
// tag its commit).
std::vector<GitRef> parse_ls_remote(const std::string& out);
// Throws http::HttpError(400) for URLs git must not be handed.
void check_git_url(const std::string& url);
// Whether url (already checked) names a repository on this host's file system.
bool is_local_git_url(const std::string& url);
// Throws http::HttpError(400) for an invalid rule.
void check_rule(const BuildRule& rule);

class BuildService {
 public:
  struct Options {
    std::string berthd = "unix:///run/berth/berth.sock";
    std::chrono::milliseconds poll{std::chrono::seconds(60)};  // 0: no polling
    std::string work_dir;  // where clones go; "" = $TMPDIR or /tmp
    bool local_sources = false;  // every repository admin may use local paths (see above)
    std::chrono::seconds stale{60};  // a running build without a heartbeat this long is abandoned
  };
  // (username, password) to push repo with; empty strings for none.
  using PushCredentials = std::function<std::pair<std::string, std::string>(const std::string& repo)>;

  BuildService(HubContext& ctx, Options opts, PushCredentials push_credentials);
  ~BuildService();  // stop()s
  BuildService(const BuildService&) = delete;
  BuildService& operator=(const BuildService&) = delete;

  void migrate();
  // Starts the build worker and, with Options::poll > 0, the poller.
  void start();
  // Returns after the build in progress (if any) ends: its clone and git
  // are abandoned as soon as they return, its berthd stream is cut.
  void stop();

  bool serve(http::Request& req, http::Response& res);

  // Queues builds for repo's rules (only ref when given: "main",
  // "refs/heads/main", "v1"); returns their ids. Throws HttpError(400) when
  // nothing matches.
  std::vector<std::string> trigger(const std::string& repo, const std::string& ref, const std::string& reason);
  // One round of the poller.
  void poll_once();
  // The branches and tags of the git repository at url (`git ls-remote`);
  // throws Error when git fails or stop() cuts it short.
  std::vector<GitRef> ls_remote(const std::string& url);
  // Waits until no build is queued or running (tests).
  bool wait_idle(std::chrono::milliseconds timeout);

 private:
  struct Source {
    std::string git_url;
    std::vector<BuildRule> rules;
    std::string token;
  };
  std::optional<Source> source(const std::string& repo);
  std::vector<std::string> queue_matches(const std::string& repo, const Source& src, const std::vector<GitRef>& refs,
                                         const std::string& reason);
  void worker();
  void poller();
  void heartbeat();
  // Queues again the builds whose process stopped sending heartbeats.
  void requeue_abandoned();
  static constexpr int kMaxRuns = 3;                   // runs of one build a crash may end before it fails
  static constexpr int64_t kNoHeartbeatLimit = 6 * 3600;  // a running build without any heartbeat (older versions)
  void run_build(const std::string& id, const std::string& runner);
  bool stopping();

  HubContext& ctx_;
  Options opts_;
  PushCredentials push_credentials_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool kick_ = false;  // a build was queued
  bool heartbeat_stopping_ = false;  // set after the worker has stopped
  std::string running_;  // the build this process runs, or ""
  std::string runner_;   // and its run's token (builds.runner)
  std::thread worker_, heartbeat_, poller_;
};

}  // namespace berth::hub
