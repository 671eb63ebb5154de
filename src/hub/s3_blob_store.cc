#include "hub/s3_blob_store.h"

#include <fcntl.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <fmt/format.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "http/query.h"

namespace berth::hub {

namespace pt = boost::property_tree;
using registry::HttpResponse;

// S3's largest single PUT and CopyObject.
static constexpr uint64_t kMaxObject = uint64_t{5} << 30;
// Parts of a composing multipart upload: above S3's 5 MiB minimum, small
// enough to buffer one per commit in memory.
static constexpr size_t kPartSize = size_t{16} << 20;
// Presigned URLs for redirects: distribution's default lifetime.
static constexpr int kRedirectSeconds = 20 * 60;

// ---- SigV4

namespace sigv4 {

static std::string hex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

static std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), out, &len)) {
    throw Error("sigv4: HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<char*>(out), len);
}

static std::string sha256_hex(std::string_view s) { return std::string(image::sha256_of(s).hex()); }

static std::string scope(const Key& key, const std::string& amz_date) {
  return amz_date.substr(0, 8) + "/" + key.region + "/s3/aws4_request";
}

static std::string signature(const Key& key, const std::string& amz_date, const std::string& canonical_request) {
  std::string string_to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope(key, amz_date) + "\n" + sha256_hex(canonical_request);
  std::string k = hmac("AWS4" + key.secret_key, amz_date.substr(0, 8));
  k = hmac(k, key.region);
  k = hmac(k, "s3");
  k = hmac(k, "aws4_request");
  std::string sig = hmac(k, string_to_sign);
  return hex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
}

static std::string canonical_query(std::vector<std::pair<std::string, std::string>> q) {
  for (auto& [k, v] : q) {
    k = registry::url_query_escape(k);
    v = registry::url_query_escape(v);
  }
  std::sort(q.begin(), q.end());
  std::string out;
  for (const auto& [k, v] : q) {
    if (!out.empty()) out += '&';
    out += k + "=" + v;
  }
  return out;
}

std::string encode_path(std::string_view path) {
  std::string out;
  for (const auto& seg : split(path, '/')) {
    if (!out.empty() || path.starts_with('/')) out += '/';
    out += registry::url_query_escape(seg);
  }
  if (path.starts_with('/') && out.starts_with("//")) out.erase(0, 1);
  return out;
}

std::string authorization(const Request& req, const Key& key, const std::string& amz_date) {
  std::string headers, names;
  for (const auto& [name, value] : req.headers) {  // std::map: sorted by name
    headers += name + ":" + std::string(trim(value)) + "\n";
    if (!names.empty()) names += ';';
    names += name;
  }
  std::string canonical = req.method + "\n" + req.path + "\n" + canonical_query(req.query) + "\n" + headers + "\n" +
                          names + "\n" + req.payload_sha256;
  return fmt::format("AWS4-HMAC-SHA256 Credential={}/{},SignedHeaders={},Signature={}", key.access_key,
                     scope(key, amz_date), names, signature(key, amz_date, canonical));
}

std::string presign_query(const std::string& path, const std::string& host, const Key& key,
                          const std::string& amz_date, int expires_seconds, const std::string& session_token) {
  std::vector<std::pair<std::string, std::string>> q = {
      {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
      {"X-Amz-Credential", key.access_key + "/" + scope(key, amz_date)},
      {"X-Amz-Date", amz_date},
      {"X-Amz-Expires", std::to_string(expires_seconds)},
      {"X-Amz-SignedHeaders", "host"},
  };
  if (!session_token.empty()) q.emplace_back("X-Amz-Security-Token", session_token);
  std::string query = canonical_query(q);
  std::string canonical = "GET\n" + path + "\n" + query + "\nhost:" + host + "\n\nhost\nUNSIGNED-PAYLOAD";
  return query + "&X-Amz-Signature=" + signature(key, amz_date, canonical);
}

}  // namespace sigv4

// "Wed, 21 Oct 2015 07:28:00 GMT" (Last-Modified); 0 when unparseable.
static int64_t parse_http_date(const std::string& s) {
  struct tm tm {};
  const char* end = ::strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return end ? static_cast<int64_t>(::timegm(&tm)) : 0;
}

static std::string amz_now() {
  time_t t = ::time(nullptr);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  ::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// ---- location

S3Location S3Location::parse(const std::string& url) {
  auto bad = [&](std::string_view why) {
    return Error(fmt::format("--storage {:?}: {} (want s3://[KEY:SECRET@]BUCKET[/PREFIX][?endpoint=URL&region=R])",
                             url, why));
  };
  if (!url.starts_with("s3://")) throw bad("not an s3:// URL");
  std::string rest = url.substr(5);
  std::string query;
  if (size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  S3Location loc;
  if (size_t at = rest.rfind('@'); at != std::string::npos) {
    std::string user = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = user.find(':');
    if (colon == std::string::npos) throw bad("credentials must be KEY:SECRET");
    loc.access_key = http::url_decode(user.substr(0, colon), false);
    loc.secret_key = http::url_decode(user.substr(colon + 1), false);
  }
  size_t slash = rest.find('/');
  loc.bucket = rest.substr(0, slash);
  if (loc.bucket.empty()) throw bad("no bucket");
  if (slash != std::string::npos) {
    std::string prefix = rest.substr(slash + 1);
    while (prefix.ends_with('/')) prefix.pop_back();
    if (!prefix.empty()) loc.prefix = prefix + "/";
  }
  http::Query q = http::Query::parse(query);
  if (q.has("region") && !q.get("region").empty()) loc.region = q.get("region");
  loc.endpoint = q.has("endpoint") ? q.get("endpoint") : "https://s3." + loc.region + ".amazonaws.com";
  while (loc.endpoint.ends_with('/')) loc.endpoint.pop_back();
  if (!loc.endpoint.starts_with("http://") && !loc.endpoint.starts_with("https://")) {
    throw bad("endpoint must be an http:// or https:// URL");
  }
  if (loc.endpoint.find('/', loc.endpoint.find("://") + 3) != std::string::npos) throw bad("endpoint has a path");
  loc.redirect = q.get_bool("redirect");
  if (loc.access_key.empty()) {
    const char* k = std::getenv("AWS_ACCESS_KEY_ID");
    const char* s = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (!k || !s || !*k || !*s) throw bad("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    loc.access_key = k;
    loc.secret_key = s;
    if (const char* t = std::getenv("AWS_SESSION_TOKEN")) loc.session_token = t;
  }
  return loc;
}

// ---- the store

namespace {

// Thrown from a download's sink to stop it once the client has gone away.
struct StopDownload {};

// S3's error document: "<Code>: <Message>", or the raw start of the body.
std::string s3_error(const HttpResponse& r) {
  try {
    std::istringstream in(r.body);
    pt::ptree t;
    pt::read_xml(in, t);
    if (auto e = t.get_child_optional("Error")) {
      return e->get<std::string>("Code", "") + ": " + e->get<std::string>("Message", "");
    }
  } catch (const pt::ptree_error&) {
  }
  return r.body.substr(0, 200);
}

pt::ptree parse_xml(const std::string& body, const std::string& what) {
  try {
    std::istringstream in(body);
    pt::ptree t;
    pt::read_xml(in, t);
    return t;
  } catch (const pt::ptree_error& e) {
    throw Error(fmt::format("{}: malformed XML from S3: {}", what, e.what()));
  }
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A scratch file that disappears when closed.
// The sha256 digest a blob object's key ends in (".../sha256/<aa>/<hex>", ".../sha256/<hex>"), if it does.
std::optional<Digest> digest_at_end(const std::string& key) {
  Digest d = Digest::from_hex(std::string(64, '0'));
  if (!Digest::try_parse("sha256:" + key.substr(key.rfind('/') + 1), &d)) return std::nullopt;
  return d;
}

UniqueFd scratch_file(const std::string& dir) {
  std::string path = dir + "/chunk-XXXXXX";
  int fd = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) fail_errno("create scratch file in {}", dir);
  ::unlink(path.c_str());
  return UniqueFd(fd);
}

class S3BlobReader : public BlobReader {
 public:
  S3BlobReader(const S3BlobStore& store, std::string key, uint64_t size, std::string etag, int64_t mtime)
      : store_(store), key_(std::move(key)), size_(size), etag_(std::move(etag)), mtime_(mtime) {}
  uint64_t size() const override { return size_; }
  int64_t modified_unix() const override { return mtime_; }
  void read(uint64_t offset, uint64_t length, const std::function<bool(std::string_view)>& sink) const override {
    if (length == 0) return;
    S3BlobStore::Call c;
    c.key = key_;
    c.headers["range"] = fmt::format("bytes={}-{}", offset, offset + length - 1);
    // The object opened, not one written under the same key since.
    if (!etag_.empty()) c.headers["if-match"] = etag_;
    // A server may ignore the range (200, whole object) or misread it
    // (s3rver sends everything for "bytes=0-0"): skip and cap to be exact.
    uint64_t skip = 0, left = length;
    c.on_headers = [&](const HttpResponse& r) {
      std::string cr = r.header("content-range");
      unsigned long long start = 0;
      if (r.status == 206 && cr.starts_with("bytes ") && parse_uint64(cr.substr(6, cr.find('-') - 6), &start)) {
        if (start > offset) throw Error(fmt::format("S3 GET {}: asked for bytes from {}, got {}", key_, offset, cr));
        skip = offset - start;
      } else {
        skip = offset;
      }
    };
    try {
      store_.call(c, [&](std::string_view p) {
        size_t drop = static_cast<size_t>(std::min<uint64_t>(skip, p.size()));
        p.remove_prefix(drop);
        skip -= drop;
        if (p.size() > left) p = p.substr(0, static_cast<size_t>(left));
        left -= p.size();
        if (!p.empty() && !sink(p)) throw StopDownload{};
        if (left == 0) throw StopDownload{};
      });
    } catch (const StopDownload&) {
      return;
    }
    if (left > 0) throw Error(fmt::format("S3 GET {}: {} bytes short", key_, left));
  }

 private:
  const S3BlobStore& store_;
  std::string key_;
  uint64_t size_;
  std::string etag_;
  int64_t mtime_;
};

}  // namespace

S3BlobStore::S3BlobStore(S3Location loc, std::string scratch_dir)
    : loc_(std::move(loc)),
      scratch_dir_(std::move(scratch_dir)),
      http_(registry::HttpClientOptions{.user_agent = "berth-hub"}) {
  host_ = loc_.endpoint.substr(loc_.endpoint.find("://") + 3);
  mkdir_all(scratch_dir_, 0700);
}

S3BlobStore::~S3BlobStore() = default;

HttpResponse S3BlobStore::call(const Call& c, const registry::HttpClient::Sink& sink) const {
  std::string path = sigv4::encode_path("/" + loc_.bucket + (c.key.empty() ? "" : "/" + c.key));
  std::string amz_date = amz_now();
  sigv4::Request sr{.method = c.method, .path = path, .query = c.query, .headers = c.headers};
  sr.payload_sha256 = c.body_reader ? c.payload_sha256 : sigv4::sha256_hex(c.body);
  sr.headers["host"] = host_;
  sr.headers["x-amz-date"] = amz_date;
  sr.headers["x-amz-content-sha256"] = sr.payload_sha256;
  if (!loc_.session_token.empty()) sr.headers["x-amz-security-token"] = loc_.session_token;
  std::string auth = sigv4::authorization(sr, {loc_.access_key, loc_.secret_key, loc_.region}, amz_date);

  registry::HttpRequest req;
  req.method = c.method;
  std::string query;
  for (const auto& [k, v] : c.query) {
    query += query.empty() ? "?" : "&";
    query += registry::url_query_escape(k) + "=" + registry::url_query_escape(v);
  }
  req.url = loc_.endpoint + path + query;
  for (const auto& [k, v] : sr.headers) req.headers.push_back(k + ": " + v);
  req.headers.push_back("Authorization: " + auth);
  // curl would wait up to a second for "100 Continue" before every body.
  req.headers.push_back("Expect:");
  req.headers.push_back("Content-Type:");
  req.body = c.body;
  req.body_reader = c.body_reader;
  req.body_size = c.body_size;
  req.follow_redirects = false;
  req.on_headers = c.on_headers;

  // Idempotent calls without a streamed body are retried: S3 answers 500
  // and 503 (SlowDown) now and then by design.
  bool retry = !c.body_reader && !sink;
  for (int attempt = 0;; ++attempt) {
    HttpResponse r;
    try {
      r = http_.send(req, sink);
    } catch (const Error&) {
      if (!retry || attempt >= 2) throw;
      ::usleep(100000 << attempt);
      continue;
    }
    if (r.ok() || std::find(c.ok_statuses.begin(), c.ok_statuses.end(), r.status) != c.ok_statuses.end()) return r;
    if (retry && attempt < 2 && (r.status == 500 || r.status == 503)) {
      ::usleep(100000 << attempt);
      continue;
    }
    throw Error(fmt::format("S3 {} s3://{}/{}: {} {}", c.method, loc_.bucket, c.key, r.status,
                            c.method == "HEAD" ? std::string() : s3_error(r)));
  }
}

std::string S3BlobStore::blob_key(const Digest& d) const {
  std::string hex(d.hex());
  return fmt::format("{}blobs/sha256/{}/{}", loc_.prefix, hex.substr(0, 2), hex);
}

std::string S3BlobStore::upload_prefix(const std::string& id) const {
  if (!is_valid_upload_id(id)) throw Error(fmt::format("invalid upload id {:?}", id));
  return "uploads/" + id + "/";
}

std::vector<S3BlobStore::Object> S3BlobStore::list(const std::string& prefix) const {
  std::vector<Object> out;
  std::string token;
  for (;;) {
    Call c;
    c.query = {{"list-type", "2"}, {"prefix", loc_.prefix + prefix}};
    if (!token.empty()) c.query.emplace_back("continuation-token", token);
    HttpResponse r = call(c);
    std::string what = "list s3://" + loc_.bucket + "/" + loc_.prefix + prefix;
    pt::ptree t = parse_xml(r.body, what);
    // get_child with a default would hand back a reference to that temporary.
    auto found = t.get_child_optional("ListBucketResult");
    if (!found) throw Error(fmt::format("{}: S3 sent no ListBucketResult", what));
    const pt::ptree& res = *found;
    for (const auto& [name, child] : res) {
      if (name != "Contents") continue;
      std::string key = child.get<std::string>("Key", "");
      if (key.size() < loc_.prefix.size()) continue;
      out.push_back({key.substr(loc_.prefix.size()), child.get<uint64_t>("Size", 0)});
    }
    token = res.get<std::string>("NextContinuationToken", "");
    if (res.get<std::string>("IsTruncated", "false") != "true" || token.empty()) break;
  }
  std::sort(out.begin(), out.end(), [](const Object& a, const Object& b) { return a.key < b.key; });
  return out;
}

std::string S3BlobStore::set_aside_key(const Digest& d) const {
  return fmt::format("{}set-aside/sha256/{}", loc_.prefix, d.hex());
}

std::optional<uint64_t> S3BlobStore::size(const Digest& d) const { return object_size(blob_key(d)); }

std::optional<uint64_t> S3BlobStore::object_size(const std::string& key) const {
  Call c;
  c.method = "HEAD";
  c.key = key;
  c.ok_statuses = {404};
  HttpResponse r = call(c);
  if (r.status == 404) return std::nullopt;
  unsigned long long n = 0;
  if (!parse_uint64(r.header("content-length"), &n)) throw Error(fmt::format("S3 HEAD {}: no Content-Length", c.key));
  return n;
}

std::unique_ptr<BlobReader> S3BlobStore::open(const Digest& d) const {
  Call c;
  c.method = "HEAD";
  c.key = blob_key(d);
  c.ok_statuses = {404};
  HttpResponse r = call(c);
  if (r.status == 404) return nullptr;
  unsigned long long n = 0;
  if (!parse_uint64(r.header("content-length"), &n)) throw Error(fmt::format("S3 HEAD {}: no Content-Length", c.key));
  int64_t modified = parse_http_date(r.header("last-modified"));
  return std::make_unique<S3BlobReader>(*this, c.key, n, r.header("etag"), modified);
}

std::string S3BlobStore::redirect_url(const Digest& d) const {
  if (!loc_.redirect) return {};
  std::string path = sigv4::encode_path("/" + loc_.bucket + "/" + blob_key(d));
  return loc_.endpoint + path + "?" +
         sigv4::presign_query(path, host_, {loc_.access_key, loc_.secret_key, loc_.region}, amz_now(),
                              kRedirectSeconds, loc_.session_token);
}

void S3BlobStore::put(const Digest& d, std::string_view content) {
  Call c;
  c.method = "PUT";
  c.key = blob_key(d);
  c.body = std::string(content);
  call(c);
}

void S3BlobStore::delete_object(const std::string& key) const {
  Call c;
  c.method = "DELETE";
  c.key = key;
  c.ok_statuses = {404};
  call(c);
}

void S3BlobStore::copy_object(const std::string& from_key, uint64_t size, const std::string& to_key) const {
  if (size > kMaxObject) {
    compose({Object{from_key, size}}, to_key);
    return;
  }
  Call c;
  c.method = "PUT";
  c.key = to_key;
  c.headers["x-amz-copy-source"] = sigv4::encode_path("/" + loc_.bucket + "/" + from_key);
  HttpResponse r = call(c);
  // S3 may answer 200 and report the failure in the body.
  if (r.body.find("<Error>") != std::string::npos) {
    throw Error(fmt::format("copy {} to {}: {}", from_key, to_key, s3_error(r)));
  }
}

bool S3BlobStore::set_aside(const Digest& d) {
  // S3 has no rename: copy, then delete. The blob is out of sight once the delete is done.
  std::optional<uint64_t> n = size(d);
  if (!n) return false;
  copy_object(blob_key(d), *n, set_aside_key(d));
  delete_object(blob_key(d));
  return true;
}

void S3BlobStore::restore_set_aside(const Digest& d) {
  std::optional<uint64_t> n = object_size(set_aside_key(d));
  if (!n) throw Error(fmt::format("put blob {} back: it is not set aside", d.str()));
  copy_object(set_aside_key(d), *n, blob_key(d));
  delete_object(set_aside_key(d));
}

void S3BlobStore::discard_set_aside(const Digest& d) { delete_object(set_aside_key(d)); }

std::vector<Digest> S3BlobStore::set_aside_blobs() const {
  std::vector<Digest> out;
  for (const Object& o : list("set-aside/sha256/")) {
    if (auto d = digest_at_end(o.key)) out.push_back(*d);
  }
  return out;
}

void S3BlobStore::for_each(const std::function<void(const Digest&, uint64_t)>& fn) const {
  for (const Object& o : list("blobs/sha256/")) {
    if (auto d = digest_at_end(o.key)) fn(*d, o.size);
  }
}

void S3BlobStore::begin_upload(const std::string& id) {
  Call c;
  c.method = "PUT";
  c.key = loc_.prefix + upload_prefix(id) + "started";
  call(c);
}

std::vector<S3BlobStore::Object> S3BlobStore::upload_chunks(const std::string& id, bool* exists) const {
  std::vector<Object> all = list(upload_prefix(id));
  *exists = false;
  std::vector<Object> chunks;
  uint64_t next = 0;
  for (Object& o : all) {
    std::string name = o.key.substr(o.key.rfind('/') + 1);
    if (name == "started") {
      *exists = true;
      continue;
    }
    unsigned long long offset = 0;
    // Keys sort by offset (zero-padded); a chunk past a gap is unreachable.
    if (name.size() != 20 || !parse_uint64(name, &offset) || offset != next || o.size == 0) continue;
    next += o.size;
    o.key = loc_.prefix + o.key;
    chunks.push_back(std::move(o));
  }
  return chunks;
}

std::optional<uint64_t> S3BlobStore::upload_size(const std::string& id) const {
  bool exists = false;
  std::vector<Object> chunks = upload_chunks(id, &exists);
  if (!exists) return std::nullopt;
  uint64_t size = 0;
  for (const Object& o : chunks) size += o.size;
  return size;
}

uint64_t S3BlobStore::append(const std::string& id, uint64_t offset, const std::function<size_t(char*, size_t)>& read,
                             const std::function<void(const char*, size_t)>& on_data) {
  std::string prefix = loc_.prefix + upload_prefix(id);
  UniqueFd spool = scratch_file(scratch_dir_);
  // One object per kMaxObject bytes, each with its payload hash for SigV4.
  std::vector<std::string> hashes;
  auto sha = std::make_unique<image::Sha256>();
  uint64_t total = 0, in_object = 0;
  std::vector<char> buf(size_t{1} << 20);
  while (size_t n = read(buf.data(), buf.size())) {
    on_data(buf.data(), n);
    write_all_fd(spool.get(), std::string_view(buf.data(), n), "upload scratch file");
    for (size_t done = 0; done < n;) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(n - done, kMaxObject - in_object));
      sha->update(buf.data() + done, take);
      done += take;
      in_object += take;
      if (in_object == kMaxObject) {
        hashes.emplace_back(sha->finish().hex());
        sha = std::make_unique<image::Sha256>();
        in_object = 0;
      }
    }
    total += n;
  }
  if (in_object > 0) hashes.emplace_back(sha->finish().hex());
  for (size_t i = 0; i < hashes.size(); ++i) {
    uint64_t start = uint64_t{i} * kMaxObject;
    uint64_t len = std::min<uint64_t>(kMaxObject, total - start);
    uint64_t pos = 0;
    Call c;
    c.method = "PUT";
    c.key = fmt::format("{}{:020}", prefix, offset + start);
    c.body_size = static_cast<int64_t>(len);
    c.payload_sha256 = hashes[i];
    c.body_reader = [&](char* out, size_t cap) -> size_t {
      size_t want = static_cast<size_t>(std::min<uint64_t>(cap, len - pos));
      if (want == 0) return 0;
      ssize_t n = ::pread(spool.get(), out, want, static_cast<off_t>(start + pos));
      if (n <= 0) fail_errno("read upload scratch file");
      pos += static_cast<uint64_t>(n);
      return static_cast<size_t>(n);
    };
    call(c);
  }
  return offset + total;
}

void S3BlobStore::get_range(const std::string& key, uint64_t offset, uint64_t length,
                            const std::function<bool(std::string_view)>& sink) const {
  S3BlobReader(*this, key, offset + length, "", 0).read(offset, length, sink);
}

void S3BlobStore::read_upload(const std::string& id, uint64_t length,
                              const std::function<void(const char*, size_t)>& fn) const {
  bool exists = false;
  uint64_t left = length;
  for (const Object& o : upload_chunks(id, &exists)) {
    if (left == 0) break;
    uint64_t take = std::min(left, o.size);
    get_range(o.key, 0, take, [&](std::string_view p) {
      fn(p.data(), p.size());
      return true;
    });
    left -= take;
  }
  if (left > 0) throw Error(fmt::format("read upload {}: shorter than {} bytes", id, length));
}

void S3BlobStore::compose(const std::vector<Object>& chunks, const std::string& dest) const {
  Call init;
  init.method = "POST";
  init.key = dest;
  init.query = {{"uploads", ""}};
  pt::ptree t = parse_xml(call(init).body, "start multipart upload of " + dest);
  std::string upload_id = t.get<std::string>("InitiateMultipartUploadResult.UploadId", "");
  if (upload_id.empty()) throw Error(fmt::format("start multipart upload of {}: S3 sent no UploadId", dest));
  try {
    std::vector<std::string> etags;
    std::string part;
    part.reserve(kPartSize);
    auto flush = [&] {
      Call c;
      c.method = "PUT";
      c.key = dest;
      c.query = {{"partNumber", std::to_string(etags.size() + 1)}, {"uploadId", upload_id}};
      c.body = std::move(part);
      etags.push_back(call(c).header("etag"));
      part.clear();
    };
    for (const Object& o : chunks) {
      get_range(o.key, 0, o.size, [&](std::string_view p) {
        while (!p.empty()) {
          size_t take = std::min(p.size(), kPartSize - part.size());
          part.append(p.data(), take);
          p.remove_prefix(take);
          if (part.size() == kPartSize) flush();
        }
        return true;
      });
    }
    if (!part.empty() || etags.empty()) flush();
    std::string xml = "<CompleteMultipartUpload>";
    for (size_t i = 0; i < etags.size(); ++i) {
      xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, xml_escape(etags[i]));
    }
    xml += "</CompleteMultipartUpload>";
    Call done;
    done.method = "POST";
    done.key = dest;
    done.query = {{"uploadId", upload_id}};
    done.body = xml;
    HttpResponse r = call(done);
    // S3 may answer 200 and report the failure in the body.
    if (r.body.find("<Error>") != std::string::npos) {
      throw Error(fmt::format("complete multipart upload of {}: {}", dest, s3_error(r)));
    }
  } catch (...) {
    Call abort;
    abort.method = "DELETE";
    abort.key = dest;
    abort.query = {{"uploadId", upload_id}};
    abort.ok_statuses = {404};
    try {
      call(abort);
    } catch (const Error&) {
      // The original failure matters more; S3 lifecycle rules reap leftovers.
    }
    throw;
  }
}

void S3BlobStore::commit_upload(const std::string& id, const Digest& d) {
  bool exists = false;
  std::vector<Object> chunks = upload_chunks(id, &exists);
  if (!exists) throw Error(fmt::format("commit upload {}: no such upload", id));
  std::string dest = blob_key(d);
  if (chunks.empty()) {
    put(d, "");
  } else if (chunks.size() == 1) {
    copy_object(chunks[0].key, chunks[0].size, dest);
  } else {
    compose(chunks, dest);
  }
  cancel_upload(id);
}

void S3BlobStore::cancel_upload(const std::string& id) {
  // The marker last: until it goes, the upload still lists as existing.
  std::vector<Object> all = list(upload_prefix(id));
  std::stable_partition(all.begin(), all.end(), [](const Object& o) { return !o.key.ends_with("/started"); });
  for (const Object& o : all) {
    Call c;
    c.method = "DELETE";
    c.key = loc_.prefix + o.key;
    c.ok_statuses = {404};
    call(c);
  }
}

}  // namespace berth::hub
