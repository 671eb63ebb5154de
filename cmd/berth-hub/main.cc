// berth-hub: the registry and hub server. `berth-hub serve` answers the OCI
// distribution API, the token service and the hub's JSON API on --listen
// until SIGTERM or SIGINT, keeping blobs under --root and metadata in
// --database (SQLite in the root by default). `berth-hub user create` adds
// an account (the first site admin, typically) without a running server.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "http/server.h"
#include "hub/accounts.h"
#include "hub/auth_service.h"
#include "hub/blob_store.h"
#include "hub/builds.h"
#include "hub/gc.h"
#include "hub/hub_api.h"
#include "hub/hub_context.h"
#include "hub/metadata.h"
#include "hub/policies.h"
#include "hub/registry_api.h"
#include "hub/registry_error.h"
#include "hub/sql.h"
#include "hub/web_ui.h"
#include "hub/webhooks.h"

namespace berth::hub {

struct ServeOptions {
  std::string root = "/var/lib/berth-hub";
  std::string listen = "127.0.0.1:5000";
  std::string database;
  std::string storage;     // "" (files in root), file:///path or s3://...
  std::string public_url;  // default http://<listen>
  bool open = false;
  bool allow_signup = false;
  bool default_private = false;
  int64_t gc_interval = 0;  // seconds between retention + GC runs; 0: never
  bool gc_delete_untagged = false;
  std::string berthd = "unix:///run/berth/berth.sock";  // builds run there
  int64_t build_poll = 60;  // seconds between `git ls-remote` polls of build sources; 0: never
  bool build_local_sources = false;
};

struct GcCliOptions {
  std::string root = "/var/lib/berth-hub";
  std::string database;
  std::string storage;
  bool dry_run = false;
  bool delete_untagged = false;
  int64_t grace_seconds = 3600;
};

struct UserOptions {
  std::string root = "/var/lib/berth-hub";
  std::string database;
  std::string name;
  std::string email;
  bool site_admin = false;
};

static std::unique_ptr<Database> open_hub_database(const std::string& root, const std::string& database) {
  mkdir_all(root, 0700);
  std::unique_ptr<Database> db = open_database(database.empty() ? root + "/hub.db" : database);
  Metadata(*db).migrate();
  Accounts(*db).migrate();
  Metadata meta(*db);
  Policies(*db, meta).migrate();
  return db;
}

// Reads the password from stdin (one line), so it never shows in ps or history.
static int create_user(const UserOptions& o) {
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  std::unique_ptr<Database> db = open_hub_database(o.root, o.database);
  Accounts(*db).create_user(o.name, password, o.email, o.site_admin);
  fmt::print("created {}{}\n", o.name, o.site_admin ? " (site admin)" : "");
  return 0;
}

// Garbage collection from the command line; safe while a server runs on the
// same root and database (hub/gc.h).
static int run_gc(const GcCliOptions& o) {
  std::unique_ptr<Database> db = open_hub_database(o.root, o.database);
  std::unique_ptr<BlobStore> blobs = open_blob_store(o.storage, o.root);
  GcReport r = GarbageCollector(*db, *blobs)
                   .run(GcOptions{.dry_run = o.dry_run, .delete_untagged = o.delete_untagged,
                                  .grace_seconds = o.grace_seconds});
  for (const auto& d : r.freed) fmt::print("{}{}\n", o.dry_run ? "would free " : "freed ", d);
  fmt::print("{}{} manifests deleted, {} blobs ({} bytes) freed{}\n", o.dry_run ? "dry run: " : "",
             r.manifests_deleted, r.blobs_freed, r.bytes_freed,
             r.blobs_restored ? fmt::format(", {} restored to concurrent pushes", r.blobs_restored) : "");
  return 0;
}

// "host:port" (host may be [v6]).
static std::pair<std::string, uint16_t> split_listen(const std::string& s) {
  size_t colon = s.rfind(':');
  long long port = 0;
  if (colon == std::string::npos || !parse_int64(s.substr(colon + 1), &port) || port < 0 || port > 65535) {
    fail("--listen {:?}: want host:port", s);
  }
  std::string host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  return {host, static_cast<uint16_t>(port)};
}

static int serve(const ServeOptions& o) {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<Database> db = open_hub_database(o.root, o.database);
  Metadata meta(*db);
  Accounts accounts(*db);
  std::unique_ptr<BlobStore> blobs = open_blob_store(o.storage, o.root);
  Policies policies(*db, meta);
  GarbageCollector gc(*db, *blobs);

  // Services are built once the port is known (the token realm names it);
  // the handler only runs after start().
  std::unique_ptr<AuthService> auth;
  std::unique_ptr<HubContext> ctx;
  std::unique_ptr<RegistryApi> registry;
  std::unique_ptr<HubApi> hub_api;
  std::unique_ptr<PolicyApi> policy_api;
  std::unique_ptr<WebhookService> webhooks;
  std::unique_ptr<BuildService> builds;
  http::HttpServer::Options hopts;
  hopts.default_headers = {{"Docker-Distribution-Api-Version", "registry/2.0"}};
  hopts.io_threads = 1;
  WebUi web_ui;  // the embedded web interface: / and /ui/*
  http::HttpServer server(
      [&](http::Request& req, http::Response& res) {
        const std::string& p = req.path();
        if (p == "/v2" || p.starts_with("/v2/")) {
          registry->serve(req, res);
          return;
        }
        if (p == "/token") {
          auth->serve_token(req, res);
          return;
        }
        if (p.starts_with("/api/v1/") && (webhooks->serve(req, res) || builds->serve(req, res))) return;
        if (policy_api->serve(req, res)) return;  // before hub_api: it answers 404 under its prefixes
        if (hub_api->serve(req, res)) return;
        if (web_ui.serve(req, res)) return;
        res.send(404, "text/plain; charset=utf-8", "404 page not found\n");
      },
      hopts);
  auto [host, port] = split_listen(o.listen);
  uint16_t bound = server.listen_tcp(host, port);
  std::string public_url = o.public_url.empty() ? fmt::format("http://{}:{}", host, bound) : o.public_url;
  while (public_url.ends_with("/")) public_url.pop_back();

  auth = std::make_unique<AuthService>(accounts, [&] { return signer_from_database(*db); },
                                       AuthOptions{.public_url = public_url,
                                                   .open = o.open,
                                                   .default_private = o.default_private});
  ctx = std::make_unique<HubContext>(HubContext{
      .db = *db,
      .meta = meta,
      .blobs = *blobs,
      .public_url = public_url,
      .authenticate = [&](http::Request& req) { return auth->authenticate(req); },
      .level = [&](const Principal& p, const std::string& repo) {
        return o.open ? Level::kAdmin : accounts.level(p, repo);
      },
      .owns_namespace = [&](const Principal& p, const std::string& ns) {
        return o.open || accounts.owns_namespace(p, ns);
      }});
  registry = std::make_unique<RegistryApi>(
      *blobs, meta, [&](http::Request& req, http::Response& res, const std::string& repo, Action action) {
        auth->registry_access(req, res, repo, action);
      });
  registry->set_catalog_filter([&](http::Request& req, const std::string& repo) { return auth->can_list(req, repo); });
  registry->set_policies(&policies);
  policy_api = std::make_unique<PolicyApi>(*ctx, policies, gc);
  hub_api = std::make_unique<HubApi>(*ctx, accounts, *auth, HubApiOptions{.allow_signup = o.allow_signup});
  webhooks = std::make_unique<WebhookService>(*ctx);
  webhooks->migrate();
  webhooks->start();
  registry->on_push([&](http::Request& req, const std::string& repo, const std::string& tag, const ManifestRecord& m) {
    webhooks->on_push(repo, tag, m, auth->caller_name(req));
  });
  builds = std::make_unique<BuildService>(
      *ctx, BuildService::Options{.berthd = o.berthd,
                            .poll = std::chrono::seconds(o.build_poll),
                            .local_sources = o.build_local_sources},
      [&](const std::string& repo) { return auth->build_credentials(repo); });
  builds->migrate();
  builds->start();
  server.start();
  std::unique_ptr<PeriodicTask> maintenance;
  if (o.gc_interval > 0) {
    maintenance = std::make_unique<PeriodicTask>(
        std::chrono::seconds(o.gc_interval),
        [&] {
          policies.run_all_retention();
          GcReport r = gc.run(GcOptions{.delete_untagged = o.gc_delete_untagged});
          fmt::print(stderr, "berth-hub: gc: {} manifests deleted, {} blobs ({} bytes) freed\n", r.manifests_deleted,
                     r.blobs_freed, r.bytes_freed);
        },
        [](const std::exception& e) { fmt::print(stderr, "berth-hub: periodic retention/gc: {}\n", e.what()); });
  }
  fmt::print(stderr, "berth-hub: serving on {}:{} as {} (root {}{})\n", host, bound, public_url, o.root,
             o.open ? ", open: anyone may push and pull" : "");
  int sig = 0;
  sigwait(&sigs, &sig);
  maintenance.reset();
  server.stop();
  builds->stop();
  webhooks->stop();
  return 0;
}

}  // namespace berth::hub

