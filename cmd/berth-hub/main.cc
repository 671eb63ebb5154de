// berth-hub: the registry and hub server. `berth-hub serve` answers the OCI
// distribution API on --listen until SIGTERM or SIGINT, keeping blobs under
// --root and metadata in --database (SQLite in the root by default).
#include <signal.h>

#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "http/server.h"
#include "hub/blob_store.h"
#include "hub/metadata.h"
#include "hub/registry_api.h"
#include "hub/registry_error.h"
#include "hub/sql.h"

namespace berth::hub {

struct ServeOptions {
  std::string root = "/var/lib/berth-hub";
  std::string listen = "127.0.0.1:5000";
  std::string database;
  bool open = false;
};

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
  if (!o.open) {
    fail("accounts and token auth are not available yet: start with --open (anyone may push and pull)");
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  mkdir_all(o.root, 0700);
  std::unique_ptr<Database> db = open_database(o.database.empty() ? o.root + "/hub.db" : o.database);
  Metadata meta(*db);
  meta.migrate();
  BlobStore blobs(o.root);
  RegistryApi registry(blobs, meta, [](http::Request&, http::Response&, const std::string&, Action) {});

  http::HttpServer::Options hopts;
  hopts.default_headers = {{"Docker-Distribution-Api-Version", "registry/2.0"}};
  hopts.io_threads = 1;
  http::HttpServer server(
      [&](http::Request& req, http::Response& res) {
        const std::string& p = req.path();
        if (p == "/v2" || p.starts_with("/v2/")) {
          registry.serve(req, res);
          return;
        }
        res.send(404, "text/plain; charset=utf-8", "404 page not found\n");
      },
      hopts);
  auto [host, port] = split_listen(o.listen);
  uint16_t bound = server.listen_tcp(host, port);
  server.start();
  fmt::print(stderr, "berth-hub: serving on {}:{} (root {})\n", host, bound, o.root);
  int sig = 0;
  sigwait(&sigs, &sig);
  server.stop();
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
  s->add_flag("--open", serve.open, "Let anyone push and pull (no accounts)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (s->parsed()) return berth::hub::serve(serve);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "berth-hub: %s\n", e.what());
    return 1;
  }
  return 0;
}
