#include "image/image_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"
#include "image/test_util.h"

namespace berth::image {
namespace {

using berth::test::count_entries;
using berth::test::error_of;
using testing::add_image;
using testing::Stores;
using testing::TempDir;

TEST(ImageStore, ResolvesReferencesIdsAndPrefixes) {
  TempDir t;
  Stores s(t.path());
  ImageRecord img = add_image(s, {{{.name = "bin/sh", .data = "#!"}}});
  s.images.tag(img.id, "busybox");
  s.images.tag(img.id, "localhost:5000/x:1");
  std::string hex(img.id.hex());
  for (std::string name : {std::string("busybox"), std::string("busybox:latest"),
                           std::string("docker.io/library/busybox:latest"), std::string("localhost:5000/x:1"),
                           img.id.str(), hex, hex.substr(0, 12), "sha256:" + hex.substr(0, 5), hex.substr(0, 1)}) {
    EXPECT_EQ(s.images.resolve(name).id, img.id) << name;
  }
  ImageRecord r = s.images.resolve("busybox");
  EXPECT_EQ(r.repo_tags, (std::vector<std::string>{"busybox:latest", "localhost:5000/x:1"}));
  EXPECT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.diff_ids.size(), 1u);
  EXPECT_FALSE(r.added.empty());
  EXPECT_EQ(error_of([&] { s.images.resolve("busybox:1"); }), "No such image: busybox:1");
  EXPECT_EQ(error_of([&] { s.images.resolve("nothere"); }), "No such image: nothere");
  EXPECT_EQ(s.images.find("nothere"), std::nullopt);
  EXPECT_EQ(error_of([&] { s.images.resolve("Bad"); }), "invalid reference format: repository name must be lowercase");
  Digest other = sha256_of("other");
  EXPECT_EQ(error_of([&] { s.images.resolve(other.str()); }), "No such image: " + other.str());
  EXPECT_EQ(error_of([&] { s.images.get(other); }), "No such image: " + other.str());
  EXPECT_EQ(s.images.config(img.id)["os"], "linux");
}

TEST(ImageStore, AmbiguousIdPrefixIsAnError) {
  TempDir t;
  Stores s(t.path());
  // Layerless images with differing configs until two IDs share a first digit
  // (at most 17 by pigeonhole).
  std::map<char, Digest> by_first;
  std::string shared;
  for (int i = 0; shared.empty(); ++i) {
    ImageRecord r = add_image(s, {}, {{"comment", std::to_string(i)}});
    char c = r.id.hex()[0];
    if (by_first.count(c)) shared = std::string(1, c);
    by_first.emplace(c, r.id);
  }
  EXPECT_EQ(error_of([&] { s.images.resolve(shared); }), "ambiguous image ID prefix " + shared);
  EXPECT_THROW(s.images.find("sha256:" + shared), Error);
  // A longer prefix that is unique still resolves.
  Digest first = by_first.at(shared[0]);
  EXPECT_EQ(s.images.resolve(std::string(first.hex())).id, first);
}

TEST(ImageStore, TagsMoveAndPersist) {
  TempDir t;
  Digest a_id = sha256_of(""), b_id = sha256_of("");
  std::string hex(64, 'a');
  {
    Stores s(t.path());
    ImageRecord a = add_image(s, {{{.name = "a", .data = "a"}}});
    ImageRecord b = add_image(s, {{{.name = "b", .data = "b"}}});
    a_id = a.id;
    b_id = b.id;
    s.images.tag(a.id, "app:1");
    s.images.tag(a.id, "app");
    s.images.tag(b.id, "app");  // moves app:latest to b
    EXPECT_EQ(s.images.get(a.id).repo_tags, std::vector<std::string>{"app:1"});
    EXPECT_EQ(s.images.get(b.id).repo_tags, std::vector<std::string>{"app:latest"});
    s.images.tag(b.id, "user/app@sha256:" + hex);
    EXPECT_EQ(s.images.get(b.id).repo_digests, std::vector<std::string>{"user/app@sha256:" + hex});
    EXPECT_EQ(s.images.resolve("user/app@sha256:" + hex).id, b.id);
    // Tag plus digest resolves by the digest.
    EXPECT_EQ(s.images.resolve("user/app:whatever@sha256:" + hex).id, b.id);
    EXPECT_EQ(error_of([&] { s.images.tag(a.id, "x:1@sha256:" + hex); }),
              "refusing to create a tag with a digest reference: x:1@sha256:" + hex);
    EXPECT_EQ(error_of([&] { s.images.tag(sha256_of("none"), "x"); }), "No such image: " + sha256_of("none").str());
    EXPECT_THROW(s.images.tag(a.id, "x:-bad"), Error);
    // Adding an existing image again keeps its tags.
    EXPECT_EQ(s.images.add(a.id, a.layers).repo_tags, std::vector<std::string>{"app:1"});
  }
  Stores s(t.path());  // a second process reads the same files
  EXPECT_EQ(s.images.list().size(), 2u);
  EXPECT_EQ(s.images.resolve("app:1").id, a_id);
  EXPECT_EQ(s.images.resolve("app").id, b_id);
  EXPECT_TRUE(s.images.untag("app:1"));
  EXPECT_FALSE(s.images.untag("app:1"));
  EXPECT_TRUE(s.images.untag("docker.io/library/app"));
  EXPECT_EQ(s.images.find("app"), std::nullopt);
  EXPECT_TRUE(s.images.get(a_id).repo_tags.empty());
}

TEST(ImageStore, RemoveKeepsWhatOthersUse) {
  TempDir t;
  Stores s(t.path());
  std::vector<testing::TarEntry> base = {{.name = "etc/os-release", .data = "base"}};
  ImageRecord one = add_image(s, {base, {{.name = "one", .data = "1"}}});
  ImageRecord two = add_image(s, {base, {{.name = "two", .data = "2"}}}, {}, testing::Compression::gzip);
  ImageRecord three = add_image(s, {base});
  s.images.tag(one.id, "one");
  EXPECT_EQ(count_entries(t / "snapshots"), 3);  // base (shared by all three), one, two
  s.images.remove(one.id);
  EXPECT_EQ(s.images.find("one"), std::nullopt);
  EXPECT_EQ(s.images.find(std::string(one.id.hex())), std::nullopt);
  EXPECT_FALSE(s.content.exists(one.id));
  EXPECT_FALSE(s.content.exists(one.layers[1].digest));
  EXPECT_TRUE(s.content.exists(one.layers[0].digest));  // three uses the same plain base blob
  EXPECT_FALSE(s.snapshots.exists(one.chain_ids()[1]));
  EXPECT_TRUE(s.snapshots.exists(one.chain_ids()[0]));
  EXPECT_TRUE(s.snapshots.exists(two.chain_ids()[1]));
  EXPECT_EQ(error_of([&] { s.images.remove(one.id); }), "No such image: " + one.id.str());
  s.images.remove(three.id);
  EXPECT_FALSE(s.content.exists(one.layers[0].digest));   // plain base blob: nobody left
  EXPECT_TRUE(s.snapshots.exists(one.chain_ids()[0]));    // two still stacks on the base snapshot
  s.images.remove(two.id);
  EXPECT_EQ(count_entries(t / "snapshots"), 0);
  EXPECT_EQ(count_entries(t / "content/blobs/sha256"), 0);
  EXPECT_TRUE(s.images.list().empty());
  Stores again(t.path());
  EXPECT_TRUE(again.images.list().empty());
}

TEST(ImageStore, SizeSumsRegularFilesOnce) {
  TempDir t;
  Stores s(t.path());
  ImageRecord img = add_image(s, {{{.name = "d", .type = 'd', .mode = 0755},
                                   {.name = "d/big", .data = std::string(10000, 'x')},
                                   {.name = "d/hard", .type = 'h', .link = "d/big"},
                                   {.name = "link", .type = 'l', .link = "d/big"}},
                                  {{.name = "small", .data = "12345"}}});
  EXPECT_EQ(s.images.size(img.id), 10005u);
  EXPECT_EQ(s.images.size(img.id), 10005u);  // cached
  EXPECT_THROW(s.images.size(sha256_of("x")), Error);
}

TEST(ImageStore, AddChecksItsInputs) {
  TempDir t;
  Stores s(t.path());
  ImageRecord img = add_image(s, {{{.name = "a", .data = "a"}}});
  Digest cfg = s.content.put(R"({"rootfs":{"type":"layers","diff_ids":[]}})");
  EXPECT_EQ(error_of([&] { s.images.add(cfg, img.layers); }),
            "add image " + cfg.short_str() + ": 1 layers given, config lists 0 diff_ids");
  Digest missing = sha256_of("missing");
  EXPECT_EQ(error_of([&] { s.images.add(missing, {}); }),
            "add image " + missing.short_str() + ": blob " + missing.str() + ": not found");
  Digest diff = sha256_of("not a snapshot");
  Digest cfg2 = s.content.put(R"({"rootfs":{"type":"layers","diff_ids":[")" + diff.str() + R"("]}})");
  EXPECT_EQ(error_of([&] { s.images.add(cfg2, img.layers); }),
            "add image " + cfg2.short_str() + ": snapshot " + diff.str() + " is not prepared");
  Digest cfg3 = s.content.put("not json");
  EXPECT_NE(error_of([&] { s.images.add(cfg3, {}); }).find("add image " + cfg3.short_str() + ": config:"),
            std::string::npos);
  EXPECT_EQ(s.images.list().size(), 1u);
}

// A step that changes only the config (ENV, CMD in a build): the parent's
// layers under a config of its own, recorded as the parent's child.
ImageRecord add_child(Stores& s, const ImageRecord& parent, const std::string& step) {
  nlohmann::json cfg = s.images.config(parent.id);
  cfg["comment"] = step;
  return s.images.add(s.content.put(cfg.dump()), parent.layers, std::nullopt, parent.id);
}

TEST(ImageStore, ParentsPersistAndNameChildren) {
  TempDir t;
  Digest base_id = sha256_of(""), a_id = base_id, b_id = base_id, c_id = base_id;
  {
    Stores s(t.path());
    ImageRecord base = add_image(s, {{{.name = "a", .data = "a"}}});
    ImageRecord a = add_child(s, base, "a");
    ImageRecord b = add_child(s, base, "b");
    ImageRecord c = add_child(s, a, "c");
    base_id = base.id, a_id = a.id, b_id = b.id, c_id = c.id;
    EXPECT_EQ(base.parent, std::nullopt);
    EXPECT_EQ(a.parent, base.id);
    EXPECT_EQ(s.images.get(c.id).parent, a.id);
    std::vector<Digest> ab = {a.id, b.id};
    std::sort(ab.begin(), ab.end());
    EXPECT_EQ(s.images.children(base.id), ab);
    EXPECT_EQ(s.images.children(a.id), std::vector<Digest>{c.id});
    EXPECT_TRUE(s.images.children(c.id).empty());
    EXPECT_TRUE(s.images.children(sha256_of("unknown")).empty());
    // Adding an existing image again keeps the parent it was recorded with.
    EXPECT_EQ(s.images.add(a.id, a.layers).parent, base.id);
  }
  // Records without "parent" (all records before parents existed) load as parentless.
  auto base_json = nlohmann::json::parse(read_file(t / ("images/" + std::string(base_id.hex()) + ".json")));
  EXPECT_FALSE(base_json.contains("parent"));
  auto c_json = nlohmann::json::parse(read_file(t / ("images/" + std::string(c_id.hex()) + ".json")));
  EXPECT_EQ(c_json.value("parent", ""), a_id.str());

  Stores s(t.path());
  EXPECT_EQ(s.images.get(base_id).parent, std::nullopt);
  EXPECT_EQ(s.images.get(a_id).parent, base_id);
  EXPECT_EQ(s.images.get(b_id).parent, base_id);
  EXPECT_EQ(s.images.resolve(std::string(c_id.hex())).parent, a_id);
  EXPECT_EQ(s.images.children(base_id).size(), 2u);
  EXPECT_EQ(s.images.children(a_id), std::vector<Digest>{c_id});
}

TEST(ImageStore, AddRefusesUnknownOrSelfParent) {
  TempDir t;
  Stores s(t.path());
  ImageRecord base = add_image(s, {{{.name = "a", .data = "a"}}});
  nlohmann::json cfg = s.images.config(base.id);
  cfg["comment"] = "child";
  Digest child = s.content.put(cfg.dump());
  Digest gone = sha256_of("gone");
  EXPECT_EQ(error_of([&] { s.images.add(child, base.layers, std::nullopt, gone); }),
            "add image " + child.short_str() + ": parent image " + gone.str() + " does not exist");
  EXPECT_EQ(error_of([&] { s.images.add(child, base.layers, std::nullopt, child); }),
            "add image " + child.short_str() + ": an image cannot be its own parent");
  EXPECT_EQ(s.images.list().size(), 1u);
  EXPECT_EQ(s.images.add(child, base.layers, std::nullopt, base.id).parent, base.id);
}

TEST(ImageStore, RemoveOrphansChildren) {
  TempDir t;
  Digest a_id = sha256_of(""), c_id = a_id;
  {
    Stores s(t.path());
    ImageRecord base = add_image(s, {{{.name = "a", .data = "a"}}});
    ImageRecord a = add_child(s, base, "a");
    ImageRecord c = add_child(s, a, "c");
    a_id = a.id, c_id = c.id;
    s.images.remove(a.id);
    EXPECT_EQ(s.images.get(c.id).parent, std::nullopt);
    EXPECT_TRUE(s.images.children(a.id).empty());
    EXPECT_TRUE(s.images.children(base.id).empty());
    // The layers a shared with its parent and child stay.
    EXPECT_TRUE(s.snapshots.exists(c.chain_ids()[0]));
    EXPECT_TRUE(s.content.exists(c.layers[0].digest));
  }
  {
    Stores s(t.path());  // the child's record on disk lost the link too
    EXPECT_EQ(s.images.get(c_id).parent, std::nullopt);
  }
  // A record naming a parent that is not there (copied in by hand, a lost
  // file) loads without the link rather than pointing at nothing.
  std::string path = t / ("images/" + std::string(c_id.hex()) + ".json");
  auto j = nlohmann::json::parse(read_file(path));
  j["parent"] = a_id.str();
  write_file_atomic(path, j.dump());
  Stores s(t.path());
  EXPECT_EQ(s.images.get(c_id).parent, std::nullopt);
}

}  // namespace
}  // namespace berth::image