int main(int argc, char** argv) {
  CLI::App app{"berth-hub: a registry and hub to share container images"};
  app.require_subcommand(1);
  berth::hub::ServeOptions serve;
  CLI::App* s = app.add_subcommand("serve", "Serve the registry API");
  s->add_option("--root", serve.root, "Directory for blobs, uploads and the default SQLite database");
  s->add_option("--listen", serve.listen, "Address to listen on (host:port)");
  s->add_option("--database", serve.database, "sqlite:///path or postgres://... (default: <root>/hub.db)");
  s->add_option("--storage", serve.storage, "Blob storage: file:///path or s3://bucket/prefix?endpoint=... (default: <root>)");
  s->add_option("--public-url", serve.public_url, "URL clients reach this server at (the token realm; default http://<listen>)");
  s->add_flag("--open", serve.open, "Let anyone push and pull (no accounts)");
  s->add_flag("--allow-signup", serve.allow_signup, "Let anyone create an account (POST /api/v1/users)");
  s->add_flag("--default-private", serve.default_private, "Repositories created by a push are private");
  s->add_option("--gc-interval", serve.gc_interval, "Seconds between retention + garbage collection runs (0: never)");
  s->add_flag("--gc-delete-untagged", serve.gc_delete_untagged, "Periodic collections also delete untagged manifests");
  s->add_option("--berthd", serve.berthd, "berthd that runs automated builds (unix:///path or tcp://host:port)");
  s->add_option("--build-poll", serve.build_poll, "Seconds between polls of build sources' git remotes (0: never)");
  s->add_flag("--build-local-sources", serve.build_local_sources,
              "Let every repository admin build from paths on this host (site admins always may)");
  berth::hub::GcCliOptions gc;
  CLI::App* g = app.add_subcommand("gc", "Delete unreferenced blobs (safe while serving)");
  g->add_option("--root", gc.root, "berth-hub's root (blobs and the default SQLite database)");
  g->add_option("--database", gc.database, "sqlite:///path or postgres://... (default: <root>/hub.db)");
  g->add_option("--storage", gc.storage, "Blob storage, as for serve (default: <root>)");
  g->add_flag("--dry-run", gc.dry_run, "Report what would be freed; change nothing");
  g->add_flag("--delete-untagged", gc.delete_untagged, "First delete manifests no tag keeps");
  g->add_option("--grace-seconds", gc.grace_seconds, "Keep blobs stored or used this recently (default 3600)");
  berth::hub::UserOptions user;
  CLI::App* u = app.add_subcommand("user", "Manage accounts offline")->require_subcommand(1);
  CLI::App* uc = u->add_subcommand("create", "Create a user; the password is read from stdin");
  uc->add_option("--root", user.root, "berth-hub's root (holds the default SQLite database)");
  uc->add_option("--database", user.database, "sqlite:///path or postgres://... (default: <root>/hub.db)");
  uc->add_option("--email", user.email, "The user's email address");
  uc->add_flag("--admin", user.site_admin, "Make the user a site administrator");
  uc->add_option("name", user.name, "User name")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    if (s->parsed()) return berth::hub::serve(serve);
    if (uc->parsed()) return berth::hub::create_user(user);
    if (g->parsed()) return berth::hub::run_gc(gc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berth-hub: %s\n", e.what());
    return 1;
  }
  return 0;
}
