// The embedded DNS server containers on user-defined networks use, as
// docker's: it listens at 127.0.0.11:53 (UDP and TCP) INSIDE each attached
// container's network namespace (sockets opened by a thread that joined
// it; they stay bound there), answers the names the engine knows (container
// names, aliases, service names) with A records, answers PTR for their
// addresses, and forwards everything else to the host's resolvers,
// relaying the upstream's answer unchanged.
//
// Contract:
// - One thread serves every container's sockets (epoll); forwarding runs
//   without blocking other clients (upstream timeout 5 s; SERVFAIL when
//   every upstream fails).
// - lookup(client, name) is called on that thread with the querying
//   container's key and the lower-cased name without the trailing dot; it
//   returns the IPv4 addresses (host byte order) or nothing to forward.
//   reverse(client, addr) likewise returns a name for PTR, or "" to forward.
//   A name the engine owns that has no A answer for AAAA gets an empty
//   NOERROR, not a forward (so clients don't wait on the host's DNS).
// - add() may be called for a namespace that already has sockets for the
//   same key: no-op (with another namespace or address, the key's old
//   sockets are replaced). remove() closes the key's sockets before it
//   returns; it and add() never wait for the serving thread, so they may be
//   called while the caller holds a lock that lookup() takes.
// - Upstreams are "ip" or "ip:port"; loopback upstreams work because the
//   forwarding sockets live in the daemon's namespace.
// - Message parsing and building use libldns; malformed queries get
//   FORMERR or are dropped, never crash the server.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace berth::network {

struct DnsBackend {
  std::function<std::vector<uint32_t>(const std::string& client, const std::string& name)> lookup;
  std::function<std::string(const std::string& client, uint32_t addr)> reverse;
};

class DnsServer {
 public:
  // upstream_timeout: how long one upstream may take before the next is
  // tried (docker's 5 s; tests shorten it).
  DnsServer(DnsBackend backend, std::vector<std::string> upstreams,
            std::chrono::milliseconds upstream_timeout = std::chrono::seconds(5));
  ~DnsServer();  // stops the thread, closes every socket
  DnsServer(const DnsServer&) = delete;
  DnsServer& operator=(const DnsServer&) = delete;

  // listen_addr defaults to docker's 127.0.0.11; port 53.
  void add(const std::string& client, const std::string& netns_path, const std::string& listen_addr = "127.0.0.11",
           uint16_t port = 53);
  void remove(const std::string& client);
  void set_upstreams(std::vector<std::string> upstreams);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The nameservers of a resolv.conf's text (IPv4 ones; "nameserver x" lines).
std::vector<std::string> resolv_conf_nameservers(const std::string& text);

}  // namespace berth::network
