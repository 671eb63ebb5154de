// pull, push, login, logout: images to and from registries through the
// daemon, and the logins in docker's config.json (shared with the docker
// CLI) that they use.
//
// The daemon never reads config.json: like the docker CLI, berth looks up
// the credentials for the image's registry and sends them with the request
// as X-Registry-Auth (base64url of {"username","password","serveraddress"}
// or {"identitytoken",...}); `login` asks the daemon to check them
// (POST /auth) and only then stores them.
//
// Not done (docker 28 does): Docker Hub's device-code web login, the
// "Login prior to pull:" prompt after a 401, content trust.
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "base/base64.h"
#include "base/fs.h"
#include "base/strings.h"
#include "berth.h"
#include "cli/formatters.h"
#include "cli/jsonmessage.h"
#include "cli/terminal.h"
#include "image/reference.h"
#include "registry/credentials.h"

namespace berth::cmd {
namespace {

constexpr const char* kIndexServer = "https://index.docker.io/v1/";

// docker's ConvertToHostname: "https://host:5000/v2/" -> "host:5000".
std::string hostname_of(std::string_view server) {
  if (server.starts_with("http://")) server.remove_prefix(7);
  else if (server.starts_with("https://")) server.remove_prefix(8);
  return std::string(server.substr(0, server.find('/')));
}

// registrytypes.EncodeAuthConfig: base64url (padded) of the JSON, empty
// fields left out; "{}" for anonymous access, as docker sends it.
std::string encode_auth(const registry::Credentials& c, const std::string& server) {
  json j = json::object();
  if (!c.username.empty()) j["username"] = c.username;
  if (!c.password.empty()) j["password"] = c.password;
  if (!c.identity_token.empty()) j["identitytoken"] = c.identity_token;
  if (!c.empty() && !server.empty()) j["serveraddress"] = server;
  std::string s = base64_encode(j.dump());
  for (char& ch : s) {
    if (ch == '+') ch = '-';
    else if (ch == '/') ch = '_';
  }
  return s;
}

// The login stored for ref's registry goes with the request. An unreadable
// config.json does not stop a pull of a public image: docker warns and goes
// on anonymously.
void send_registry_auth(Context& ctx, const std::string& domain) {
  registry::Credentials creds;
  registry::CredentialStore store(registry::CredentialStore::default_dir());
  try {
    creds = store.get(domain);
  } catch (const Error& e) {
    std::string why = e.what(), path = store.config_path() + ": ";
    std::fflush(stdout);
    if (why.starts_with(path))
      std::fprintf(stderr, "WARNING: Error parsing config file (%s): %s\n", store.config_path().c_str(),
                   why.c_str() + path.size());
    else
      std::fprintf(stderr, "WARNING: %s\n", why.c_str());  // a credential helper that failed
  }
  ctx.api().set_header("X-Registry-Auth", encode_auth(creds, registry::config_key(domain)));
}

void send_registry_auth(Context& ctx, const image::Reference& ref) { send_registry_auth(ctx, ref.domain); }

// "busybox" -> docker.io/library/busybox:latest, announcing the default
// tag as docker does; -a wants a bare repository name.
image::Reference target_reference(const std::string& arg, bool all_tags, bool quiet) {
  image::Reference ref = image::parse_reference(arg);
  bool name_only = !ref.tag && !ref.digest;
  if (all_tags && !name_only) fail("tag can't be used with --all-tags/-a");
  if (!all_tags && name_only) {
    ref = image::with_default_tag(ref);
    if (!quiet) std::printf("Using default tag: %s\n", ref.tag->c_str());
  }
  return ref;
}

// Streams the daemon's progress messages to stdout (nothing with -q) and
// turns an error message into the command's error.
void show_progress(Context& ctx, const std::string& target, bool quiet) {
  std::fflush(stdout);
  cli::JsonMessageDisplay out = cli::stdout_display(quiet);
  ctx.api().stream("POST", target, [&](std::string_view d) { out.feed(d); });
  out.finish();
}

// One line from fd 0, without its newline; nullopt at EOF before any byte.
std::optional<std::string> read_line() {
  std::string line;
  char c;
  while (true) {
    ssize_t n = ::read(0, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno("reading stdin");
    if (n == 0) return line.empty() ? std::nullopt : std::optional(line);
    if (c == '\n') return line;
    line += c;
  }
}

// prompt.ReadInput: the prompt on stdout, the answer trimmed.
std::string prompt(const char* text) {
  std::printf("%s", text);
  std::fflush(stdout);
  std::optional<std::string> line = read_line();
  if (!line) fail("EOF");
  return std::string(trim(*line));
}

// Terminal echo off for the password, back on whatever happens.
class NoEcho {
 public:
  NoEcho() {
    if (::tcgetattr(0, &saved_) != 0) return;
    struct termios t = saved_;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = ::tcsetattr(0, TCSANOW, &t) == 0;
  }
  ~NoEcho() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }

 private:
  struct termios saved_{};
  bool active_ = false;
};

// command.PromptUserForCredentials for a terminal on stdin.
registry::Credentials ask_credentials(std::string user, std::string password, const std::string& default_user) {
  registry::Credentials c;
  user = trim(user);
  if (user.empty()) {
    std::string p = default_user.empty() ? "Username: " : "Username (" + default_user + "): ";
    user = prompt(p.c_str());
    if (user.empty()) user = default_user;
    if (user.empty()) fail("Error: Non-null Username Required");
  }
  password = trim(password);
  if (password.empty()) {
    {
      NoEcho quiet;
      password = prompt("Password: ");
    }
    std::printf("\n");
    if (password.empty()) fail("Error: Password Required");
  }
  c.username = user;
  c.password = password;
  return c;
}

bool same(const registry::Credentials& a, const registry::Credentials& b) {
  return a.username == b.username && a.password == b.password && a.identity_token == b.identity_token;
}

// Whether the password ended up in config.json itself (not in a helper):
// docker warns about that.
bool password_in_file(const registry::CredentialStore& store, const std::string& server) {
  std::string text;
  if (!read_file_if_exists(store.config_path(), &text)) return false;
  json cfg = json::parse(text, nullptr, false);
  if (!cfg.is_object() || !cfg.contains("auths") || !cfg["auths"].is_object()) return false;
  const json& auths = cfg["auths"];
  auto it = auths.find(registry::config_key(server));
  return it != auths.end() && it->is_object() && it->contains("auth");
}

// POST /auth, then store what worked (an identity token from the daemon
// replaces the password, as docker keeps it). Returns the daemon's status.
std::string login_and_store(Context& ctx, registry::CredentialStore& store, const std::string& server,
                            registry::Credentials creds) {
  json body = {{"username", creds.username}, {"password", creds.password}, {"serveraddress", server}};
  json r = ctx.api().post("/auth", body);
  std::string token = r.is_object() ? r.value("IdentityToken", "") : "";
  if (!token.empty()) {
    creds.password.clear();
    creds.identity_token = token;
  }
  // docker's file store skips an unchanged login, and so its warning.
  if (same(store.get(server), creds)) return r.is_object() ? r.value("Status", "") : "";
  store.store(server, creds);
  if (!creds.password.empty() && password_in_file(store, server)) {
    std::fflush(stdout);
    std::fprintf(stderr,
                 "\nWARNING! Your credentials are stored unencrypted in '%s'.\n"
                 "Configure a credential helper to remove this warning. See\n"
                 "https://docs.docker.com/go/credential-store/\n\n",
                 store.config_path().c_str());
  }
  return r.is_object() ? r.value("Status", "") : "";
}

// The daemon's "Login Succeeded", when it says anything.
void print_status(const std::string& status) {
  if (!status.empty()) std::printf("%s\n", status.c_str());
}

}  // namespace

int cmd_pull(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry");
  c.flags.add_bool("a,all-tags", "Download all tagged images in the repository");
  c.flags.add_bool("disable-content-trust", "Skip image verification", true);
  c.flags.add_value("platform", "Set platform if server is multi-platform capable");
  c.flags.add_bool("q,quiet", "Suppress verbose output");
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  bool all = c.flags.on("all-tags"), quiet = c.flags.on("quiet");
  image::Reference ref = target_reference(pos[0], all, quiet);
  send_registry_auth(ctx, ref);
  cli::Query q;
  q.add("fromImage", ref.name());
  if (!all) q.add("tag", ref.digest ? *ref.digest : *ref.tag);
  q.add_if(c.flags.changed("platform"), "platform", c.flags.value("platform"));
  show_progress(ctx, "/images/create" + q.str(), quiet);
  std::printf("%s\n", ref.str().c_str());
  return 0;
}

int cmd_push(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] NAME[:TAG]", "Upload an image to a registry");
  c.flags.add_bool("a,all-tags", "Push all tags of an image to the repository");
  c.flags.add_bool("disable-content-trust", "Skip image signing", true);
  c.flags.add_value("platform", "Push a platform-specific manifest as a single-platform image to the registry");
  c.flags.add_bool("q,quiet", "Suppress verbose output");
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  bool all = c.flags.on("all-tags"), quiet = c.flags.on("quiet");
  image::Reference ref = target_reference(pos[0], all, quiet);
  if (ref.digest) fail("cannot push a digest reference");
  // The API berth speaks (v1.41) has no platform for push.
  if (c.flags.changed("platform"))
    fail("\"--platform\" requires API version 1.46, but the Docker daemon API version is 1.41");
  send_registry_auth(ctx, ref);
  cli::Query q;
  q.add_if(!all, "tag", ref.tag.value_or(""));
  show_progress(ctx, "/images/" + ref.familiar_name() + "/push" + q.str(), quiet);
  if (quiet) std::printf("%s\n", ref.str().c_str());
  return 0;
}

