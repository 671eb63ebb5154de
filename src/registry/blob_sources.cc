#include "registry/blob_sources.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/fs.h"

namespace berth::registry {

using nlohmann::json;

namespace {

json load(const std::string& file) {
  std::string text;
  if (!read_file_if_exists(file, &text)) return json::object();
  json j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json::object();  // unreadable: start over, it is only a hint
}

}  // namespace

BlobSources::BlobSources(std::string root) : file_(path_join(root, "distribution/blob-sources.json")) {
  mkdir_all(path_join(root, "distribution"));
}

void BlobSources::add(const image::Digest& blob, const std::string& host, const std::string& path) {
  std::lock_guard lock(mu_);
  json all = load(file_);
  json& list = all[blob.str()];
  if (!list.is_array()) list = json::array();
  std::string entry = host + "/" + path;
  json kept = json::array();
  for (const auto& e : list)
    if (e.is_string() && e != entry) kept.push_back(e);
  kept.push_back(entry);
  while (kept.size() > 8) kept.erase(kept.begin());
  list = kept;
  write_file_replace(file_, all.dump());
}

std::vector<std::string> BlobSources::on_host(const image::Digest& blob, const std::string& host,
                                              const std::string& except_path) const {
  std::lock_guard lock(mu_);
  json all = load(file_);
  std::vector<std::string> out;
  auto it = all.find(blob.str());
  if (it == all.end() || !it->is_array()) return out;
  for (auto e = it->rbegin(); e != it->rend(); ++e) {
    if (!e->is_string()) continue;
    std::string s = *e;
    if (!s.starts_with(host + "/")) continue;
    std::string path = s.substr(host.size() + 1);
    if (path != except_path) out.push_back(path);
  }
  return out;
}

}  // namespace berth::registry
