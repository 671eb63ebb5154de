// Registry credentials in docker's client config file (<dir>/config.json),
// read and written as the docker CLI does, so `docker login` and Berth share
// logins.
//
// Contract:
// - Keys of "auths" are server addresses: Docker Hub is
//   "https://index.docker.io/v1/" (see config_key), others the host as given.
//   get() tries the exact key, then (not for Docker Hub, as docker) any key
//   written as a URL whose host part matches ("https://host:5000/v2/").
// - An entry holds "auth" = base64("user:password") and "identitytoken".
// - A helper named by "credHelpers"[key], else by "credsStore", owns the
//   secrets: docker-credential-<name> get|store|erase, found on PATH. Then
//   config.json only keeps an empty entry {} for the host (as docker does),
//   and entries in the file are not consulted by get().
// - Every call re-reads the file (no stale state across `docker login`).
//   Writes replace the file atomically, keep its mode (0600 when new) and
//   every key Berth does not manage ("proxies", "psFormat", ...), and write
//   through a symlinked config.json to its target.
// - A malformed config.json is an Error "<path>: ..." and is never
//   overwritten; a failing helper is an Error naming it and carrying its
//   message.
#pragma once

#include <mutex>
#include <string>
#include <vector>

namespace berth::registry {

struct Credentials {
  std::string username, password;
  std::string identity_token;  // "identitytoken": an OAuth refresh token, used instead of the password

  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

// "docker.io", "index.docker.io", "registry-1.docker.io" ->
// "https://index.docker.io/v1/"; any other host unchanged.
std::string config_key(const std::string& host);

class CredentialStore {
 public:
  explicit CredentialStore(std::string config_dir);

  // $DOCKER_CONFIG when set, else $HOME/.docker (the passwd entry's home
  // when HOME is unset).
  static std::string default_dir();

  const std::string& config_path() const { return path_; }

  // Empty Credentials when none are stored for the host.
  Credentials get(const std::string& registry_host) const;
  // Replaces whatever was stored for the host.
  void store(const std::string& registry_host, const Credentials& creds);
  // Forgets the host (helper entry, exact key and URL-style keys for it);
  // false when nothing was stored.
  bool erase(const std::string& registry_host);
  // Server addresses the file knows: "auths" keys, then "credHelpers" keys
  // not among them, in file order (secrets kept only inside a credsStore
  // helper without an "auths" entry are not listed).
  std::vector<std::string> hosts() const;

 private:
  std::string dir_, path_;
  mutable std::mutex mu_;  // serializes read-modify-write of the file within this process
};

}  // namespace berth::registry
