// The embedded DNS server (see dns_server.h).
//
// One serving thread runs an epoll loop over every container's listeners,
// their TCP connections and the upstream sockets of queries being
// forwarded. All of that state sits behind one mutex, which the thread
// holds only for non-blocking socket work: it lets go while the backend
// answers, so add() and remove() never wait behind a lookup (the engine may
// call them while holding the lock its lookup takes).
#include "network/dns_server.h"

// ldns's headers #define true/false as 0/1 unless stdbool.h came first
// (which breaks fmt's templates): keep this order.
#include <stdbool.h>  // NOLINT(modernize-deprecated-headers)

#include <ldns/ldns.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <variant>

#include "base/error.h"
#include "base/fd.h"
#include "base/strings.h"

namespace berth::network {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kTtl = 600;            // docker's TTL for the names it answers
constexpr size_t kUdpAnswerLimit = 512;   // a UDP answer's size without EDNS (RFC 1035)
constexpr size_t kMaxMessage = 65535;
constexpr auto kTcpIdleTimeout = std::chrono::seconds(10);
constexpr int kMaxTcpConnsPerClient = 32;
constexpr int kMaxOutstandingPerConn = 64;  // pipelined queries one TCP client may have in flight
constexpr size_t kMaxForwards = 1024;       // docker's limit of concurrent forwarded queries
constexpr int kBatch = 32;                  // datagrams or accepts per wake-up, so no socket starves others
constexpr uint64_t kWakeToken = 0;

// ---- Messages (libldns) ----

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

Pkt parse(const std::string& wire) {
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, reinterpret_cast<const uint8_t*>(wire.data()), wire.size()) != LDNS_STATUS_OK) return nullptr;
  return Pkt(p);
}

std::string to_wire(const ldns_pkt* p) {
  uint8_t* buf = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&buf, p, &size) != LDNS_STATUS_OK) return "";
  std::string out(reinterpret_cast<const char*>(buf), size);
  std::free(buf);
  return out;
}

// Header fields read straight from the wire, for messages ldns cannot
// parse and for relaying upstream answers untouched.
uint16_t wire_id(const std::string& w) { return uint16_t(uint8_t(w[0]) << 8 | uint8_t(w[1])); }
void set_wire_id(std::string& w, uint16_t id) {
  w[0] = char(id >> 8);
  w[1] = char(id & 0xff);
}
bool wire_is_response(const std::string& w) { return uint8_t(w[2]) & 0x80; }
uint8_t wire_rcode(const std::string& w) { return uint8_t(w[3]) & 0x0f; }

ldns_rr* first_question(const ldns_pkt* p) {
  ldns_rr_list* q = ldns_pkt_question(p);
  return q && ldns_rr_list_rr_count(q) > 0 ? ldns_rr_list_rr(q, 0) : nullptr;
}

// A reply to query: its id, opcode, RD and first question (several questions
// are answered for the first, as most servers do).
Pkt reply_to(const ldns_pkt* query, ldns_pkt_rcode rcode) {
  Pkt r(ldns_pkt_new());
  ldns_pkt_set_id(r.get(), ldns_pkt_id(query));
  ldns_pkt_set_qr(r.get(), true);
  ldns_pkt_set_opcode(r.get(), ldns_pkt_get_opcode(query));
  ldns_pkt_set_rd(r.get(), ldns_pkt_rd(query));
  ldns_pkt_set_ra(r.get(), true);
  ldns_pkt_set_rcode(r.get(), rcode);
  if (ldns_rr* q = first_question(query)) ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(q));
  return r;
}

// A reply built from the 12-byte header alone, for a query ldns rejects.
std::string header_reply(const std::string& query, ldns_pkt_rcode rcode) {
  Pkt r(ldns_pkt_new());
  ldns_pkt_set_id(r.get(), wire_id(query));
  ldns_pkt_set_qr(r.get(), true);
  unsigned opcode = (uint8_t(query[2]) >> 3) & 0x0f;
  ldns_pkt_set_opcode(r.get(), opcode <= LDNS_PACKET_UPDATE ? ldns_pkt_opcode(opcode) : LDNS_PACKET_QUERY);
  ldns_pkt_set_rd(r.get(), uint8_t(query[2]) & 0x01);
  ldns_pkt_set_ra(r.get(), true);
  ldns_pkt_set_rcode(r.get(), rcode);
  return to_wire(r.get());
}

