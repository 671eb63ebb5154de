// RegistryApi: the OCI distribution API (/v2/...) that berth-hub serves to
// docker, skopeo, berth and other registry clients.
//
// Contract:
// - Pull: manifests by tag or digest (GET/HEAD), blobs with Range; push:
//   monolithic, single-POST, chunked (PATCH with Content-Range), cross-repo
//   mount; PUT manifest for OCI/Docker manifests and indexes (artifacts
//   included), which must reference blobs and manifests the repository has;
//   discovery: tags/list and _catalog with n/last, referrers with the
//   artifactType filter; DELETE of manifests, tags and blobs.
// - Every digest a client sends is verified against the bytes received.
// - Errors use the spec's codes (hub/registry_error.h); every response
//   carries Docker-Distribution-Api-Version: registry/2.0.
// - Authorization: every request is checked through Access before anything
//   is read or written.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "http/server.h"
#include "hub/blob_store.h"
#include "hub/metadata.h"

namespace berth::hub {

class Policies;

enum class Action { kPull, kPush, kDelete };

// Decides whether this request may do action on repository ("" for the
// catalog); throws RegistryError (401 with a challenge, 403, or 404 to hide a
// private repository) when it may not.
using Access = std::function<void(http::Request&, http::Response&, const std::string& repo, Action)>;

class RegistryApi {
 public:
  RegistryApi(BlobStore& blobs, Metadata& meta, Access access);
  ~RegistryApi();

  // Handles a request whose path starts with /v2/ (or is /v2).
  void serve(http::Request& req, http::Response& res);

  // Called after a manifest was stored (webhooks), with the request that
  // stored it (to name the pusher).
  using PushListener =
      std::function<void(http::Request&, const std::string& repo, const std::string& tag, const ManifestRecord&)>;
  void on_push(PushListener fn) { push_listener_ = std::move(fn); }
  // Whether the caller of a request may see a repository in _catalog (all when unset).
  using CatalogFilter = std::function<bool(http::Request&, const std::string& repo)>;
  void set_catalog_filter(CatalogFilter fn) { catalog_filter_ = std::move(fn); }
  // Quotas and tag immutability (hub/policies.h), consulted before blobs are
  // linked and manifests stored or deleted; none when unset.
  void set_policies(Policies* p) { policies_ = p; }

  struct Route;  // what a /v2/ path names (registry_api.cc)

 private:
  struct UploadHash;
  void dispatch(http::Request& req, http::Response& res, const Route& r);
  void get_manifest(http::Request& req, http::Response& res, const std::string& repo, const std::string& ref);
  void put_manifest(http::Request& req, http::Response& res, const std::string& repo, const std::string& ref);
  void delete_manifest(http::Response& res, const std::string& repo, const std::string& ref);
  void get_blob(http::Request& req, http::Response& res, const std::string& repo, const std::string& digest);
  void delete_blob(http::Response& res, const std::string& repo, const std::string& digest);
  void start_upload(http::Request& req, http::Response& res, const std::string& repo);
  void patch_upload(http::Request& req, http::Response& res, const std::string& repo, const std::string& id);
  void put_upload(http::Request& req, http::Response& res, const std::string& repo, const std::string& id);
  void upload_status(http::Response& res, const std::string& repo, const std::string& id);
  void cancel_upload(http::Response& res, const std::string& repo, const std::string& id);
  void list_tags(http::Request& req, http::Response& res, const std::string& repo);
  void catalog(http::Request& req, http::Response& res);
  void referrers(http::Request& req, http::Response& res, const std::string& repo, const std::string& digest);

  // Appends the request body to the upload, keeping its running hash.
  uint64_t append_body(http::Request& req, const std::string& id, uint64_t offset);
  void answer_upload(http::Response& res, int status, const std::string& repo, const std::string& id,
                     uint64_t size);
  void finish_upload(http::Response& res, const std::string& repo, const std::string& id, const std::string& digest);

  BlobStore& blobs_;
  Metadata& meta_;
  Access access_;
  PushListener push_listener_;
  CatalogFilter catalog_filter_;
  Policies* policies_ = nullptr;
  // Running sha256 of each upload this process appended to; rebuilt from
  // the data when another replica (or a previous run) did the earlier part.
  std::mutex hashes_mu_;
  std::map<std::string, std::unique_ptr<UploadHash>> hashes_;
};

}  // namespace berth::hub
