#include "image/archive.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"
#include "image/import.h"
#include "image/test_util.h"

namespace berth::image {
namespace {

using berth::test::count_entries;
using berth::test::error_of;
using testing::add_image;
using testing::build_tar;
using testing::Compression;
using testing::Stores;
using testing::TarEntry;
using testing::TempDir;

// Every regular file of a tar (symlinks as "-> target"), by name.
std::map<std::string, std::string> read_tar(const std::string& bytes) {
  std::map<std::string, std::string> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, bytes.data(), bytes.size()) != ARCHIVE_OK) fail("open: {}", archive_error_string(a));
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e), data;
    if (archive_entry_filetype(e) == AE_IFDIR) {
      out[name] = "<dir>";
      continue;
    }
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
    out[name] = data;
  }
  archive_read_free(a);
  return out;
}

std::string save(Stores& s, const std::vector<std::string>& names, const TempDir& t) {
  std::string path = t / "out.tar";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  save_archive(s.images, s.content, names, fd.get());
  return read_file(path);
}

LoadResult load(Stores& s, const std::string& bytes, const TempDir& t) {
  write_file(t / "in.tar", bytes);
  UniqueFd fd(::open((t / "in.tar").c_str(), O_RDONLY | O_CLOEXEC));
  return load_archive(s.content, s.snapshots, s.images, fd.get());
}

// Nothing stored and no extraction left over.
void expect_untouched(const std::string& root, Stores& s) {
  EXPECT_EQ(count_entries(root + "/content/blobs/sha256"), 0);
  EXPECT_EQ(count_entries(root + "/snapshots"), 0);
  EXPECT_EQ(count_entries(root + "/tmp"), 0);
  EXPECT_TRUE(s.images.list().empty());
}

const std::vector<TarEntry> kBase = {{.name = "bin", .type = 'd', .mode = 0755},
                                     {.name = "bin/sh", .data = "#!static", .mode = 0755}};
const std::vector<TarEntry> kApp = {{.name = "app/run", .data = "echo hi", .mode = 0755}};