std::string error_reply(const std::string& query, ldns_pkt_rcode rcode) {
  if (Pkt q = parse(query)) return to_wire(reply_to(q.get(), rcode).get());
  return header_reply(query, rcode);
}

// "Web.Example." -> "web.example": the form lookup() is given.
std::string lookup_key(const ldns_rdf* name) {
  char* text = ldns_rdf2str(name);
  if (!text) return "";
  std::string key(text);
  std::free(text);
  for (char& c : key) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!key.empty() && key.back() == '.') key.pop_back();
  return key;
}

// "4.3.2.1.in-addr.arpa" -> 1.2.3.4 (host byte order).
bool ptr_address(const std::string& key, uint32_t* addr) {
  constexpr std::string_view kSuffix = ".in-addr.arpa";
  if (key.size() <= kSuffix.size() || !key.ends_with(kSuffix)) return false;
  std::vector<std::string> labels = split(std::string_view(key).substr(0, key.size() - kSuffix.size()), '.');
  if (labels.size() != 4) return false;
  uint32_t a = 0;
  for (size_t i = 0; i < 4; ++i) {
    unsigned long long octet = 0;
    if (labels[i].empty() || labels[i].size() > 3 || !parse_uint64(labels[i], &octet) || octet > 255) return false;
    a |= uint32_t(octet) << (8 * i);
  }
  *addr = a;
  return true;
}

ldns_rr* answer_rr(const ldns_rr* question, ldns_rr_type type, ldns_rdf* rdata) {
  ldns_rr* rr = ldns_rr_new();
  ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(question)));
  ldns_rr_set_type(rr, type);
  ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr, kTtl);
  ldns_rr_push_rdf(rr, rdata);
  return rr;
}

struct Decision {
  enum Action { kReply, kForward, kDrop } action;
  std::string reply;
};

// Answers what the backend knows; everything else is forwarded unchanged.
// Pure: touches no server state, so it runs without the lock.
Decision decide(const DnsBackend& backend, const std::string& client, const std::string& wire, bool tcp) {
  if (wire.size() < 12 || wire_is_response(wire)) return {Decision::kDrop, ""};
  Pkt query = parse(wire);
  if (!query) return {Decision::kReply, header_reply(wire, LDNS_RCODE_FORMERR)};
  const ldns_rr* question = first_question(query.get());
  if (!question) return {Decision::kReply, to_wire(reply_to(query.get(), LDNS_RCODE_FORMERR).get())};
  if (ldns_pkt_get_opcode(query.get()) != LDNS_PACKET_QUERY || ldns_rr_get_class(question) != LDNS_RR_CLASS_IN)
    return {Decision::kForward, ""};
  std::string name = lookup_key(ldns_rr_owner(question));
  if (name.empty()) return {Decision::kForward, ""};

  Pkt answer;
  try {
    switch (ldns_rr_get_type(question)) {
      case LDNS_RR_TYPE_A: {
        std::vector<uint32_t> addrs = backend.lookup ? backend.lookup(client, name) : std::vector<uint32_t>{};
        if (addrs.empty()) break;
        answer = reply_to(query.get(), LDNS_RCODE_NOERROR);
        for (uint32_t addr : addrs) {
          uint32_t net = htonl(addr);
          ldns_pkt_push_rr(answer.get(), LDNS_SECTION_ANSWER,
                           answer_rr(question, LDNS_RR_TYPE_A, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &net)));
        }
        break;
      }
      case LDNS_RR_TYPE_AAAA:
        // Docker's networks are IPv4 here: a known name has no AAAA, and
        // saying so at once spares the client a wait on the host's DNS.
        if (backend.lookup && !backend.lookup(client, name).empty())
          answer = reply_to(query.get(), LDNS_RCODE_NOERROR);
        break;
      case LDNS_RR_TYPE_PTR: {
        uint32_t addr = 0;
        if (!backend.reverse || !ptr_address(name, &addr)) break;
        std::string target = backend.reverse(client, addr);
        if (target.empty()) break;
        if (target.back() != '.') target += '.';
        ldns_rdf* rdata = ldns_dname_new_frm_str(target.c_str());
        if (!rdata) break;  // not a valid name: let the upstream answer
        answer = reply_to(query.get(), LDNS_RCODE_NOERROR);
        ldns_pkt_push_rr(answer.get(), LDNS_SECTION_ANSWER, answer_rr(question, LDNS_RR_TYPE_PTR, rdata));
        break;
      }
      default:
        break;
    }
  } catch (...) {  // the backend failed: say so rather than forward a name we may own
    return {Decision::kReply, to_wire(reply_to(query.get(), LDNS_RCODE_SERVFAIL).get())};
  }
  if (!answer) return {Decision::kForward, ""};

  std::string out = to_wire(answer.get());
  size_t limit = kUdpAnswerLimit;
  if (ldns_pkt_edns(query.get())) limit = std::max<size_t>(limit, ldns_pkt_edns_udp_size(query.get()));
  if (!tcp && out.size() > limit) {
    Pkt truncated = reply_to(query.get(), LDNS_RCODE_NOERROR);
    ldns_pkt_set_tc(truncated.get(), true);
    out = to_wire(truncated.get());
  }
  return {Decision::kReply, out};
}

