#include "hub/registry_api.h"

#include <chrono>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/strings.h"
#include "hub/manifest_check.h"
#include "hub/names.h"
#include "hub/policies.h"
#include "hub/registry_error.h"
#include "image/digest.h"
#include "image/media_types.h"

namespace berth::hub {

using http::Request;
using http::Response;
using nlohmann::json;

// distribution's limit: manifests are small, and are buffered whole.
static constexpr size_t kMaxManifestBytes = size_t{4} << 20;

struct RegistryApi::UploadHash {
  image::Sha256 sha;
  uint64_t size = 0;
};

// What a /v2/ path names. Repository names contain slashes, so the path is
// split at the last marker ("/manifests/", "/blobs/uploads/", ...).
struct RegistryApi::Route {
  enum Kind { kBase, kCatalog, kManifest, kBlob, kUploads, kUpload, kTags, kReferrers, kUnknown } kind = kUnknown;
  std::string repo;
  std::string ref;
};

static RegistryApi::Route parse_route(std::string_view path) {
  using R = RegistryApi::Route;
  R r;
  if (path == "/v2" || path == "/v2/") {
    r.kind = R::kBase;
    return r;
  }
  if (path == "/v2/_catalog") {
    r.kind = R::kCatalog;
    return r;
  }
  std::string_view rest = path.substr(4);  // after "/v2/"
  auto split = [&](std::string_view marker, R::Kind kind, bool ref_allowed_empty) {
    size_t at = rest.rfind(marker);
    if (at == std::string_view::npos || at == 0) return false;
    std::string_view ref = rest.substr(at + marker.size());
    if (ref.find('/') != std::string_view::npos || (ref.empty() && !ref_allowed_empty)) return false;
    r.kind = kind;
    r.repo = std::string(rest.substr(0, at));
    r.ref = std::string(ref);
    return true;
  };
  if (rest.ends_with("/tags/list")) {
    r.kind = R::kTags;
    r.repo = std::string(rest.substr(0, rest.size() - 10));
    return r;
  }
  if (rest.ends_with("/blobs/uploads/") || rest.ends_with("/blobs/uploads")) {
    r.kind = R::kUploads;
    r.repo = std::string(rest.substr(0, rest.rfind("/blobs/uploads")));
    return r;
  }
  if (split("/blobs/uploads/", R::kUpload, false) || split("/manifests/", R::kManifest, false) ||
      split("/blobs/", R::kBlob, false) || split("/referrers/", R::kReferrers, false)) {
    return r;
  }
  return r;
}

static image::Digest parse_digest(const std::string& s) {
  image::Digest d = image::Digest::from_hex(std::string(64, '0'));
  if (!image::Digest::try_parse(s, &d)) {
    throw RegistryError(400, "DIGEST_INVALID", "provided digest did not match uploaded content",
                        fmt::format("invalid digest {:?}", s));
  }
  return d;
}

RegistryApi::RegistryApi(BlobStore& blobs, Metadata& meta, Access access)
    : blobs_(blobs), meta_(meta), access_(std::move(access)) {}

RegistryApi::~RegistryApi() = default;

void RegistryApi::serve(Request& req, Response& res) {
  try {
    Route r = parse_route(req.path());
    dispatch(req, res, r);
  } catch (const RegistryError& e) {
    if (res.answered()) throw;
    res.send(e.status(), "application/json", e.body().dump() + "\n");
  }
}

void RegistryApi::dispatch(Request& req, Response& res, const Route& r) {
  const std::string& m = req.method();
  bool read = m == "GET" || m == "HEAD";
  if (r.kind == Route::kUnknown) throw RegistryError(404, "NOT_FOUND", "page not found");
  if (r.kind == Route::kBase) {
    if (!read) throw RegistryError(405, "UNSUPPORTED", "the operation is unsupported");
    access_(req, res, "", Action::kPull);
    res.send(200, "application/json", "{}");
    return;
  }
  if (r.kind == Route::kCatalog) {
    if (!read) throw RegistryError(405, "UNSUPPORTED", "the operation is unsupported");
    catalog(req, res);
    return;
  }
  if (!is_valid_repository_name(r.repo)) {
    throw RegistryError(400, "NAME_INVALID", "invalid repository name", fmt::format("invalid name {:?}", r.repo));
  }
  // Upload sessions belong to pushes, even their GET (status).
  bool upload = r.kind == Route::kUploads || r.kind == Route::kUpload;
  Action action = read && !upload ? Action::kPull
                  : m == "DELETE" && (r.kind == Route::kManifest || r.kind == Route::kBlob) ? Action::kDelete
                                                                                             : Action::kPush;
  access_(req, res, r.repo, action);
  switch (r.kind) {
    case Route::kManifest:
      if (read) return get_manifest(req, res, r.repo, r.ref);
      if (m == "PUT") return put_manifest(req, res, r.repo, r.ref);
      if (m == "DELETE") return delete_manifest(res, r.repo, r.ref);
      break;
    case Route::kBlob:
      if (read) return get_blob(req, res, r.repo, r.ref);
      if (m == "DELETE") return delete_blob(res, r.repo, r.ref);
      break;
    case Route::kUploads:
      if (m == "POST") return start_upload(req, res, r.repo);
      break;
    case Route::kUpload:
      if (m == "GET") return upload_status(res, r.repo, r.ref);
      if (m == "PATCH") return patch_upload(req, res, r.repo, r.ref);
      if (m == "PUT") return put_upload(req, res, r.repo, r.ref);
      if (m == "DELETE") return cancel_upload(res, r.repo, r.ref);
      break;
    case Route::kTags:
      if (read) return list_tags(req, res, r.repo);
      break;
    case Route::kReferrers:
      if (read) return referrers(req, res, r.repo, r.ref);
      break;
    default:
      break;
  }
  throw RegistryError(405, "UNSUPPORTED", "the operation is unsupported");
}

// ---- manifests

// Blobs the store cannot hand over as a file are buffered in memory up to
// this size (manifests always are: they are at most 4 MiB), so that a store
// failing before the end still gets a proper error answer; bigger ones are
// streamed as they arrive.
static constexpr uint64_t kMaxBufferedProxy = uint64_t{8} << 20;

// Sends bytes [offset, offset + length) of blob: straight from a local
// file; otherwise (S3) buffered when small, else streamed with its
// Content-Length from the store's first bytes on (a store failing before
// them gets an error answer; one failing midway closes the connection).
static void send_blob(Request& req, Response& res, const BlobReader& blob, int status, const std::string& type,
                      uint64_t offset, uint64_t length) {
  if (blob.fd() >= 0) {
    res.send_file(status, type, blob.fd(), offset, length);
  } else if (req.method() == "HEAD") {
    res.start_stream(status, type, length);  // the headers only
    res.finish_stream();
  } else if (length > kMaxBufferedProxy) {
    blob.read(offset, length, [&](std::string_view p) {
      if (!res.answered()) res.start_stream(status, type, length);
      return res.write(p);
    });
    res.finish_stream();
  } else {
    std::string body;
    body.reserve(length);
    blob.read(offset, length, [&](std::string_view p) {
      body.append(p);
      return true;
    });
    res.send(status, type, body);
  }
}

void RegistryApi::get_manifest(Request& req, Response& res, const std::string& repo, const std::string& ref) {
  std::string digest = ref;
  if (ref.find(':') == std::string::npos) {
    if (!is_valid_tag(ref)) throw RegistryError(400, "TAG_INVALID", "manifest tag did not match URI");
    auto d = meta_.tag_digest(repo, ref);
    if (!d) throw RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", json{{"Tag", ref}});
    digest = *d;
  } else {
    digest = parse_digest(ref).str();
  }
  auto rec = meta_.manifest(repo, digest);
  if (!rec) throw RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", json{{"Revision", digest}});
  std::unique_ptr<BlobReader> blob = blobs_.open(parse_digest(digest));
  if (!blob) throw RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", json{{"Revision", digest}});
  res.set_header("Docker-Content-Digest", digest);
  res.set_header("Etag", "\"" + digest + "\"");
  send_blob(req, res, *blob, 200, rec->media_type, 0, static_cast<uint64_t>(rec->size));
}

void RegistryApi::put_manifest(Request& req, Response& res, const std::string& repo, const std::string& ref) {
  std::string body;
  char buf[65536];
  while (size_t n = req.read_body(buf, sizeof buf)) {
    body.append(buf, n);
    if (body.size() > kMaxManifestBytes) {
      throw RegistryError(413, "SIZE_INVALID", "manifest too large",
                          fmt::format("manifests are limited to {} bytes", kMaxManifestBytes));
    }
  }
  image::Digest digest = image::sha256_of(body);
  std::string tag;
  if (ref.find(':') != std::string::npos) {
    if (parse_digest(ref) != digest) {
      throw RegistryError(400, "DIGEST_INVALID", "provided digest did not match uploaded content",
                          fmt::format("the body's digest is {}, the URL names {}", digest.str(), ref));
    }
  } else {
    if (!is_valid_tag(ref)) throw RegistryError(400, "TAG_INVALID", "manifest tag did not match URI");
    tag = ref;
  }
  ParsedManifest parsed = parse_manifest(body, req.header("Content-Type"));
  if (policies_) {
    // Before the references are checked: GC must see their use first (hub/gc.h).
    std::vector<std::string> refs;
    for (const auto& r : parsed.references) refs.push_back(r.digest);
    policies_->admit_manifest(repo, tag, digest.str(), refs);
  }
  for (const auto& r : parsed.references) {
    bool present = r.is_manifest ? meta_.manifest(repo, r.digest).has_value()
                                 : meta_.linked_blob_size(repo, r.digest).has_value();
    if (!present) {
      throw RegistryError(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", json{{"digest", r.digest}});
    }
  }
  blobs_.put(digest, body);
  ManifestRecord rec{.digest = digest.str(),
                     .media_type = parsed.media_type,
                     .size = static_cast<int64_t>(body.size()),
                     .artifact_type = parsed.artifact_type,
                     .subject = parsed.subject,
                     .annotations = parsed.annotations,
                     .pushed_unix = unix_seconds_now()};
  meta_.put_manifest(repo, rec, parsed.references, tag);
  res.set_header("Location", fmt::format("/v2/{}/manifests/{}", repo, digest.str()));
  res.set_header("Docker-Content-Digest", digest.str());
  if (!parsed.subject.empty()) res.set_header("OCI-Subject", parsed.subject);
  res.send(201);
  if (push_listener_) push_listener_(req, repo, tag, rec);
}

void RegistryApi::delete_manifest(Response& res, const std::string& repo, const std::string& ref) {
  if (ref.find(':') == std::string::npos) {
    if (!is_valid_tag(ref)) throw RegistryError(400, "TAG_INVALID", "manifest tag did not match URI");
    if (policies_) policies_->admit_tag_delete(repo, ref);
    if (!meta_.delete_tag(repo, ref)) {
      throw RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", json{{"Tag", ref}});
    }
  } else {
    std::string digest = parse_digest(ref).str();
    if (policies_) policies_->admit_manifest_delete(repo, digest);
    if (!meta_.delete_manifest(repo, digest)) {
      throw RegistryError(404, "MANIFEST_UNKNOWN", "manifest unknown", json{{"Revision", ref}});
    }
  }
  res.send(202);
}

// ---- blobs

// "bytes=a-b" or "bytes=a-" within size; nullopt when unsatisfiable or malformed.
static std::optional<std::pair<uint64_t, uint64_t>> parse_range(const std::string& h, uint64_t size) {
  if (!h.starts_with("bytes=")) return std::nullopt;
  std::string spec = h.substr(6);
  size_t dash = spec.find('-');
  if (dash == std::string::npos || dash == 0 || spec.find(',') != std::string::npos) return std::nullopt;
  long long a = 0, b = 0;
  if (!parse_int64(spec.substr(0, dash), &a) || a < 0) return std::nullopt;
  std::string end = spec.substr(dash + 1);
  if (end.empty()) {
    b = static_cast<long long>(size) - 1;
  } else if (!parse_int64(end, &b) || b < a) {
    return std::nullopt;
  }
  if (static_cast<uint64_t>(a) >= size) return std::nullopt;
  b = std::min<long long>(b, static_cast<long long>(size) - 1);
  return std::make_pair(static_cast<uint64_t>(a), static_cast<uint64_t>(b));
}

void RegistryApi::get_blob(Request& req, Response& res, const std::string& repo, const std::string& ref) {
  image::Digest d = parse_digest(ref);
  auto linked = meta_.linked_blob_size(repo, d.str());
  std::unique_ptr<BlobReader> blob = linked ? blobs_.open(d) : nullptr;
  if (!blob) throw RegistryError(404, "BLOB_UNKNOWN", "blob unknown to registry", json{{"digest", d.str()}});
  uint64_t size = blob->size();
  if (req.method() == "GET") {
    // distribution's S3 default: the client fetches the bytes from S3 itself.
    if (std::string url = blobs_.redirect_url(d); !url.empty()) {
      res.set_header("Location", url);
      res.set_header("Docker-Content-Digest", d.str());
      res.send(307);
      return;
    }
  }
  res.set_header("Docker-Content-Digest", d.str());
  res.set_header("Etag", "\"" + d.str() + "\"");
  res.set_header("Accept-Ranges", "bytes");
  res.set_header("Cache-Control", "max-age=31536000");
  std::string range = req.header("Range");
  if (range.empty()) {
    send_blob(req, res, *blob, 200, "application/octet-stream", 0, size);
    return;
  }
  auto r = parse_range(range, size);
  if (!r) {
    res.set_header("Content-Range", fmt::format("bytes */{}", size));
    throw RegistryError(416, "RANGE_INVALID", "invalid content range", json{{"range", range}});
  }
  res.set_header("Content-Range", fmt::format("bytes {}-{}/{}", r->first, r->second, size));
  send_blob(req, res, *blob, 206, "application/octet-stream", r->first, r->second - r->first + 1);
}

void RegistryApi::delete_blob(Response& res, const std::string& repo, const std::string& ref) {
  image::Digest d = parse_digest(ref);
  if (!meta_.unlink_blob(repo, d.str())) {
    throw RegistryError(404, "BLOB_UNKNOWN", "blob unknown to registry", json{{"digest", d.str()}});
  }
  res.send(202);
}

// ---- uploads

void RegistryApi::answer_upload(Response& res, int status, const std::string& repo, const std::string& id,
                                uint64_t size) {
  res.set_header("Location", fmt::format("/v2/{}/blobs/uploads/{}", repo, id));
  res.set_header("Range", fmt::format("0-{}", size == 0 ? 0 : size - 1));
  res.set_header("Docker-Upload-UUID", id);
  res.send(status);
}

void RegistryApi::start_upload(Request& req, Response& res, const std::string& repo) {
  const auto& q = req.query();
  std::string mount = q.get("mount");
  if (!mount.empty()) {
    image::Digest d = parse_digest(mount);
    std::string from = q.get("from");
    bool mounted = false;
    if (is_valid_repository_name(from) && from != repo) {
      std::optional<int64_t> size;
      try {
        // Mounting reads from `from`: the caller needs pull rights there.
        access_(req, res, from, Action::kPull);
        size = meta_.linked_blob_size(from, d.str());
      } catch (const RegistryError&) {
        // No rights on the source: an ordinary upload, as distribution does.
      }
      // The quota refusal is the answer (no upload session to fall back to).
      if (size && policies_) policies_->admit_blob(repo, d.str(), *size);
      if (size && blobs_.size(d)) {
        meta_.link_blob(repo, d.str(), *size);
        mounted = true;
      }
    } else if (from.empty() && meta_.linked_blob_size(repo, d.str())) {
      mounted = true;
    }
    if (mounted) {
      res.set_header("Location", fmt::format("/v2/{}/blobs/{}", repo, d.str()));
      res.set_header("Docker-Content-Digest", d.str());
      res.send(201);
      return;
    }
  }
  std::string id = BlobStore::new_upload_id();
  blobs_.begin_upload(id);
  meta_.create_upload(UploadRecord{id, repo, unix_seconds_now()});
  std::string digest = q.get("digest");
  if (!digest.empty()) {  // the whole blob in this one POST
    parse_digest(digest);
    append_body(req, id, 0);
    finish_upload(res, repo, id, digest);
    return;
  }
  answer_upload(res, 202, repo, id, 0);
}

uint64_t RegistryApi::append_body(Request& req, const std::string& id, uint64_t offset) {
  std::unique_ptr<UploadHash> h;
  {
    std::lock_guard lock(hashes_mu_);
    auto it = hashes_.find(id);
    if (it != hashes_.end()) {
      h = std::move(it->second);
      hashes_.erase(it);
    }
  }
  if (!h || h->size != offset) {
    h = std::make_unique<UploadHash>();
    blobs_.read_upload(id, offset, [&](const char* p, size_t n) { h->sha.update(p, n); });
    h->size = offset;
  }
  try {
    h->size = blobs_.append(
        id, offset, [&](char* buf, size_t n) { return req.read_body(buf, n); },
        [&](const char* p, size_t n) { h->sha.update(p, n); });
  } catch (...) {
    // The data may now be partial; the next append rehashes what is there.
    throw;
  }
  uint64_t size = h->size;
  std::lock_guard lock(hashes_mu_);
  hashes_[id] = std::move(h);
  return size;
}

static UploadRecord require_upload(Metadata& meta, const std::string& repo, const std::string& id) {
  std::optional<UploadRecord> u;
  if (BlobStore::is_valid_upload_id(id)) u = meta.upload(id);
  if (!u || u->repository != repo) {
    throw RegistryError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", json{{"uuid", id}});
  }
  return *u;
}

void RegistryApi::upload_status(Response& res, const std::string& repo, const std::string& id) {
  require_upload(meta_, repo, id);
  auto size = blobs_.upload_size(id);
  if (!size) throw RegistryError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", json{{"uuid", id}});
  answer_upload(res, 204, repo, id, *size);
}

void RegistryApi::patch_upload(Request& req, Response& res, const std::string& repo, const std::string& id) {
  require_upload(meta_, repo, id);
  auto size = blobs_.upload_size(id);
  if (!size) throw RegistryError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", json{{"uuid", id}});
  std::string range = req.header("Content-Range");
  if (!range.empty()) {
    // "<start>-<end>" (docker also sends "bytes=<start>-<end>").
    std::string r = range.starts_with("bytes=") ? range.substr(6) : range;
    size_t dash = r.find('-');
    long long start = -1, end = -1;
    bool ok = dash != std::string::npos && parse_int64(r.substr(0, dash), &start) &&
              parse_int64(r.substr(dash + 1), &end) && end >= start;
    if (!ok || static_cast<uint64_t>(start) != *size) {
      res.set_header("Location", fmt::format("/v2/{}/blobs/uploads/{}", repo, id));
      res.set_header("Range", fmt::format("0-{}", *size == 0 ? 0 : *size - 1));
      res.set_header("Docker-Upload-UUID", id);
      throw RegistryError(416, "BLOB_UPLOAD_INVALID", "blob upload invalid",
                          fmt::format("chunk range {} does not continue the upload at {}", range, *size));
    }
  }
  uint64_t new_size = append_body(req, id, *size);
  answer_upload(res, 202, repo, id, new_size);
}

void RegistryApi::put_upload(Request& req, Response& res, const std::string& repo, const std::string& id) {
  require_upload(meta_, repo, id);
  std::string digest = req.query().get("digest");
  if (digest.empty()) {
    throw RegistryError(400, "DIGEST_INVALID", "provided digest did not match uploaded content",
                        "the digest parameter is missing");
  }
  parse_digest(digest);
  auto size = blobs_.upload_size(id);
  if (!size) throw RegistryError(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", json{{"uuid", id}});
  append_body(req, id, *size);
  finish_upload(res, repo, id, digest);
}

void RegistryApi::finish_upload(Response& res, const std::string& repo, const std::string& id,
                                const std::string& claimed) {
  std::unique_ptr<UploadHash> h;
  {
    std::lock_guard lock(hashes_mu_);
    auto it = hashes_.find(id);
    if (it != hashes_.end()) {
      h = std::move(it->second);
      hashes_.erase(it);
    }
  }
  if (!h) throw Error(fmt::format("upload {}: no hash state", id));
  image::Digest actual = h->sha.finish();
  image::Digest want = parse_digest(claimed);
  if (actual != want) {
    blobs_.cancel_upload(id);
    meta_.delete_upload(id);
    throw RegistryError(400, "DIGEST_INVALID", "provided digest did not match uploaded content",
                        fmt::format("the upload's digest is {}, the client claimed {}", actual.str(), want.str()));
  }
  if (policies_) {
    // Quota; also records the use before the bytes are looked at (hub/gc.h).
    try {
      policies_->admit_blob(repo, want.str(), static_cast<int64_t>(h->size));
    } catch (const RegistryError&) {
      blobs_.cancel_upload(id);
      meta_.delete_upload(id);
      throw;
    }
  }
  if (blobs_.size(want)) {
    blobs_.cancel_upload(id);  // the bytes are already here (another repository's push)
  } else {
    blobs_.commit_upload(id, want);
  }
  meta_.link_blob(repo, want.str(), static_cast<int64_t>(h->size));
  meta_.delete_upload(id);
  res.set_header("Location", fmt::format("/v2/{}/blobs/{}", repo, want.str()));
  res.set_header("Docker-Content-Digest", want.str());
  res.send(201);
}

void RegistryApi::cancel_upload(Response& res, const std::string& repo, const std::string& id) {
  require_upload(meta_, repo, id);
  blobs_.cancel_upload(id);
  meta_.delete_upload(id);
  {
    std::lock_guard lock(hashes_mu_);
    hashes_.erase(id);
  }
  res.send(204);
}

// ---- discovery

// n/last pagination shared by tags/list and _catalog: fetches one more than
// asked to know whether a next page exists, and links to it as distribution does.
template <class Fetch>
static std::vector<std::string> paginate(Request& req, Response& res, const std::string& base, Fetch fetch) {
  const auto& q = req.query();
  std::string last = q.get("last");
  long long n = -1;
  if (q.has("n")) {
    if (!parse_int64(q.get("n"), &n) || n < 0) {
      throw RegistryError(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested",
                          json{{"n", q.get("n")}});
    }
  }
  std::vector<std::string> items = fetch(last, n < 0 ? -1 : n + 1);
  if (n >= 0 && items.size() > static_cast<size_t>(n)) {
    items.resize(static_cast<size_t>(n));
    if (!items.empty()) res.set_header("Link", fmt::format("<{}?last={}&n={}>; rel=\"next\"", base, items.back(), n));
  }
  return items;
}

void RegistryApi::list_tags(Request& req, Response& res, const std::string& repo) {
  if (!meta_.repository_exists(repo)) {
    throw RegistryError(404, "NAME_UNKNOWN", "repository name not known to registry", json{{"name", repo}});
  }
  auto tags = paginate(req, res, fmt::format("/v2/{}/tags/list", repo),
                       [&](const std::string& last, int64_t n) { return meta_.tags(repo, last, n); });
  res.send(200, "application/json", json{{"name", repo}, {"tags", tags}}.dump() + "\n");
}

void RegistryApi::catalog(Request& req, Response& res) {
  access_(req, res, "", Action::kPull);
  auto repos = paginate(req, res, "/v2/_catalog", [&](const std::string& last, int64_t n) {
    if (!catalog_filter_) return meta_.repositories(last, n);
    // Filtered page by page, so hidden repositories never shorten a page.
    std::vector<std::string> out;
    std::string after = last;
    while (n < 0 || static_cast<int64_t>(out.size()) < n) {
      auto batch = meta_.repositories(after, 100);
      for (const auto& r : batch) {
        if (catalog_filter_(req, r)) out.push_back(r);
        if (n >= 0 && static_cast<int64_t>(out.size()) == n) break;
      }
      if (batch.size() < 100) break;
      after = batch.back();
    }
    return out;
  });
  res.send(200, "application/json", json{{"repositories", repos}}.dump() + "\n");
}

void RegistryApi::referrers(Request& req, Response& res, const std::string& repo, const std::string& ref) {
  image::Digest d = parse_digest(ref);
  std::string filter = req.query().get("artifactType");
  json manifests = json::array();
  for (const auto& m : meta_.referrers(repo, d.str())) {
    if (!filter.empty() && m.artifact_type != filter) continue;
    json desc{{"mediaType", m.media_type}, {"digest", m.digest}, {"size", m.size}};
    if (!m.artifact_type.empty()) desc["artifactType"] = m.artifact_type;
    if (!m.annotations.empty()) desc["annotations"] = json::parse(m.annotations);
    manifests.push_back(std::move(desc));
  }
  if (!filter.empty()) res.set_header("OCI-Filters-Applied", "artifactType");
  json index{{"schemaVersion", 2}, {"mediaType", image::kOciIndex}, {"manifests", manifests}};
  res.send(200, image::kOciIndex, index.dump() + "\n");
}

}  // namespace berth::hub