// Code points, not bytes: docker truncates descriptions by runes.
static size_t utf8_length(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}
static std::string utf8_prefix(std::string_view s, size_t runes) {
  size_t i = 0, seen = 0;
  for (; i < s.size(); ++i) {
    if ((s[i] & 0xC0) != 0x80 && seen++ == runes) break;
  }
  return std::string(s.substr(0, i));
}

int cmd_search(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] TERM", "Search Docker Hub for images");
  c.flags.add_list("f,filter", "Filter output based on conditions provided");
  c.flags.add_value("format", "Pretty-print search using a Go template");
  c.flags.add_value("limit", "Max number of search results");
  c.flags.add_bool("no-trunc", "Don't truncate output");
  Args pos = c.parse(args);
  c.exactly(pos, 1);
  const std::string& term = pos[0];
  // The index is the term's first component when it looks like a host, as in docker.
  std::string domain = "docker.io";
  size_t slash = term.find('/');
  if (slash != std::string::npos) {
    std::string first = term.substr(0, slash);
    if (first.find_first_of(".:") != std::string::npos || first == "localhost") domain = first;
  }
  send_registry_auth(ctx, domain);
  cli::Query q;
  q.add("term", term);
  if (c.flags.changed("limit")) q.add("limit", c.flags.value("limit"));
  json filters = filters_json(c.flags.list("filter"));
  if (!filters.empty()) q.add("filters", filters.dump());
  json results = ctx.api().get("/images/search" + q.str());
  bool trunc = !c.flags.on("no-trunc");
  std::vector<json> rows;
  for (const json& r : results) {
    std::string desc = r.value("description", "");
    std::replace(desc.begin(), desc.end(), '\n', ' ');
    // docker cuts descriptions at 45 characters (runes) and marks the cut.
    if (trunc && utf8_length(desc) > 45) desc = utf8_prefix(desc, 44) + "\u2026";
    rows.push_back(json{{"Name", r.value("name", "")},
                        {"Description", desc},
                        {"StarCount", std::to_string(r.value("star_count", 0))},
                        {"IsOfficial", r.value("is_official", false) ? "[OK]" : ""},
                        {"IsAutomated", r.value("is_automated", false) ? "[OK]" : ""}});
  }
  json header = {{"Name", "NAME"}, {"Description", "DESCRIPTION"}, {"StarCount", "STARS"},
                 {"IsOfficial", "OFFICIAL"}, {"IsAutomated", "AUTOMATED"}};
  std::fputs(cli::render_list(c.flags.value("format"),
                              "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}", header, rows)
                 .c_str(),
             stdout);
  return 0;
}

