#include "registry/credentials.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strings.h"
#include "base/base64.h"

namespace berth::registry {

namespace {

// ordered_json: a rewrite keeps the user's keys in the user's order.
using Json = nlohmann::ordered_json;

constexpr const char* kIndexServer = "https://index.docker.io/v1/";
constexpr const char* kTokenUsername = "<token>";  // helper "Username" meaning "Secret is an identity token"
constexpr const char* kNotFound = "credentials not found in native keychain";

// docker's ConvertToHostname: "https://host:5000/v2/" -> "host:5000".
std::string convert_to_hostname(std::string_view url) {
  if (url.starts_with("http://"))
    url.remove_prefix(7);
  else if (url.starts_with("https://"))
    url.remove_prefix(8);
  return std::string(url.substr(0, url.find('/')));
}

// The parsed file; missing or blank is an empty config, as for docker.
Json load(const std::string& path) {
  std::string text;
  if (!read_file_if_exists(path, &text) || trim(text).empty()) return Json::object();
  Json cfg;
  try {
    cfg = Json::parse(text);
  } catch (const Json::exception& e) {
    // nlohmann's "[json.exception.parse_error.101] " prefix says nothing to a user.
    std::string why = e.what();
    if (auto p = why.find("] "); p != std::string::npos) why.erase(0, p + 2);
    fail("{}: {}", path, why);
  }
  if (!cfg.is_object()) fail("{}: not a JSON object", path);
  for (const char* map : {"auths", "credHelpers"})
    if (cfg.contains(map) && !cfg[map].is_null() && !cfg[map].is_object())
      fail("{}: \"{}\" is not an object", path, map);
  if (cfg.contains("credsStore") && !cfg["credsStore"].is_null() && !cfg["credsStore"].is_string())
    fail("{}: \"credsStore\" is not a string", path);
  return cfg;
}

// Writes cfg over path the way docker's ConfigFile.Save does: through a
// symlink to its target, keeping the old file's mode (0600 for a new one).
void save(const std::string& path, const Json& cfg) {
  std::string target = path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    if (n < 0) fail_errno("readlink {}", path);
    if (static_cast<size_t>(n) == sizeof buf) fail("readlink {}: target too long", path);
    std::string link(buf, static_cast<size_t>(n));
    target = link.starts_with("/") ? link : path_join(path.substr(0, path.rfind('/') + 1), link);
  }
  mode_t mode = 0600;
  if (::stat(target.c_str(), &st) == 0) mode = st.st_mode & 07777;
  if (size_t slash = target.rfind('/'); slash != std::string::npos && slash > 0)
    mkdir_all(target.substr(0, slash), 0700);
  write_file_atomic(target, cfg.dump(1, '\t'), mode);
  // The umask may have narrowed the mode of the new file; restore it.
  ::chmod(target.c_str(), mode);
}

const Json* auths_of(const Json& cfg) {
  auto it = cfg.find("auths");
  return it == cfg.end() || !it->is_object() ? nullptr : &*it;
}

// credHelpers[key] takes precedence over credsStore; "" means the file itself.
std::string helper_for(const Json& cfg, const std::string& path, const std::string& key) {
  std::string name;
  if (auto h = cfg.find("credHelpers"); h != cfg.end() && h->is_object() && h->contains(key)) {
    if (!(*h)[key].is_string()) fail("{}: credHelpers[\"{}\"] is not a string", path, key);
    name = (*h)[key].get<std::string>();
  } else if (auto s = cfg.find("credsStore"); s != cfg.end() && s->is_string()) {
    name = s->get<std::string>();
  }
  // The name becomes part of a program looked up on PATH: no paths.
  if (name.find('/') != std::string::npos) fail("{}: invalid credential helper name \"{}\"", path, name);
  return name;
}

// Keys of "auths" that mean key: itself first, then (except for Docker Hub,
// as docker's ResolveAuthConfig) URL-style keys whose host part is key.
std::vector<std::string> matching_keys(const Json& auths, const std::string& key) {
  std::vector<std::string> out;
  if (auths.contains(key)) out.push_back(key);
  if (key == kIndexServer) return out;
  for (const auto& [k, v] : auths.items())
    if (k != key && convert_to_hostname(k) == key) out.push_back(k);
  return out;
}

Credentials decode_entry(const Json& entry, const std::string& path, const std::string& key) {
  if (!entry.is_object()) fail("{}: auths[\"{}\"] is not an object", path, key);
  auto str = [&](const char* field) {
    auto it = entry.find(field);
    if (it == entry.end() || it->is_null()) return std::string();
    if (!it->is_string()) fail("{}: auths[\"{}\"].{} is not a string", path, key, field);
    return it->get<std::string>();
  };
  Credentials c;
  c.username = str("username");
  c.password = str("password");
  c.identity_token = str("identitytoken");
  if (std::string auth = str("auth"); !auth.empty()) {
    std::string plain;
    try {
      plain = base64_decode(auth);
    } catch (const Error&) {
      fail("{}: invalid \"auth\" for {}", path, key);
    }
    size_t colon = plain.find(':');
    if (colon == std::string::npos || colon == 0) fail("{}: invalid \"auth\" for {}", path, key);
    c.username = plain.substr(0, colon);
    // Trailing NULs: old clients padded the encoded string; docker trims them.
    c.password = plain.substr(colon + 1);
    size_t start = c.password.find_first_not_of('\0');
    size_t end = c.password.find_last_not_of('\0');
    c.password = start == std::string::npos ? "" : c.password.substr(start, end - start + 1);
  }
  return c;
}

Json encode_entry(const Credentials& c) {
  Json e = Json::object();
  if (!c.username.empty() || !c.password.empty()) e["auth"] = base64_encode(c.username + ":" + c.password);
  if (!c.identity_token.empty()) e["identitytoken"] = c.identity_token;
  return e;
}

// --- the docker-credential-<name> protocol ---

struct HelperResult {
  bool ok = false;
  bool not_found = false;
  std::string out, message;  // message: what the helper said, for errors
};

HelperResult run_helper(const std::string& name, const std::string& verb, const std::string& server,
                        std::string_view input) {
  std::string prog = "docker-credential-" + name;
  ProcessResult r;
  try {
    r = run_process({prog, verb}, input);
  } catch (const Error& e) {
    throw e.wrap(fmt::format("credential helper {} {} {}", prog, verb, server));
  }
  HelperResult h;
  h.ok = r.ok();
  h.out = std::move(r.out);
  if (h.ok) return h;
  // Helpers print their error on stdout (credentials.Serve); a crashing one
  // or a shell reports on stderr.
  h.message = std::string(trim(h.out));
  if (h.message.empty()) h.message = std::string(trim(r.err));
  h.not_found = h.message == kNotFound;
  if (h.message.empty()) h.message = fmt::format("exited with status {}", r.exit_code);
  return h;
}

[[noreturn]] void helper_failed(const std::string& name, const std::string& verb, const std::string& server,
                                const std::string& message) {
  fail("credential helper docker-credential-{} {} {}: {}", name, verb, server, message);
}

Credentials helper_get(const std::string& name, const std::string& server) {
  HelperResult h = run_helper(name, "get", server, server);
  if (h.not_found) return {};
  if (!h.ok) helper_failed(name, "get", server, h.message);
  // The output is not quoted in errors: it holds the secret.
  Json j = Json::parse(h.out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) helper_failed(name, "get", server, "output is not a JSON object");
  auto str = [&](const char* field) {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) return std::string();
    if (!it->is_string()) helper_failed(name, "get", server, fmt::format("\"{}\" is not a string", field));
    return it->get<std::string>();
  };
  Credentials c;
  std::string user = str("Username");
  if (user == kTokenUsername) {
    c.identity_token = str("Secret");
  } else {
    c.username = std::move(user);
    c.password = str("Secret");
  }
  return c;
}