// ---- Addresses and sockets ----

struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&ss); }
  int family() const { return ss.ss_family; }
};

// "ip", "ip:port", "[ipv6]:port" or a bare IPv6 address.
bool parse_endpoint(const std::string& text, uint16_t default_port, SockAddr* out) {
  std::string host = text;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      port = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  uint16_t p = default_port;
  if (!port.empty() || text.ends_with(":")) {
    unsigned long long v = 0;
    if (!parse_uint64(port, &v) || v == 0 || v > 65535) return false;
    p = uint16_t(v);
  }
  *out = SockAddr{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(p);
    out->len = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(p);
    out->len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::vector<SockAddr> parse_upstreams(const std::vector<std::string>& upstreams) {
  std::vector<SockAddr> out;
  for (const std::string& u : upstreams) {
    SockAddr a;
    if (!parse_endpoint(u, 53, &a)) fail("dns upstream \"{}\": not an address or address:port", u);
    out.push_back(a);
  }
  return out;
}

UniqueFd bound_socket(int type, const SockAddr& addr, const std::string& text) {
  UniqueFd fd(::socket(addr.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) fail_errno("socket for {}", text);
  int one = 1;
  if (type == SOCK_STREAM) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), addr.get(), addr.len) != 0) fail_errno("bind {} ({})", text, type == SOCK_STREAM ? "tcp" : "udp");
  if (type == SOCK_STREAM && ::listen(fd.get(), 128) != 0) fail_errno("listen on {}", text);
  return fd;
}

struct Listeners {
  UniqueFd udp, tcp;
};

// Sockets created by a thread that joined the namespace stay in it for
// good; the thread (never the caller) changes namespace and then ends.
Listeners open_listeners(const std::string& netns_path, const SockAddr& addr, const std::string& text) {
  Listeners l;
  std::exception_ptr error;
  std::thread([&] {
    try {
      UniqueFd ns(::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!ns.valid()) fail_errno("open {}", netns_path);
      if (::setns(ns.get(), CLONE_NEWNET) != 0) fail_errno("join network namespace {}", netns_path);
      l.udp = bound_socket(SOCK_DGRAM, addr, text);
      l.tcp = bound_socket(SOCK_STREAM, addr, text);
    } catch (...) {
      error = std::current_exception();
    }
  }).join();
  if (error) std::rethrow_exception(error);
  return l;
}

// ---- Serving state ----

// Where an answer goes back to: a UDP listener and the peer's address, or
// a TCP connection.
struct Origin {
  bool tcp = false;
  uint64_t token = 0;
  SockAddr peer;
};

struct Query {
  std::string client;
  Origin origin;
  std::string wire;
};

struct UdpListener {
  std::string client;
};
struct TcpListener {
  std::string client;
};
struct TcpConn {
  std::string client;
  std::string in, out;
  int outstanding = 0;  // queries read whose answer is not queued yet
  bool peer_closed = false;
  bool want_write = false;
};
// A query on its way through the upstreams, one attempt at a time.
struct Forward {
  std::string client;
  Origin origin;
  std::string query;  // as the client sent it
  uint16_t upstream_id = 0;
  std::vector<SockAddr> upstreams;
  size_t next = 0;
  bool tcp = false;
  bool connected = false;
  bool sending = false;
  std::string io;  // tcp: the framed query being sent, then the answer being read
  size_t sent = 0;
};

