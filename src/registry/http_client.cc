#include "registry/http_client.h"

#include <curl/curl.h>
#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <mutex>
#include <type_traits>

#include "base/error.h"
#include "base/strings.h"

namespace berth::registry {

namespace {

constexpr size_t kMaxErrorBody = 1 << 20;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// libcurl is loaded on first use (dlopen) rather than linked: Debian's
// libcurl brings gnutls, p11-kit, krb5 and ldap, whose start-up work costs
// every berthd about 3 MB of resident memory even if it never pulls. Only
// the declarations of <curl/curl.h> are used; decltype names no symbol.
struct CurlApi {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_share_init) share_init;
  decltype(&::curl_share_setopt) share_setopt;
  decltype(&::curl_share_cleanup) share_cleanup;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;

  static CurlApi load() {
    void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) fail("load libcurl.so.4: {}", ::dlerror());
    CurlApi api;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
      if (!fn) fail("libcurl.so.4 lacks {}", name);
    };
    sym(api.global_init, "curl_global_init");
    sym(api.share_init, "curl_share_init");
    sym(api.share_setopt, "curl_share_setopt");
    sym(api.share_cleanup, "curl_share_cleanup");
    sym(api.easy_init, "curl_easy_init");
    sym(api.easy_setopt, "curl_easy_setopt");
    sym(api.easy_perform, "curl_easy_perform");
    sym(api.easy_getinfo, "curl_easy_getinfo");
    sym(api.easy_strerror, "curl_easy_strerror");
    sym(api.easy_cleanup, "curl_easy_cleanup");
    sym(api.slist_append, "curl_slist_append");
    sym(api.slist_free_all, "curl_slist_free_all");
    // Process-wide and, before curl 7.84, not thread-safe: once, first.
    api.global_init(CURL_GLOBAL_DEFAULT);
    return api;  // the library stays loaded for the life of the process
  }
};

// State of one transfer, seen by the curl callbacks.
struct Transfer {
  const CurlApi* api = nullptr;
  CURL* easy = nullptr;
  const HttpRequest* req = nullptr;
  const HttpClient::Sink* sink = nullptr;
  HttpResponse* res = nullptr;
  size_t body_offset = 0;  // into req->body
  bool headers_reported = false;
  std::exception_ptr error;
};

size_t on_header(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {  // a new response (after a redirect or 100-continue)
    t->res->headers.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    t->res->headers.emplace(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t len = size * n;
  long status = 0;
  t->api->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300 && t->sink && *t->sink) {
    try {
      if (!t->headers_reported && t->req->on_headers) {
        t->headers_reported = true;
        t->res->status = status;
        t->req->on_headers(*t->res);
      }
      (*t->sink)(std::string_view(data, len));
    } catch (...) {
      t->error = std::current_exception();
      return CURL_WRITEFUNC_ERROR;
    }
    return len;
  }
  if (t->res->body.size() < kMaxErrorBody || (status >= 200 && status < 300))
    t->res->body.append(data, len);
  return len;
}

size_t on_read(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t cap = size * n;
  if (t->req->body_reader) {
    try {
      return t->req->body_reader(buf, cap);
    } catch (...) {
      t->error = std::current_exception();
      return CURL_READFUNC_ABORT;
    }
  }
  size_t k = std::min(cap, t->req->body.size() - t->body_offset);
  std::copy_n(t->req->body.data() + t->body_offset, k, buf);
  t->body_offset += k;
  return k;
}

}  // namespace

// One curl share handle: connection cache, DNS cache and TLS sessions shared
// by every easy handle of the client, each kind behind its own mutex.
struct HttpClient::Shared {
  CurlApi api = CurlApi::load();
  CURLSH* share = nullptr;
  std::mutex locks[CURL_LOCK_DATA_LAST];

  Shared() {
    share = api.share_init();
    api.share_setopt(share, CURLSHOPT_LOCKFUNC, &Shared::lock);
    api.share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Shared::unlock);
    api.share_setopt(share, CURLSHOPT_USERDATA, this);
    api.share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    api.share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    api.share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  }
  ~Shared() { api.share_cleanup(share); }

  static void lock(CURL*, curl_lock_data d, curl_lock_access, void* p) { static_cast<Shared*>(p)->locks[d].lock(); }
  static void unlock(CURL*, curl_lock_data d, void* p) { static_cast<Shared*>(p)->locks[d].unlock(); }
};