int cmd_login(Context& ctx, const Args& args) {
  Command c(ctx, "[OPTIONS] [SERVER]",
            "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.");
  c.flags.add_value("p,password", "Password or Personal Access Token (PAT)");
  c.flags.add_bool("password-stdin", "Take the Password or Personal Access Token (PAT) from stdin");
  c.flags.add_value("u,username", "Username");
  Args pos = c.parse(args);
  c.at_most(pos, 1);
  std::string user = c.flags.value("username"), password = c.flags.value("password");
  bool from_stdin = c.flags.on("password-stdin");
  if (!password.empty() && from_stdin) fail("conflicting options: cannot specify both --password and --password-stdin");
  if (from_stdin && user.empty()) fail("the --password-stdin option requires --username to be set");
  if (!password.empty())
    std::fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
  if (from_stdin) {
    std::string all;
    while (std::optional<std::string> line = read_line()) all += *line + "\n";
    if (!all.empty()) all.pop_back();  // the newline read_line took off the last line
    if (all.ends_with('\r')) all.pop_back();
    password = all;
  }

  std::string server = pos.empty() || pos[0] == "docker.io" ? kIndexServer : pos[0];
  if (server != kIndexServer) server = hostname_of(server);
  registry::CredentialStore store(registry::CredentialStore::default_dir());

  // Nothing given: try the stored login first, as docker does.
  registry::Credentials stored;
  if (user.empty() && password.empty()) {
    stored = store.get(server);
    if (!stored.username.empty() && !stored.password.empty()) {
      std::fprintf(stderr, "Authenticating with existing credentials... [Username: %s]\n", stored.username.c_str());
      std::fprintf(stderr,
                   "\n Info -> To login with a different account, run 'berth logout' followed by 'berth login'\n\n\n");
      try {
        print_status(login_and_store(ctx, store, server, stored));
        return 0;
      } catch (const cli::ApiError& e) {
        if (e.status() == 401) std::fprintf(stderr, "Stored credentials invalid or expired\n");
        else std::fprintf(stderr, "Login did not succeed, error: %s\n", e.what());
      }
    }
  }
  if ((user.empty() || password.empty()) && !cli::is_terminal(0))
    fail("Error: Cannot perform an interactive login from a non TTY device");
  registry::Credentials creds = ask_credentials(user, password, stored.username);
  print_status(login_and_store(ctx, store, server, creds));
  return 0;
}

int cmd_logout(Context& ctx, const Args& args) {
  Command c(ctx, "[SERVER]",
            "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.");
  Args pos = c.parse(args);
  c.at_most(pos, 1);
  std::string server = pos.empty() ? kIndexServer : hostname_of(pos[0]);
  // docker 28 says this whether or not a login was stored.
  std::printf("Removing login credentials for %s\n", server.c_str());
  std::fflush(stdout);
  try {
    registry::CredentialStore(registry::CredentialStore::default_dir()).erase(server);
  } catch (const Error& e) {
    std::fprintf(stderr, "WARNING: could not erase credentials:\n%s: %s\n", server.c_str(), e.what());
  }
  return 0;
}

}  // namespace berth::cmd