void helper_store(const std::string& name, const std::string& server, const Credentials& c) {
  Json req = Json::object();
  req["ServerURL"] = server;
  req["Username"] = c.identity_token.empty() ? c.username : kTokenUsername;
  req["Secret"] = c.identity_token.empty() ? c.password : c.identity_token;
  HelperResult h = run_helper(name, "store", server, req.dump() + "\n");
  if (!h.ok) helper_failed(name, "store", server, h.message);
}

// False when the helper had nothing for server.
bool helper_erase(const std::string& name, const std::string& server) {
  HelperResult h = run_helper(name, "erase", server, server);
  if (h.not_found) return false;
  if (!h.ok) helper_failed(name, "erase", server, h.message);
  return true;
}

}  // namespace

std::string config_key(const std::string& host) {
  if (host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io") return kIndexServer;
  return host;
}

CredentialStore::CredentialStore(std::string config_dir)
    : dir_(std::move(config_dir)), path_(path_join(dir_, "config.json")) {}

std::string CredentialStore::default_dir() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) return d;
  std::string home;
  if (const char* h = std::getenv("HOME"); h && *h) {
    home = h;
  } else {
    struct passwd pw {};
    struct passwd* res = nullptr;
    char buf[4096];
    if (::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir) home = res->pw_dir;
  }
  if (home.empty()) fail("docker config directory: neither DOCKER_CONFIG nor HOME is set");
  return path_join(home, ".docker");
}