HttpClient::HttpClient(HttpClientOptions opts) : opts_(std::move(opts)) {}
HttpClient::~HttpClient() = default;

// On first use, not at construction: loading libcurl and curl_global_init
// (OpenSSL's set-up) cost a daemon that never pulls a few MB.
HttpClient::Shared& HttpClient::shared() {
  std::call_once(shared_once_, [this] { shared_ = std::make_unique<Shared>(); });
  return *shared_;
}

HttpResponse HttpClient::send(const HttpRequest& req, const Sink& sink) {
  HttpResponse res;
  Transfer t;
  t.req = &req;
  t.sink = &sink;
  t.res = &res;
  Shared& sh = shared();  // first: it loads libcurl and runs curl_global_init
  const CurlApi& c = sh.api;
  t.api = &c;
  std::unique_ptr<CURL, decltype(c.easy_cleanup)> easy(c.easy_init(), c.easy_cleanup);
  if (!easy) fail("{} {}: curl_easy_init failed", req.method, req.url);
  t.easy = easy.get();
  curl_slist* headers = nullptr;
  for (const auto& h : req.headers) headers = c.slist_append(headers, h.c_str());
  std::unique_ptr<curl_slist, decltype(c.slist_free_all)> header_list(headers, c.slist_free_all);
  char errbuf[CURL_ERROR_SIZE] = "";

  CURL* e = easy.get();
  c.easy_setopt(e, CURLOPT_URL, req.url.c_str());
  c.easy_setopt(e, CURLOPT_SHARE, sh.share);
  c.easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  c.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  c.easy_setopt(e, CURLOPT_USERAGENT, opts_.user_agent.c_str());
  c.easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  c.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  c.easy_setopt(e, CURLOPT_HEADERDATA, &t);
  c.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  c.easy_setopt(e, CURLOPT_WRITEDATA, &t);
  c.easy_setopt(e, CURLOPT_CONNECTTIMEOUT, opts_.connect_timeout_seconds);
  c.easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  c.easy_setopt(e, CURLOPT_LOW_SPEED_TIME, opts_.low_speed_seconds);
  if (opts_.total_timeout_seconds > 0) c.easy_setopt(e, CURLOPT_TIMEOUT, opts_.total_timeout_seconds);
  c.easy_setopt(e, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
  c.easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  c.easy_setopt(e, CURLOPT_ACCEPT_ENCODING, nullptr);  // blobs must arrive byte-exact
  if (req.insecure_tls) {
    c.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    c.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  bool has_body = req.body_reader || !req.body.empty();
  if (req.method == "HEAD") {
    c.easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET") {
    c.easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    if (req.method == "POST") {
      c.easy_setopt(e, CURLOPT_POST, 1L);
    } else {
      c.easy_setopt(e, CURLOPT_UPLOAD, 1L);
      c.easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    c.easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    c.easy_setopt(e, CURLOPT_READDATA, &t);
    curl_off_t size = req.body_reader ? req.body_size : static_cast<curl_off_t>(req.body.size());
    if (!has_body) size = 0;
    if (req.method == "POST")
      c.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, size);
    else
      c.easy_setopt(e, CURLOPT_INFILESIZE_LARGE, size);
  }

  CURLcode rc = c.easy_perform(e);
  if (t.error) std::rethrow_exception(t.error);
  if (rc != CURLE_OK)
    fail("{} {}: {}", req.method, req.url, errbuf[0] ? std::string(errbuf) : std::string(c.easy_strerror(rc)));
  c.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res.status);
  char* url = nullptr;
  c.easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url);
  res.effective_url = url ? url : req.url;
  return res;
}

std::string HttpResponse::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::vector<std::string> HttpResponse::header_values(std::string_view name) const {
  std::vector<std::string> out;
  auto [b, e] = headers.equal_range(lower(name));
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

std::string url_query_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string resolve_url(const std::string& base, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  auto scheme_end = base.find("://");
  size_t host_end = base.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  std::string origin = host_end == std::string::npos ? base : base.substr(0, host_end);
  if (location.starts_with("/")) return origin + location;
  std::string path = host_end == std::string::npos ? "/" : base.substr(host_end);
  path = path.substr(0, path.find('?'));
  return origin + path.substr(0, path.rfind('/') + 1) + location;
}

}  // namespace berth::registry
