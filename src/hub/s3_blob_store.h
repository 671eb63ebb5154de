// S3BlobStore: berth-hub's blobs and uploads in an S3 bucket (AWS or any
// S3-compatible server), so that several berth-hub replicas behind a load
// balancer share them with no coordination beyond the database.
//
// --storage s3://[KEY:SECRET@]BUCKET[/PREFIX][?endpoint=URL&region=R&redirect=true]
//   endpoint  default https://s3.<region>.amazonaws.com; buckets are always
//             addressed path-style (<endpoint>/<bucket>/<key>), which every
//             S3-compatible server understands
//   region    default us-east-1 (signing only)
//   redirect  blob GETs answer 307 to a presigned URL valid for 20 minutes
//             (distribution's default for S3) instead of proxying the bytes
// Credentials: KEY:SECRET in the URL, else AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) from the environment.
//
// Layout under PREFIX: blobs/sha256/<aa>/<hex> (one object per blob, so a
// presigned URL can point at it), uploads/<id>/started (the session exists),
// uploads/<id>/<offset, 20 digits> (one object per appended chunk) and
// set-aside/sha256/<hex> (blobs garbage collection set aside: copied there,
// since S3 cannot rename, and deleted from blobs/).
//
// Contract (beyond BlobStore's):
// - Each append() spools the request body to a scratch file first, because
//   S3 wants a PUT's length up front and clients send chunks of unknown
//   length; it then becomes one object (split at 5 GiB, S3's largest PUT).
//   Chunk objects are readable, so a replica that did not see the earlier
//   chunks rebuilds the running hash with read_upload.
// - commit_upload: an upload of one chunk (a monolithic push, or one PATCH
//   and an empty PUT, as docker and skopeo push) is copied server-side
//   (CopyObject, up to 5 GiB). Several chunks are composed with a multipart
//   upload whose parts are re-read and re-sent through this process (parts
//   of 16 MiB, since S3 refuses parts under 5 MiB except the last and
//   clients' chunks may be smaller). UploadPartCopy would keep large chunks
//   server-side, but the S3-compatible server the tests run (s3rver) does
//   not implement it, so it is left out rather than shipped untested.
// - Blob reads go through BlobReader (ranges exact even where a server
//   ignores or misreads Range); RegistryApi buffers small ones and streams
//   big ones with their Content-Length.
//   redirect=true spares berth-hub the bytes altogether.
// - Every request is signed with AWS Signature Version 4 and its payload's
//   sha256, so S3 rejects bytes damaged on the way.
// - A reader that opened a blob may see later reads fail once the blob is
//   deleted (S3 has no open handles): garbage collection must leave a grace
//   period, as it must for distribution on S3.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hub/blob_store.h"
#include "registry/http_client.h"

namespace berth::hub {

struct S3Location {
  std::string endpoint;  // scheme://host[:port], no trailing slash
  std::string region = "us-east-1";
  std::string bucket;
  std::string prefix;  // "" or "a/b/"
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  bool redirect = false;

  // Parses the --storage URL above; throws Error naming what is wrong.
  static S3Location parse(const std::string& url);
};

// AWS Signature Version 4 for S3. Written here on OpenSSL's HMAC-SHA256
// because Debian's libs3 (2.0) signs only with the retired version 2 and
// links its own HTTP stack; requests go through registry::HttpClient
// (libcurl), which berth-hub already carries.
namespace sigv4 {

struct Request {
  std::string method;
  std::string path;  // canonical URI, already percent-encoded: "/bucket/key"
  std::vector<std::pair<std::string, std::string>> query;  // raw (unencoded) names and values
  std::map<std::string, std::string> headers;               // lowercase names; host included
  std::string payload_sha256;                               // hex, or "UNSIGNED-PAYLOAD"
};

struct Key {
  std::string access_key;
  std::string secret_key;
  std::string region;
};

// The Authorization header's value for req at amz_date ("20130524T000000Z");
// every header in req.headers is signed.
std::string authorization(const Request& req, const Key& key, const std::string& amz_date);
// The query string (without '?') of a presigned GET of path on host, valid
// for expires_seconds from amz_date.
std::string presign_query(const std::string& path, const std::string& host, const Key& key,
                          const std::string& amz_date, int expires_seconds, const std::string& session_token = {});
// RFC 3986 percent-encoding of each path segment, '/' kept.
std::string encode_path(std::string_view path);

}  // namespace sigv4

class S3BlobStore : public BlobStore {
 public:
  // scratch_dir: where request bodies are spooled on their way to S3.
  S3BlobStore(S3Location loc, std::string scratch_dir);
  ~S3BlobStore() override;

