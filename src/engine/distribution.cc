#include "engine/distribution.h"

#include "base/error.h"
#include "image/manifest.h"
#include "image/reference.h"

namespace berth::engine {

using image::Reference;

Distribution::Distribution(Engine& engine, std::string data_root, registry::RegistryConfig config,
                           TransferLimits limits)
    : engine_(engine), config_(std::move(config)), limits_(limits), sources_(std::move(data_root)) {}

registry::Stores Distribution::stores() {
  return registry::Stores{engine_.content(), engine_.snapshots(), engine_.images(), &sources_};
}

registry::Repository Distribution::repository(const Reference& ref, const registry::AuthConfig& auth, bool push) {
  registry::Repository repo(http_, registry::endpoints_for(ref.domain, config_, push), ref.path, auth, push);
  repo.set_display_name(ref.familiar_name());
  return repo;
}

std::string Distribution::pull(const std::string& reference, bool all_tags, const std::string& platform,
                               const registry::AuthConfig& auth, const registry::ProgressFn& progress) {
  Reference ref = image::parse_reference(reference);
  registry::PullOptions opts;
  opts.max_concurrent_downloads = limits_.max_concurrent_downloads;
  if (!platform.empty()) opts.platform = image::Platform::parse(platform);
  std::vector<Reference> targets;
  // Errors name the manifest or layer already, as dockerd's do: no wrapping.
  registry::Repository repo = repository(ref, auth, false);
  if (all_tags && !ref.tag && !ref.digest) {
    for (const auto& t : repo.list_tags()) {
      Reference r = ref;
      r.tag = t;
      targets.push_back(r);
    }
    if (targets.empty()) fail("no tags");
  } else {
    targets.push_back(image::with_default_tag(ref));
  }
  bool any_new = false;
  for (const auto& r : targets) {
    registry::PullResult res = [&] {
      try {
        return registry::pull_image(repo, r, stores(), opts, progress);
      } catch (const Error& e) {
        // dockerd's translatePullError: a registry that refuses us may be
        // hiding a repository that does not exist.
        std::string msg = e.what();
        if (msg.find("unauthorized") != std::string::npos || msg.find("denied") != std::string::npos ||
            msg.find("name unknown") != std::string::npos)
          fail("pull access denied for {}, repository does not exist or may require 'docker login': {}",
               r.familiar_name(), msg);
        throw;
      }
    }();
    any_new = any_new || res.new_image;
    if (progress) progress({"", "Digest: " + res.digest.str()});
    engine_.events().publish({"image", "pull", r.familiar(), {{"name", r.familiar_name()}}, 0});
  }
  Reference shown = all_tags ? ref : targets.front();
  if (progress)
    progress({"", std::string(any_new ? "Status: Downloaded newer image for " : "Status: Image is up to date for ") +
                      shown.familiar()});
  return shown.familiar();
}

void Distribution::push(const std::string& reference, const registry::AuthConfig& auth,
                        const registry::ProgressFn& progress) {
  Reference ref = image::parse_reference(reference);
  if (ref.digest) fail("push {}: cannot push a digest reference", reference);
  // As dockerd: the stream opens with the repository, then any error.
  if (progress) progress({"", "The push refers to repository [" + ref.familiar_name() + "]"});
  std::vector<std::pair<Reference, image::ImageRecord>> targets;
  if (ref.tag) {
    auto img = engine_.images().find(ref.str());
    if (!img) fail("An image does not exist locally with the tag: {}", ref.familiar_name());
    targets.push_back({ref, *img});
  } else {
    for (const auto& img : engine_.images().list()) {
      for (const auto& t : img.repo_tags) {
        Reference r = image::parse_reference(t);
        if (r.name() == ref.name()) targets.push_back({r, img});
      }
    }
    if (targets.empty()) fail("An image does not exist locally with the tag: {}", ref.familiar_name());
  }
  registry::Repository repo = repository(ref, auth, true);
  for (const auto& [r, img] : targets) {
    // Errors name the layer or the registry's complaint, as dockerd's do.
    registry::PushOptions opts;
    opts.max_concurrent_uploads = limits_.max_concurrent_uploads;
    registry::push_image(repo, r, img, stores(), opts, progress);
    engine_.events().publish({"image", "push", r.familiar(), {{"name", r.familiar_name()}}, 0});
  }
}

std::string Distribution::login(const std::string& server, const registry::AuthConfig& auth) {
  std::string host = server;
  for (const char* prefix : {"https://", "http://"})
    if (host.starts_with(prefix)) host = host.substr(std::string(prefix).size());
  host = host.substr(0, host.find('/'));
  if (host.empty() || host == "index.docker.io") host = "docker.io";
  // Any repository name will do: /v2/ with credentials decides.
  registry::Repository repo(http_, registry::endpoints_for(host, config_, true), "library/login-check", auth, false);
  return repo.login();
}

std::vector<registry::SearchResult> Distribution::search(const std::string& term, int limit,
                                                        const registry::AuthConfig& auth) {
  return registry::search_index(http_, config_, registry::search_target(term), limit, auth);
}

Distribution::RemoteInfo Distribution::inspect(const std::string& reference, const registry::AuthConfig& auth) {
  Reference ref = image::with_default_tag(image::parse_reference(reference));
  registry::Repository repo = repository(ref, auth, false);
  registry::FetchedManifest m = repo.get_manifest(ref.digest ? *ref.digest : *ref.tag);
  nlohmann::json doc = image::parse_json_document(m.bytes, "manifest " + m.digest.str());
  std::string type = image::manifest_media_type(doc, m.media_type);
  RemoteInfo out{{type, m.digest, m.bytes.size()}, {}};
  if (image::is_index_media_type(type)) {
    for (const auto& d : image::index_entries(doc, "manifest " + m.digest.str()))
      if (d.platform.is_object() && !d.platform.empty()) out.platforms.push_back(d.platform);
  } else if (image::is_image_manifest_media_type(type)) {
    image::ImageManifest im = image::parse_image_manifest(doc, type, "manifest " + m.digest.str());
    std::string config;
    repo.fetch_blob(im.config.digest, 0, [&](std::string_view d) { config.append(d); }, {});
    nlohmann::json c = image::parse_json_document(config, "config " + im.config.digest.str());
    nlohmann::json p = {{"architecture", c.value("architecture", "")}, {"os", c.value("os", "")}};
    if (c.contains("variant")) p["variant"] = c["variant"];
    out.platforms.push_back(p);
  }
  return out;
}

}  // namespace berth::engine