struct Endpoint {
  UniqueFd fd;
  Clock::time_point deadline = Clock::time_point::max();
  std::variant<UdpListener, TcpListener, TcpConn, Forward> role;
};

// A container's listeners are the endpoints whose client is its key.
struct Client {
  std::string netns_path, listen;
  int tcp_conns = 0;
};

}  // namespace

struct DnsServer::Impl {
  DnsBackend backend;
  std::chrono::milliseconds timeout;
  UniqueFd epoll, wake;
  std::mt19937 rng{std::random_device{}()};  // serving thread only
  std::vector<char> buf = std::vector<char>(kMaxMessage);  // serving thread only

  std::mutex mu;  // guards everything below
  bool stopping = false;
  std::vector<SockAddr> upstreams;
  std::unordered_map<std::string, Client> clients;
  std::unordered_map<uint64_t, Endpoint> endpoints;
  uint64_t next_token = 1;
  size_t forwards = 0;

  std::thread thread;

  // --- endpoint bookkeeping (mu held) ---

  uint64_t insert(Endpoint e, uint32_t events) {
    uint64_t token = next_token++;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, e.fd.get(), &ev) != 0) fail_errno("dns: epoll add");
    endpoints.emplace(token, std::move(e));
    return token;
  }

  void set_events(uint64_t token, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, fd, &ev);
  }

  void erase(uint64_t token) {
    auto it = endpoints.find(token);
    if (it == endpoints.end()) return;
    if (it->second.fd.valid()) ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, it->second.fd.get(), nullptr);
    if (auto* c = std::get_if<TcpConn>(&it->second.role)) {
      auto cl = clients.find(c->client);
      if (cl != clients.end()) --cl->second.tcp_conns;
    }
    if (std::holds_alternative<Forward>(it->second.role)) --forwards;
    endpoints.erase(it);
  }

  void drop_client(const std::string& key) {
    auto it = clients.find(key);
    if (it == clients.end()) return;
    std::vector<uint64_t> doomed;
    for (auto& [token, e] : endpoints) {
      const std::string* owner = std::visit([](auto& r) { return &r.client; }, e.role);
      if (*owner == key) doomed.push_back(token);
    }
    for (uint64_t t : doomed) erase(t);
    clients.erase(key);
  }

  // --- the loop ---

  void run() {
    std::vector<epoll_event> events(64);
    std::unique_lock lock(mu);
    while (!stopping) {
      int wait_ms = ms_to_next_deadline();
      lock.unlock();
      int n = ::epoll_wait(epoll.get(), events.data(), int(events.size()), wait_ms);
      lock.lock();
      std::vector<Query> queries;
      for (int i = 0; i < n; ++i) {
        if (events[i].data.u64 == kWakeToken) {
          uint64_t v;
          [[maybe_unused]] ssize_t r = ::read(wake.get(), &v, sizeof v);
          continue;
        }
        guarded([&] { handle(events[i].data.u64, events[i].events, &queries); });
      }
      guarded([&] { expire(Clock::now()); });
      if (queries.empty()) continue;
      std::vector<Decision> decisions;
      decisions.reserve(queries.size());
      lock.unlock();
      for (const Query& q : queries) {
        Decision d{Decision::kDrop, ""};
        guarded([&] { d = decide(backend, q.client, q.wire, q.origin.tcp); });
        decisions.push_back(std::move(d));
      }
      lock.lock();
      for (size_t i = 0; i < queries.size(); ++i) {
        guarded([&] {
          if (decisions[i].action == Decision::kForward)
            start_forward(std::move(queries[i]));
          else
            deliver(queries[i].origin, decisions[i].reply);
        });
      }
    }
  }

  // A failure serving one socket (out of memory, epoll refusing a new
  // connection) costs that socket's query, never the server.
  template <typename F>
  static void guarded(F&& f) {
    try {
      f();
    } catch (...) {
    }
  }

  int ms_to_next_deadline() {
    auto next = Clock::time_point::max();
    for (auto& [token, e] : endpoints) next = std::min(next, e.deadline);
    if (next == Clock::time_point::max()) return -1;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()).count();
    return int(std::clamp<long long>(ms, 0, 60'000));
  }

  void expire(Clock::time_point now) {
    std::vector<uint64_t> due;
    for (auto& [token, e] : endpoints)
      if (e.deadline <= now) due.push_back(token);
    for (uint64_t token : due) {
      auto it = endpoints.find(token);
      if (it == endpoints.end()) continue;
      if (std::holds_alternative<Forward>(it->second.role)) {
        attempt(token);  // this upstream took too long: the next one
      } else if (auto* c = std::get_if<TcpConn>(&it->second.role)) {
        if (c->outstanding > 0)
          it->second.deadline = now + kTcpIdleTimeout;  // we owe it answers; forwards time out on their own
        else
          erase(token);
      }
    }
  }

  void handle(uint64_t token, uint32_t events, std::vector<Query>* queries) {
    auto it = endpoints.find(token);
    if (it == endpoints.end()) return;  // removed since epoll_wait reported it
    Endpoint& e = it->second;
    if (auto* l = std::get_if<UdpListener>(&e.role)) {
      read_datagrams(token, e.fd.get(), l->client, queries);
    } else if (auto* l = std::get_if<TcpListener>(&e.role)) {
      accept_connections(e.fd.get(), l->client);
    } else if (std::holds_alternative<TcpConn>(e.role)) {
      if (events & EPOLLOUT) flush(token);
      if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_connection(token, queries);
    } else {
      forward_event(token, events);
    }
  }

  void read_datagrams(uint64_t token, int fd, const std::string& client, std::vector<Query>* queries) {
    for (int i = 0; i < kBatch; ++i) {
      Query q{client, Origin{false, token, {}}, ""};
      q.origin.peer.len = sizeof q.origin.peer.ss;
      ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&q.origin.peer.ss), &q.origin.peer.len);
      if (n < 0) return;
      q.wire.assign(buf.data(), size_t(n));
      queries->push_back(std::move(q));
    }
  }

  void accept_connections(int fd, const std::string& client) {
    for (int i = 0; i < kBatch; ++i) {
      UniqueFd conn(::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!conn.valid()) return;
      auto c = clients.find(client);
      if (c == clients.end() || c->second.tcp_conns >= kMaxTcpConnsPerClient) continue;  // closed at once, not left in the backlog
      ++c->second.tcp_conns;
      Endpoint e{std::move(conn), Clock::now() + kTcpIdleTimeout, TcpConn{client, "", "", 0, false, false}};
      insert(std::move(e), EPOLLIN);
    }
  }

  void read_connection(uint64_t token, std::vector<Query>* queries) {
    auto it = endpoints.find(token);
    if (it == endpoints.end()) return;
    Endpoint& e = it->second;
    auto& c = std::get<TcpConn>(e.role);
    for (;;) {
      ssize_t n = ::read(e.fd.get(), buf.data(), buf.size());
      if (n > 0) {
        c.in.append(buf.data(), size_t(n));
        e.deadline = Clock::now() + kTcpIdleTimeout;
        if (c.in.size() >= 2 + kMaxMessage) break;  // take what is framed first; the rest stays readable
        continue;
      }
      if (n == 0) {
        c.peer_closed = true;  // answers already owed are still sent
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return erase(token);
    }
    size_t pos = 0;
    while (c.in.size() - pos >= 2) {
      size_t len = size_t(uint8_t(c.in[pos])) << 8 | uint8_t(c.in[pos + 1]);
      if (c.in.size() - pos - 2 < len) break;
      if (len == 0 || c.outstanding >= kMaxOutstandingPerConn) return erase(token);
      queries->push_back(Query{c.client, Origin{true, token, {}}, c.in.substr(pos + 2, len)});
      ++c.outstanding;
      pos += 2 + len;
    }
    c.in.erase(0, pos);
    close_if_done(token);
  }

  void close_if_done(uint64_t token) {
    auto& c = std::get<TcpConn>(endpoints.at(token).role);
    if (c.peer_closed && c.outstanding == 0 && c.out.empty()) erase(token);
  }

  void flush(uint64_t token) {
    auto it = endpoints.find(token);
    if (it == endpoints.end()) return;
    Endpoint& e = it->second;
    auto& c = std::get<TcpConn>(e.role);
    while (!c.out.empty()) {
      ssize_t n = ::send(e.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return erase(token);
      }
      c.out.erase(0, size_t(n));
      e.deadline = Clock::now() + kTcpIdleTimeout;
    }
    bool want = !c.out.empty();
    if (want != c.want_write) {
      c.want_write = want;
      set_events(token, e.fd.get(), want ? EPOLLIN | EPOLLOUT : EPOLLIN);
    }
    close_if_done(token);
  }

  // Sends an answer back where its query came from; an empty one only
  // settles the query's account (a dropped query).
  void deliver(const Origin& origin, const std::string& reply) {
    auto it = endpoints.find(origin.token);
    if (it == endpoints.end()) return;  // the client went away meanwhile
    if (!origin.tcp) {
      if (!reply.empty())
        ::sendto(it->second.fd.get(), reply.data(), reply.size(), MSG_DONTWAIT, origin.peer.get(), origin.peer.len);
      return;
    }
    auto& c = std::get<TcpConn>(it->second.role);
    --c.outstanding;
    if (!reply.empty()) {
      c.out.push_back(char(reply.size() >> 8));
      c.out.push_back(char(reply.size() & 0xff));
      c.out += reply;
    }
    flush(origin.token);
  }

  // --- forwarding ---

  void start_forward(Query q) {
    if (upstreams.empty() || forwards >= kMaxForwards) {
      deliver(q.origin, error_reply(q.wire, LDNS_RCODE_SERVFAIL));
      return;
    }
    Forward f;
    f.client = std::move(q.client);
    f.origin = q.origin;
    f.query = std::move(q.wire);
    f.upstream_id = uint16_t(rng());
    f.upstreams = upstreams;
    f.tcp = q.origin.tcp;
    uint64_t token = next_token++;
    endpoints.emplace(token, Endpoint{UniqueFd(), Clock::time_point::max(), std::move(f)});
    ++forwards;
    attempt(token);
  }

  // Sends the query to the next upstream, or answers SERVFAIL when none is left.
  void attempt(uint64_t token) {
    Endpoint& e = endpoints.at(token);
    auto& f = std::get<Forward>(e.role);
    if (e.fd.valid()) ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, e.fd.get(), nullptr);
    e.fd.reset();
    std::string query = f.query;
    set_wire_id(query, f.upstream_id);
    while (f.next < f.upstreams.size()) {
      const SockAddr& up = f.upstreams[f.next++];
      UniqueFd fd(::socket(up.family(), (f.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!fd.valid()) continue;
      if (::connect(fd.get(), up.get(), up.len) != 0 && errno != EINPROGRESS) continue;
      uint32_t events = EPOLLIN;
      if (f.tcp) {
        f.io.clear();
        f.io.push_back(char(query.size() >> 8));
        f.io.push_back(char(query.size() & 0xff));
        f.io += query;
        f.sent = 0;
        f.connected = false;
        f.sending = true;
        events = EPOLLOUT;
      } else if (::send(fd.get(), query.data(), query.size(), MSG_NOSIGNAL) != ssize_t(query.size())) {
        continue;
      }
      epoll_event ev{};
      ev.events = events;
      ev.data.u64 = token;
      if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd.get(), &ev) != 0) continue;
      e.fd = std::move(fd);
      e.deadline = Clock::now() + timeout;
      return;
    }
    Origin origin = f.origin;
    std::string reply = error_reply(f.query, LDNS_RCODE_SERVFAIL);
    erase(token);
    deliver(origin, reply);
  }

  void forward_event(uint64_t token, uint32_t events) {
    Endpoint& e = endpoints.at(token);
    auto& f = std::get<Forward>(e.role);
    if (!f.tcp) {
      for (;;) {
        ssize_t n = ::recv(e.fd.get(), buf.data(), buf.size(), 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) return;
          return attempt(token);  // e.g. ECONNREFUSED: nothing listens there
        }
        std::string answer(buf.data(), size_t(n));
        // Anything but the answer to our id is ignored, as a resolver would.
        if (answer.size() >= 12 && wire_id(answer) == f.upstream_id && wire_is_response(answer))
          return answered(token, std::move(answer));
      }
    }
    if (!f.connected) {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(e.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) return attempt(token);
      f.connected = true;
    }
    if (f.sending) {
      ssize_t n = ::send(e.fd.get(), f.io.data() + f.sent, f.io.size() - f.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return attempt(token);
      }
      f.sent += size_t(n);
      if (f.sent < f.io.size()) return;
      f.sending = false;
      f.io.clear();
      set_events(token, e.fd.get(), EPOLLIN);
      return;
    }
    for (;;) {
      ssize_t n = ::read(e.fd.get(), buf.data(), buf.size());
      if (n == 0) return attempt(token);  // closed before a whole answer came
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return attempt(token);
      }
      f.io.append(buf.data(), size_t(n));
      if (f.io.size() < 2) continue;
      size_t len = size_t(uint8_t(f.io[0])) << 8 | uint8_t(f.io[1]);
      if (f.io.size() - 2 < len) continue;
      std::string answer = f.io.substr(2, len);
      if (answer.size() < 12 || wire_id(answer) != f.upstream_id || !wire_is_response(answer))
        return attempt(token);
      return answered(token, std::move(answer));
    }
  }

  void answered(uint64_t token, std::string answer) {
    auto& f = std::get<Forward>(endpoints.at(token).role);
    // Docker moves on when an upstream fails or refuses; the last word is
    // then our SERVFAIL (attempt() gives it when none is left).
    uint8_t rcode = wire_rcode(answer);
    if (rcode == LDNS_RCODE_SERVFAIL || rcode == LDNS_RCODE_REFUSED) return attempt(token);
    set_wire_id(answer, wire_id(f.query));
    Origin origin = f.origin;
    erase(token);
    deliver(origin, answer);
  }
};