  std::optional<uint64_t> size(const Digest& d) const override;
  std::unique_ptr<BlobReader> open(const Digest& d) const override;
  std::string redirect_url(const Digest& d) const override;
  void put(const Digest& d, std::string_view content) override;
  bool set_aside(const Digest& d) override;
  void restore_set_aside(const Digest& d) override;
  void discard_set_aside(const Digest& d) override;
  std::vector<Digest> set_aside_blobs() const override;
  void for_each(const std::function<void(const Digest&, uint64_t size)>& fn) const override;

  void begin_upload(const std::string& id) override;
  std::optional<uint64_t> upload_size(const std::string& id) const override;
  uint64_t append(const std::string& id, uint64_t offset, const std::function<size_t(char*, size_t)>& read,
                  const std::function<void(const char*, size_t)>& on_data) override;
  void read_upload(const std::string& id, uint64_t length,
                   const std::function<void(const char*, size_t)>& fn) const override;
  void commit_upload(const std::string& id, const Digest& d) override;
  void cancel_upload(const std::string& id) override;

  // One S3 call. key "" names the bucket itself. Public for tests and tools
  // (creating a bucket); throws Error with S3's code and message unless the
  // status is 2xx or listed in ok_statuses.
  struct Call {
    std::string method = "GET";
    std::string key;
    std::vector<std::pair<std::string, std::string>> query;
    std::map<std::string, std::string> headers;  // lowercase names, signed
    std::string body;
    // A body of body_size bytes read from here instead (payload_sha256 is its hash).
    std::function<size_t(char*, size_t)> body_reader;
    int64_t body_size = -1;
    std::string payload_sha256;
    std::vector<long> ok_statuses;
    // Sees a 2xx answer's status and headers before its body reaches the sink.
    std::function<void(const registry::HttpResponse&)> on_headers;
  };
  registry::HttpResponse call(const Call& c, const registry::HttpClient::Sink& sink = {}) const;

  const S3Location& location() const { return loc_; }
  const std::string& scratch_dir() const { return scratch_dir_; }

 private:
  struct Object {
    std::string key;
    uint64_t size = 0;
  };
  // Every object whose key starts with prefix (relative to loc_.prefix), in key order.
  std::vector<Object> list(const std::string& prefix) const;
  // The upload's chunk objects that form its contiguous data from offset 0,
  // and whether the upload exists at all.
  std::vector<Object> upload_chunks(const std::string& id, bool* exists) const;
  std::string blob_key(const Digest& d) const;
  std::string set_aside_key(const Digest& d) const;
  // Size of the object at key (a full key), nullopt when absent.
  std::optional<uint64_t> object_size(const std::string& key) const;
  // Copies an object inside the bucket: server-side up to 5 GiB, else composed through this process.
  void copy_object(const std::string& from_key, uint64_t size, const std::string& to_key) const;
  void delete_object(const std::string& key) const;
  std::string upload_prefix(const std::string& id) const;
  void get_range(const std::string& key, uint64_t offset, uint64_t length,
                 const std::function<bool(std::string_view)>& sink) const;
  void compose(const std::vector<Object>& chunks, const std::string& dest) const;

  S3Location loc_;
  std::string host_;  // Host header: endpoint's authority
  std::string scratch_dir_;
  mutable registry::HttpClient http_;
};

}  // namespace berth::hub