Credentials CredentialStore::get(const std::string& registry_host) const {
  std::lock_guard lock(mu_);
  std::string key = config_key(registry_host);
  Json cfg = load(path_);
  // With a helper, docker takes the secrets from it alone, even when the
  // file still has an entry.
  if (std::string helper = helper_for(cfg, path_, key); !helper.empty()) return helper_get(helper, key);
  const Json* auths = auths_of(cfg);
  if (!auths) return {};
  auto keys = matching_keys(*auths, key);
  if (keys.empty()) return {};
  return decode_entry((*auths)[keys.front()], path_, keys.front());
}

void CredentialStore::store(const std::string& registry_host, const Credentials& creds) {
  std::lock_guard lock(mu_);
  std::string key = config_key(registry_host);
  Json cfg = load(path_);
  Json before = cfg;
  std::string helper = helper_for(cfg, path_, key);
  if (!helper.empty()) helper_store(helper, key, creds);
  if (!cfg.contains("auths") || !cfg["auths"].is_object()) cfg["auths"] = Json::object();
  // A helper keeps the secrets; the empty entry is how docker remembers
  // that the host is logged in.
  cfg["auths"][key] = helper.empty() ? encode_entry(creds) : Json::object();
  if (cfg != before || !path_exists(path_)) save(path_, cfg);
}

bool CredentialStore::erase(const std::string& registry_host) {
  std::lock_guard lock(mu_);
  std::string key = config_key(registry_host);
  Json cfg = load(path_);
  bool erased = false;
  if (std::string helper = helper_for(cfg, path_, key); !helper.empty()) erased = helper_erase(helper, key);
  if (cfg.contains("auths") && cfg["auths"].is_object()) {
    // Also URL-style keys for the host, so that get() finds nothing after.
    auto keys = matching_keys(cfg["auths"], key);
    for (const auto& k : keys) cfg["auths"].erase(k);
    if (!keys.empty()) {
      save(path_, cfg);
      erased = true;
    }
  }
  return erased;
}

std::vector<std::string> CredentialStore::hosts() const {
  std::lock_guard lock(mu_);
  Json cfg = load(path_);
  std::vector<std::string> out;
  if (const Json* auths = auths_of(cfg))
    for (const auto& [k, v] : auths->items()) out.push_back(k);
  if (auto h = cfg.find("credHelpers"); h != cfg.end() && h->is_object())
    for (const auto& [k, v] : h->items())
      if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  return out;
}

}  // namespace berth::registry
