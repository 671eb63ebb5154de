// Where a registry is reached: the URLs tried for a reference's domain, as
// dockerd's registry service chooses them.
//
// Contract (docker's LookupPullEndpoints / isSecureIndex):
// - docker.io: each configured mirror first (pull only), then
//   https://registry-1.docker.io.
// - Any other host: https://<host>; when the registry is insecure, TLS is
//   not verified and http://<host> is tried next (docker's fallback).
// - A registry is insecure when it is listed by name ("host:port") in
//   insecure_registries, or when one of its addresses lies in a listed CIDR
//   or in 127.0.0.0/8 (always insecure, as in docker).
#pragma once

#include <string>
#include <vector>

namespace berth::registry {

struct RegistryConfig {
  std::vector<std::string> mirrors;              // "https://mirror.local:5000"
  std::vector<std::string> insecure_registries;  // "host:port" or "10.0.0.0/8"
};

struct Endpoint {
  std::string base_url;  // "https://registry-1.docker.io", no trailing slash
  bool insecure_tls = false;
  bool mirror = false;   // a pull-through mirror: never pushed to
};

// The registry host for a normalized reference domain ("docker.io" ->
// "registry-1.docker.io"; others unchanged).
std::string registry_host(const std::string& domain);

bool is_insecure_registry(const std::string& host, const RegistryConfig& config);

// Endpoints to try, in order. push excludes mirrors.
std::vector<Endpoint> endpoints_for(const std::string& domain, const RegistryConfig& config, bool push);

}  // namespace berth::registry
