#include "registry/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <mutex>

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

// curl_global_init is not thread-safe before 7.84; do it once, first.
void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State of one transfer, seen by the curl callbacks.
struct Transfer {
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
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
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
  CURLSH* share = nullptr;
  std::mutex locks[CURL_LOCK_DATA_LAST];

  Shared() {
    global_init();
    share = curl_share_init();
    curl_share_setopt(share, CURLSHOPT_LOCKFUNC, &Shared::lock);
    curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, &Shared::unlock);
    curl_share_setopt(share, CURLSHOPT_USERDATA, this);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  }
  ~Shared() { curl_share_cleanup(share); }

  static void lock(CURL*, curl_lock_data d, curl_lock_access, void* p) { static_cast<Shared*>(p)->locks[d].lock(); }
  static void unlock(CURL*, curl_lock_data d, void* p) { static_cast<Shared*>(p)->locks[d].unlock(); }
};

HttpClient::HttpClient(HttpClientOptions opts) : opts_(std::move(opts)), shared_(std::make_unique<Shared>()) {}
HttpClient::~HttpClient() = default;

HttpResponse HttpClient::send(const HttpRequest& req, const Sink& sink) {
  HttpResponse res;
  Transfer t;
  t.req = &req;
  t.sink = &sink;
  t.res = &res;
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), curl_easy_cleanup);
  if (!easy) fail("{} {}: curl_easy_init failed", req.method, req.url);
  t.easy = easy.get();
  curl_slist* headers = nullptr;
  for (const auto& h : req.headers) headers = curl_slist_append(headers, h.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers, curl_slist_free_all);
  char errbuf[CURL_ERROR_SIZE] = "";

  CURL* e = easy.get();
  curl_easy_setopt(e, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(e, CURLOPT_SHARE, shared_->share);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, opts_.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, opts_.connect_timeout_seconds);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, opts_.low_speed_seconds);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, nullptr);  // blobs must arrive byte-exact
  if (req.insecure_tls) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  bool has_body = req.body_reader || !req.body.empty();
  if (req.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET") {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    if (req.method == "POST") {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, &t);
    curl_off_t size = req.body_reader ? req.body_size : static_cast<curl_off_t>(req.body.size());
    if (!has_body) size = 0;
    if (req.method == "POST")
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, size);
    else
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, size);
  }

  CURLcode rc = curl_easy_perform(e);
  if (t.error) std::rethrow_exception(t.error);
  if (rc != CURLE_OK)
    fail("{} {}: {}", req.method, req.url, errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc)));
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res.status);
  char* url = nullptr;
  curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url);
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