DnsServer::DnsServer(DnsBackend backend, std::vector<std::string> upstreams, std::chrono::milliseconds upstream_timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->backend = std::move(backend);
  impl_->timeout = upstream_timeout;
  impl_->upstreams = parse_upstreams(upstreams);
  impl_->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!impl_->epoll.valid()) fail_errno("dns server: epoll_create1");
  impl_->wake.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!impl_->wake.valid()) fail_errno("dns server: eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  if (::epoll_ctl(impl_->epoll.get(), EPOLL_CTL_ADD, impl_->wake.get(), &ev) != 0) fail_errno("dns server: epoll add");
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

DnsServer::~DnsServer() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(impl_->wake.get(), &one, sizeof one);
  impl_->thread.join();
}

void DnsServer::add(const std::string& client, const std::string& netns_path, const std::string& listen_addr,
                    uint16_t port) {
  std::string listen = fmt::format("{}:{}", listen_addr, port);
  if (listen_addr.find(':') != std::string::npos) listen = fmt::format("[{}]:{}", listen_addr, port);
  SockAddr addr;
  if (!parse_endpoint(listen, port, &addr)) fail("dns listener for {}: invalid address {}", client, listen_addr);
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->clients.find(client);
    if (it != impl_->clients.end()) {
      if (it->second.netns_path == netns_path && it->second.listen == listen) return;
      impl_->drop_client(client);  // free the old address before binding again
    }
  }
  Listeners l;
  try {
    l = open_listeners(netns_path, addr, listen);
  } catch (const Error& e) {
    throw e.wrap(fmt::format("dns listener for {}", client));
  }
  std::lock_guard lock(impl_->mu);
  impl_->drop_client(client);  // a concurrent add() for the same key: the last one wins
  impl_->clients[client] = Client{netns_path, listen, 0};
  impl_->insert(Endpoint{std::move(l.udp), Clock::time_point::max(), UdpListener{client}}, EPOLLIN);
  impl_->insert(Endpoint{std::move(l.tcp), Clock::time_point::max(), TcpListener{client}}, EPOLLIN);
}

void DnsServer::remove(const std::string& client) {
  std::lock_guard lock(impl_->mu);
  impl_->drop_client(client);
}

void DnsServer::set_upstreams(std::vector<std::string> upstreams) {
  std::vector<SockAddr> parsed = parse_upstreams(upstreams);
  std::lock_guard lock(impl_->mu);
  impl_->upstreams = std::move(parsed);
}

std::vector<std::string> resolv_conf_nameservers(const std::string& text) {
  std::vector<std::string> out;
  for (const std::string& raw : split(text, '\n')) {
    std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    size_t ws = line.find_first_of(" \t");
    if (ws == std::string_view::npos || line.substr(0, ws) != "nameserver") continue;
    std::string_view rest = trim(line.substr(ws));
    std::string addr(rest.substr(0, rest.find_first_of(" \t#;")));
    in_addr a{};
    if (inet_pton(AF_INET, addr.c_str(), &a) == 1) out.push_back(addr);
  }
  return out;
}

}  // namespace berth::network