TEST(Archive, SaveWritesDockerAndOciLayouts) {
  TempDir t;
  Stores s(t / "a");
  // Second layer stored gzip-compressed: the archive must carry it uncompressed.
  ImageRecord img = add_image(s, {kBase, kApp}, {}, Compression::gzip);
  s.images.tag(img.id, "busybox");
  s.images.tag(img.id, "busybox:1");
  s.images.tag(img.id, "other:x");
  auto files = read_tar(save(s, {"busybox"}, t));

  std::string plain_base = build_tar(kBase), plain_app = build_tar(kApp);
  std::string hex_id(img.id.hex()), hex0(img.diff_ids[0].hex()), hex1(img.diff_ids[1].hex());
  EXPECT_EQ(files.at("blobs/sha256/" + hex0), plain_base);
  EXPECT_EQ(files.at("blobs/sha256/" + hex1), plain_app);
  EXPECT_EQ(files.at("blobs/sha256/" + hex_id), s.content.read(img.id));
  EXPECT_EQ(files.at("oci-layout"), R"({"imageLayoutVersion":"1.0.0"})");

  nlohmann::json manifest = nlohmann::json::parse(files.at("manifest.json"));
  ASSERT_EQ(manifest.size(), 1u);
  EXPECT_EQ(manifest[0]["Config"], "blobs/sha256/" + hex_id);
  // "busybox" saves every tag of the repository, and no other.
  EXPECT_EQ(manifest[0]["RepoTags"], nlohmann::json({"busybox:1", "busybox:latest"}));
  EXPECT_EQ(manifest[0]["Layers"], nlohmann::json({"blobs/sha256/" + hex0, "blobs/sha256/" + hex1}));

  nlohmann::json index = nlohmann::json::parse(files.at("index.json"));
  EXPECT_EQ(index["mediaType"], "application/vnd.oci.image.index.v1+json");
  ASSERT_EQ(index["manifests"].size(), 2u);
  auto desc = index["manifests"][1];
  EXPECT_EQ(desc["annotations"]["io.containerd.image.name"], "docker.io/library/busybox:latest");
  EXPECT_EQ(desc["annotations"]["org.opencontainers.image.ref.name"], "latest");
  EXPECT_EQ(index["manifests"][0]["digest"], desc["digest"]);  // one manifest, named twice
  std::string mbytes = files.at("blobs/sha256/" + std::string(Digest::parse(desc["digest"].get<std::string>()).hex()));
  EXPECT_EQ(sha256_of(mbytes).str(), desc["digest"]);
  EXPECT_EQ(desc["size"], mbytes.size());
  nlohmann::json m = nlohmann::json::parse(mbytes);
  EXPECT_EQ(m["config"]["digest"], img.id.str());
  EXPECT_EQ(m["layers"][1]["digest"], img.diff_ids[1].str());
  EXPECT_EQ(m["layers"][1]["size"], plain_app.size());
  EXPECT_EQ(m["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
  nlohmann::json repos = nlohmann::json::parse(files.at("repositories"));
  EXPECT_TRUE(repos["busybox"].contains("latest"));
  EXPECT_TRUE(repos["busybox"].contains("1"));
}

TEST(Archive, SaveByIdOrTagSelectsTags) {
  TempDir t;
  Stores s(t / "a");
  ImageRecord img = add_image(s, {kBase});
  s.images.tag(img.id, "app:1");
  s.images.tag(img.id, "app:2");
  auto by_id = read_tar(save(s, {std::string(img.id.hex()).substr(0, 10)}, t));
  nlohmann::json m = nlohmann::json::parse(by_id.at("manifest.json"));
  EXPECT_TRUE(m[0]["RepoTags"].is_null());
  EXPECT_FALSE(nlohmann::json::parse(by_id.at("index.json"))["manifests"][0].contains("annotations"));
  EXPECT_EQ(by_id.count("repositories"), 0u);
  auto by_tag = read_tar(save(s, {"app:2", img.id.str()}, t));  // same image twice: one entry
  m = nlohmann::json::parse(by_tag.at("manifest.json"));
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["RepoTags"], nlohmann::json({"app:2"}));
  EXPECT_EQ(error_of([&] { save(s, {"nothere:1"}, t); }), "No such image: nothere:1");
}

TEST(Archive, SaveThenLoadRoundTrips) {
  TempDir t;
  Stores a(t / "a");
  ImageRecord one = add_image(a, {kBase, kApp}, {}, Compression::zstd);
  ImageRecord two = add_image(a, {kBase}, {{"comment", "two"}});
  a.images.tag(one.id, "user/app:1");
  std::string tar = save(a, {"user/app:1", std::string(two.id.hex())}, t);

  Stores b(t / "b");
  LoadResult r = load(b, tar, t);
  ASSERT_EQ(r.images.size(), 2u);
  EXPECT_EQ(r.images[0].id, one.id);
  EXPECT_EQ(r.images[0].tags, std::vector<std::string>{"user/app:1"});
  EXPECT_EQ(r.messages(), (std::vector<std::string>{"Loaded image: user/app:1", "Loaded image ID: " + two.id.str()}));
  ImageRecord got = b.images.resolve("user/app:1");
  EXPECT_EQ(got.diff_ids, one.diff_ids);
  EXPECT_EQ(got.layers[1].media_type, "application/vnd.docker.image.rootfs.diff.tar");  // uncompressed in the archive
  EXPECT_EQ(read_file(b.snapshots.fs_path(got.chain_ids()[1]) + "/app/run"), "echo hi");
  EXPECT_EQ(b.images.config(one.id), a.images.config(one.id));
  EXPECT_EQ(b.images.get(two.id).repo_tags, std::vector<std::string>{});
  EXPECT_EQ(count_entries(t / "b/tmp"), 0);
  // Loading again changes nothing and still reports the images.
  EXPECT_EQ(load(b, tar, t).images.size(), 2u);
  EXPECT_EQ(b.images.list().size(), 2u);
}

TEST(Archive, ImportedImageSavesAndLoads) {
  TempDir t;
  Stores a(t / "a");
  write_file(t / "rootfs.tar.gz", build_tar(kBase, Compression::gzip));
  UniqueFd fd(::open((t / "rootfs.tar.gz").c_str(), O_RDONLY));
  ImageRecord img = import_rootfs(a.content, a.snapshots, a.images, fd.get(), {.reference = "imported"});
  Stores b(t / "b");
  LoadResult r = load(b, save(a, {"imported"}, t), t);
  EXPECT_EQ(r.messages(), std::vector<std::string>{"Loaded image: imported:latest"});
  EXPECT_EQ(b.images.resolve("imported").id, img.id);
}

// An OCI image layout as other tools write it: gzip layer, nested index.
TEST(Archive, LoadsOciLayout) {
  TempDir t;
  std::string plain = build_tar(kBase), gz = build_tar(kBase, Compression::gzip);
  Digest layer = sha256_of(gz), diff = sha256_of(plain);
  std::string config = nlohmann::json({{"architecture", host_architecture()},
                                       {"os", "linux"},
                                       {"rootfs", {{"type", "layers"}, {"diff_ids", {diff.str()}}}}})
                           .dump();
  Digest cfg = sha256_of(config);
  std::string manifest =
      nlohmann::json({{"schemaVersion", 2},
                      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                      {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", cfg.str()}, {"size", config.size()}}},
                      {"layers", {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"}, {"digest", layer.str()}, {"size", gz.size()}}}}})
          .dump();
  Digest man = sha256_of(manifest);
  std::string nested = nlohmann::json({{"schemaVersion", 2},
                                       {"mediaType", "application/vnd.oci.image.index.v1+json"},
                                       {"manifests",
                                        {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                          {"digest", sha256_of("elsewhere").str()},
                                          {"size", 1},
                                          {"platform", {{"os", "linux"}, {"architecture", "not-this-one"}}}},
                                         {{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                          {"digest", man.str()},
                                          {"size", manifest.size()},
                                          {"platform", {{"os", "linux"}, {"architecture", host_architecture()}}}}}}})
                           .dump();
  Digest nest = sha256_of(nested);
  std::string index = nlohmann::json({{"schemaVersion", 2},
                                      {"manifests",
                                       {{{"mediaType", "application/vnd.oci.image.index.v1+json"},
                                         {"digest", nest.str()},
                                         {"size", nested.size()},
                                         {"annotations", {{"org.opencontainers.image.ref.name", "quay.io/ns/tool:2"}}}}}}})
                          .dump();
  auto blob = [](const Digest& d, const std::string& data) {
    return TarEntry{.name = "blobs/sha256/" + std::string(d.hex()), .data = data};
  };
  std::string tar = build_tar({{.name = "oci-layout", .data = R"({"imageLayoutVersion":"1.0.0"})"},
                               {.name = "index.json", .data = index},
                               blob(layer, gz), blob(cfg, config), blob(man, manifest), blob(nest, nested)});
  Stores s(t / "s");
  LoadResult r = load(s, tar, t);
  EXPECT_EQ(r.messages(), std::vector<std::string>{"Loaded image: quay.io/ns/tool:2"});
  ImageRecord img = s.images.resolve("quay.io/ns/tool:2");
  EXPECT_EQ(img.id, cfg);
  EXPECT_EQ(img.manifest_digest, man);
  EXPECT_EQ(img.layers[0].digest, layer);  // kept compressed, exactly as in the layout
  EXPECT_EQ(img.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
  EXPECT_EQ(s.content.read(man), manifest);
  EXPECT_EQ(read_file(s.snapshots.fs_path(img.chain_ids()[0]) + "/bin/sh"), "#!static");

  // The same layout compressed with zstd, and a bare tag as ref.name (no repository): untagged.
  std::string index2 = nlohmann::json({{"schemaVersion", 2},
                                       {"manifests",
                                        {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                          {"digest", man.str()},
                                          {"size", manifest.size()},
                                          {"annotations", {{"org.opencontainers.image.ref.name", "latest"}}}}}}})
                           .dump();
  Stores s2(t / "s2");
  LoadResult r2 = load(s2,
                       build_tar({{.name = "oci-layout", .data = R"({"imageLayoutVersion":"1.0.0"})"},
                                  {.name = "index.json", .data = index2},
                                  blob(layer, gz), blob(cfg, config), blob(man, manifest)},
                                 Compression::zstd),
                       t);
  EXPECT_EQ(r2.messages(), std::vector<std::string>{"Loaded image ID: " + cfg.str()});
}

// docker < 25: <v1 id>/layer.tar (duplicates as symlinks), <hex>.json configs.
TEST(Archive, LoadsOldDockerLayoutWithLinkedLayers) {
  TempDir t;
  std::string base = build_tar(kBase);
  Digest diff = sha256_of(base);
  auto config_of = [&](const std::string& comment) {
    return nlohmann::json({{"os", "linux"}, {"comment", comment}, {"rootfs", {{"type", "layers"}, {"diff_ids", {diff.str()}}}}}).dump();
  };
  std::string c1 = config_of("one"), c2 = config_of("two");
  Digest d1 = sha256_of(c1), d2 = sha256_of(c2);
  std::string manifest = nlohmann::json({{{"Config", std::string(d1.hex()) + ".json"}, {"RepoTags", {"one:latest"}}, {"Layers", {"aaa/layer.tar"}}},
                                         {{"Config", std::string(d2.hex()) + ".json"}, {"RepoTags", nullptr}, {"Layers", {"bbb/layer.tar"}}}})
                             .dump();
  std::string tar = build_tar({{.name = "aaa/", .type = 'd', .mode = 0755},
                               {.name = "aaa/layer.tar", .data = base},
                               {.name = "aaa/VERSION", .data = "1.0"},
                               {.name = "bbb/", .type = 'd', .mode = 0755},
                               {.name = "bbb/layer.tar", .type = 'l', .link = "../aaa/layer.tar"},
                               {.name = std::string(d1.hex()) + ".json", .data = c1},
                               {.name = std::string(d2.hex()) + ".json", .data = c2},
                               {.name = "manifest.json", .data = manifest},
                               {.name = "repositories", .data = R"({"one":{"latest":"aaa"}})"}});
  Stores s(t / "s");
  LoadResult r = load(s, tar, t);
  EXPECT_EQ(r.messages(), (std::vector<std::string>{"Loaded image: one:latest", "Loaded image ID: " + d2.str()}));
  EXPECT_EQ(s.images.get(d2).layers[0].digest, diff);
  EXPECT_EQ(count_entries(t / "s/snapshots"), 1);
}

// ------------------------------------------------------------ bad input

// A valid docker-archive (blobs layout) with one image, parts replaceable.
struct Parts {
  std::string layer = build_tar(kBase);
  std::string config;
  std::string manifest;
  std::vector<TarEntry> extra;
  Parts() {
    config = nlohmann::json({{"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", {sha256_of(layer).str()}}}}}).dump();
    manifest = nlohmann::json({{{"Config", "blobs/sha256/" + std::string(sha256_of(config).hex())},
                                {"RepoTags", {"ok:1"}},
                                {"Layers", {"blobs/sha256/" + std::string(sha256_of(layer).hex())}}}})
                   .dump();
  }
  std::string tar() const {
    std::vector<TarEntry> e = {{.name = "blobs/sha256/" + std::string(sha256_of(layer).hex()), .data = layer},
                               {.name = "blobs/sha256/" + std::string(sha256_of(config).hex()), .data = config},
                               {.name = "manifest.json", .data = manifest}};
    e.insert(e.end(), extra.begin(), extra.end());
    return build_tar(e);
  }
};

TEST(Archive, ValidPartsLoad) {
  TempDir t;
  Stores s(t / "s");
  EXPECT_EQ(load(s, Parts().tar(), t).messages(), std::vector<std::string>{"Loaded image: ok:1"});
}

TEST(Archive, MalformedManifestJson) {
  TempDir t;
  Stores s(t / "s");
  for (auto [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"{not json", "load: invalid manifest.json: "},
           {"{}", "load: invalid manifest.json: not an array"},
           {R"([{"Config": 3, "Layers": []}])", "load: invalid manifest.json: entry 0: Config must be a string"},
           {R"([{"Config": "x", "Layers": "no"}])", "load: invalid manifest.json: entry 0: Layers must be an array"},
           {R"([{"Config": "missing.json", "Layers": []}])", "load: missing.json: not found in the archive"},
       }) {
    Parts p;
    p.manifest = text;
    EXPECT_TRUE(error_of([&] { load(s, p.tar(), t); }).starts_with(want)) << text;
  }
  Parts p;
  p.manifest = nlohmann::json({{{"Config", "blobs/sha256/" + std::string(sha256_of(p.config).hex())},
                                {"RepoTags", {"Bad:1"}},
                                {"Layers", {"blobs/sha256/" + std::string(sha256_of(p.layer).hex())}}}})
                   .dump();
  EXPECT_EQ(error_of([&] { load(s, p.tar(), t); }), "load: invalid reference format: repository name must be lowercase");
  expect_untouched(t / "s", s);
}

TEST(Archive, WrongDigestsAreRefused) {
  TempDir t;
  Stores s(t / "s");
  {  // config bytes that do not hash to their name
    Parts p;
    std::string real = p.config;
    p.config += " ";
    p.manifest = nlohmann::json({{{"Config", "blobs/sha256/" + std::string(sha256_of(real).hex())},
                                  {"Layers", {"blobs/sha256/" + std::string(sha256_of(p.layer).hex())}}}})
                     .dump();
    p.extra.push_back({.name = "blobs/sha256/" + std::string(sha256_of(real).hex()), .data = p.config});
    EXPECT_EQ(error_of([&] { load(s, p.tar(), t); }),
              "load: config blobs/sha256/" + std::string(sha256_of(real).hex()) + ": digest mismatch (got " +
                  sha256_of(p.config).str() + ")");
  }
  {  // a layer whose content is not the config's diff_id: stored blob rolled back
    Parts p;
    std::string other = build_tar(kApp);
    p.config = nlohmann::json({{"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", {sha256_of(other).str()}}}}}).dump();
    p.manifest = nlohmann::json({{{"Config", "blobs/sha256/" + std::string(sha256_of(p.config).hex())},
                                  {"Layers", {"layer.tar"}}}})
                     .dump();
    p.extra.push_back({.name = "layer.tar", .data = p.layer});
    std::string err = error_of([&] { load(s, p.tar(), t); });
    EXPECT_EQ(err, "load: layer layer.tar: diff_id mismatch: expected " + sha256_of(other).str() + ", got " +
                       sha256_of(p.layer).str());
  }
  {  // a layer under a blobs/ name that is not its digest
    Parts p;
    std::string wrong = "blobs/sha256/" + std::string(64, 'e');
    p.manifest = nlohmann::json({{{"Config", "blobs/sha256/" + std::string(sha256_of(p.config).hex())},
                                  {"Layers", {wrong}}}})
                     .dump();
    p.extra.push_back({.name = wrong, .data = p.layer});
    EXPECT_EQ(error_of([&] { load(s, p.tar(), t); }),
              "load: layer " + wrong + ": digest mismatch (got " + sha256_of(p.layer).str() + ")");
  }
  expect_untouched(t / "s", s);
}

TEST(Archive, MissingLayerAndCountMismatch) {
  TempDir t;
  Stores s(t / "s");
  Parts p;
  p.manifest = nlohmann::json({{{"Config", "blobs/sha256/" + std::string(sha256_of(p.config).hex())},
                                {"Layers", {"gone/layer.tar"}}}})
                   .dump();
  EXPECT_EQ(error_of([&] { load(s, p.tar(), t); }), "load: gone/layer.tar: not found in the archive");
  p.manifest = nlohmann::json({{{"Config", "blobs/sha256/" + std::string(sha256_of(p.config).hex())}, {"Layers", nlohmann::json::array()}}}).dump();
  EXPECT_EQ(error_of([&] { load(s, p.tar(), t); }),
            "load: image " + sha256_of(p.config).short_str() + ": manifest.json lists 0 layers, config has 1 diff_ids");
  expect_untouched(t / "s", s);
}

TEST(Archive, EscapingEntriesAreRefused) {
  TempDir t;
  Stores s(t / "s");
  for (auto [entry, want] : std::vector<std::pair<TarEntry, std::string>>{
           {{.name = "../evil", .data = "x"}, "load: entry ../evil: path escapes the archive"},
           {{.name = "a/../../evil", .data = "x"}, "load: entry a/../../evil: path escapes the archive"},
           {{.name = "/abs", .data = "x"}, "load: entry /abs: absolute path"},
           {{.name = "ln", .type = 'l', .link = "../../etc"}, "load: entry ln: symlink target ../../etc escapes the archive"},
           {{.name = "ln", .type = 'l', .link = "/etc/passwd"}, "load: entry ln: symlink target /etc/passwd escapes the archive"},
           {{.name = "dev", .type = 'c', .rdev_major = 1, .rdev_minor = 3},
            "load: entry dev: unsupported entry type (only files, directories and links)"},
       }) {
    Parts p;
    p.extra.push_back(entry);
    EXPECT_EQ(error_of([&] { load(s, p.tar(), t); }), want);
  }
  EXPECT_FALSE(path_exists(t / "evil"));
  EXPECT_FALSE(path_exists(t / "s/evil"));
  expect_untouched(t / "s", s);
}

TEST(Archive, ManifestPathsStayInsideTheArchive) {
  TempDir t;
  Stores s(t / "s");
  write_file(t / "s/secret.json", "{}");
  Parts p;
  p.manifest = R"([{"Config": "../secret.json", "Layers": []}])";
  EXPECT_EQ(error_of([&] { load(s, p.tar(), t); }), "load: ../secret.json: path escapes the archive");
  // A symlink inside the archive pointing inside is fine, but resolution never leaves it.
  p.manifest = R"([{"Config": "link/secret.json", "Layers": []}])";
  p.extra.push_back({.name = "link", .type = 'l', .link = "."});
  EXPECT_EQ(error_of([&] { load(s, p.tar(), t); }), "load: link/secret.json: not found in the archive");
}

TEST(Archive, AllOrNothingAcrossImages) {
  TempDir t;
  Stores s(t / "s");
  Parts p;  // first image fine, second one has a corrupt layer
  std::string bad_layer = build_tar(kApp);
  std::string c2 = nlohmann::json({{"os", "linux"}, {"rootfs", {{"type", "layers"}, {"diff_ids", {sha256_of("nope").str()}}}}}).dump();
  nlohmann::json m = nlohmann::json::parse(p.manifest);
  m.push_back({{"Config", "c2.json"}, {"RepoTags", {"two:1"}}, {"Layers", {"l2.tar"}}});
  p.manifest = m.dump();
  p.extra.push_back({.name = "c2.json", .data = c2});
  p.extra.push_back({.name = "l2.tar", .data = bad_layer});
  EXPECT_NE(error_of([&] { load(s, p.tar(), t); }).find("diff_id mismatch"), std::string::npos);
  EXPECT_EQ(s.images.find("ok:1"), std::nullopt);
  expect_untouched(t / "s", s);
}

TEST(Archive, NotAnArchive) {
  TempDir t;
  Stores s(t / "s");
  EXPECT_TRUE(error_of([&] { load(s, std::string(4096, 'z'), t); }).starts_with("load: "));
  EXPECT_EQ(error_of([&] { load(s, build_tar({{.name = "hello", .data = "x"}}), t); }),
            "load: archive has neither manifest.json nor index.json (not a docker-archive or OCI layout)");
  expect_untouched(t / "s", s);
}

}  // namespace
}  // namespace berth::image
