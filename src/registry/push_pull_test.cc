// push_image and pull_image against a real registry (docker-registry).
#include <gtest/gtest.h>

#include <algorithm>

#include "base/fs.h"
#include "image/media_types.h"
#include "image/test_util.h"
#include "registry/pull.h"
#include "registry/push.h"
#include "registry/test_registry.h"

namespace berth::registry {
namespace {

using image::Digest;
using image::testing::add_image;
using image::testing::Compression;
using image::testing::TarEntry;
using nlohmann::json;
using testing::TestRegistry;

struct Local {
  berth::test::TempDir dir;
  image::testing::Stores s{dir.path()};
  BlobSources sources{dir.path()};
  Stores stores() { return Stores{s.content, s.snapshots, s.images, &sources}; }
};

struct Messages {
  std::vector<PullProgress> all;
  ProgressFn fn() {
    return [this](const PullProgress& p) { all.push_back(p); };
  }
  bool has(const std::string& status) const {
    return std::any_of(all.begin(), all.end(), [&](const PullProgress& p) { return p.status == status; });
  }
  bool has_prefix(const std::string& status) const {
    return std::any_of(all.begin(), all.end(), [&](const PullProgress& p) { return p.status.starts_with(status); });
  }
};

class PushPull : public ::testing::Test {
 protected:
  Repository repo(const std::string& path, bool push, AuthConfig auth = {}) {
    return Repository(http_, endpoints_for(reg_.host(), {}, push), path, auth, push);
  }
  image::Reference ref(const std::string& path_tag) { return image::parse_reference(reg_.host() + "/" + path_tag); }

  image::ImageRecord two_layer_image(Local& l, Compression c = Compression::gzip) {
    return add_image(l.s,
                     {{{"bin", 'd', "", "", 0755}, {"bin/hello", 'f', "#!/bin/sh\necho hi\n", "", 0755}},
                      {{"etc", 'd', "", "", 0755}, {"etc/motd", 'f', "welcome\n"}, {"bin/.wh.hello", 'f'}}},
                     {{"config", {{"Env", {"A=1"}}}}}, c);
  }

  PushResult push(Local& l, const image::ImageRecord& img, const std::string& path_tag, PushOptions o = {},
                  Messages* msgs = nullptr) {
    image::Reference r = ref(path_tag);
    Repository rp = repo(r.path, true);
    Messages local;
    return push_image(rp, r, img, l.stores(), o, (msgs ? msgs : &local)->fn());
  }
  PullResult pull(Local& l, const std::string& path_ref, Messages* msgs = nullptr, PullOptions o = {}) {
    image::Reference r = image::with_default_tag(ref(path_ref));
    Repository rp = repo(r.path, false);
    Messages local;
    return pull_image(rp, r, l.stores(), o, (msgs ? msgs : &local)->fn());
  }

  TestRegistry reg_;
  HttpClient http_;
};

TEST_F(PushPull, RoundTripKeepsIdLayersAndContentAndRecordsDigests) {
  Local src, dst;
  image::ImageRecord img = two_layer_image(src);
  Messages pushed;
  PushResult pr = push(src, img, "team/app:v1", {}, &pushed);
  EXPECT_TRUE(pushed.has("Pushed"));
  EXPECT_TRUE(pushed.has_prefix("v1: digest: " + pr.digest.str()));
  EXPECT_EQ(src.s.images.get(img.id).repo_digests,
            std::vector<std::string>{reg_.host() + "/team/app@" + pr.digest.str()});

  Messages pulled;
  PullResult got = pull(dst, "team/app:v1", &pulled);
  EXPECT_TRUE(got.new_image);
  EXPECT_EQ(got.image.id, img.id);
  EXPECT_EQ(got.digest, pr.digest);
  EXPECT_EQ(got.image.diff_ids, img.diff_ids);
  EXPECT_EQ(got.image.repo_tags, std::vector<std::string>{reg_.host() + "/team/app:v1"});
  EXPECT_EQ(got.image.repo_digests, std::vector<std::string>{reg_.host() + "/team/app@" + pr.digest.str()});
  EXPECT_TRUE(pulled.has("Pull complete"));
  EXPECT_TRUE(pulled.has("Download complete"));
  EXPECT_EQ(pulled.all.front().status, "Pulling from team/app");
  // The layers were unpacked into snapshots, whiteouts as overlay whiteouts.
  std::vector<Digest> chain = got.image.chain_ids();
  EXPECT_EQ(read_file(dst.s.snapshots.fs_path(chain[0]) + "/bin/hello"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(read_file(dst.s.snapshots.fs_path(chain[1]) + "/etc/motd"), "welcome\n");
  struct stat st;
  ASSERT_EQ(::lstat((dst.s.snapshots.fs_path(chain[1]) + "/bin/hello").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  // Blobs were stored exactly as pushed (still gzip), with the manifest.
  for (const auto& l : img.layers) EXPECT_EQ(dst.s.content.read(l.digest), src.s.content.read(l.digest));
  EXPECT_TRUE(dst.s.content.exists(pr.digest));

  // Again: nothing to fetch.
  Messages again;
  PullResult second = pull(dst, "team/app:v1", &again);
  EXPECT_FALSE(second.new_image);
  EXPECT_TRUE(again.has("Already exists"));
  EXPECT_FALSE(again.has("Downloading"));

  // By digest, into a third store.
  Local third;
  PullResult by_digest = pull(third, "team/app@" + pr.digest.str());
  EXPECT_EQ(by_digest.image.id, img.id);
  EXPECT_TRUE(by_digest.image.repo_tags.empty());
}

TEST_F(PushPull, PushKeepsTheManifestAnImageWasPulledWith) {
  Local a, b;
  image::ImageRecord img = two_layer_image(a);
  PushResult first = push(a, img, "x/one:1");
  PullResult got = pull(b, "x/one:1");
  // b pushes what it pulled to another name: same manifest digest, and the
  // layers are mounted from x/one rather than uploaded again.
  Messages msgs;
  PushResult second = push(b, got.image, "x/two:1", {}, &msgs);
  EXPECT_EQ(second.digest, first.digest);
  EXPECT_TRUE(msgs.has("Mounted from x/one"));
  EXPECT_FALSE(msgs.has("Pushed"));
  // And once more to the same name: everything already there.
  Messages third;
  push(b, got.image, "x/two:1", {}, &third);
  EXPECT_TRUE(third.has("Layer already exists"));
}

TEST_F(PushPull, ChunkedUploadAndZstdLayers) {
  Local a, b;
  image::ImageRecord img = two_layer_image(a, Compression::zstd);
  PushOptions o;
  o.chunk_size = 100;  // several PATCH requests per layer
  PushResult pr = push(a, img, "z/app:latest", o);
  json m = json::parse(a.s.content.read(pr.digest));
  EXPECT_EQ(m["mediaType"], image::kOciManifest);  // schema2 cannot name zstd
  PullResult got = pull(b, "z/app");
  EXPECT_EQ(got.image.id, img.id);
  EXPECT_EQ(got.image.layers[0].media_type, image::kOciLayerZstd);
  EXPECT_EQ(read_file(b.s.snapshots.fs_path(got.image.chain_ids()[1]) + "/etc/motd"), "welcome\n");
}

TEST_F(PushPull, CorruptBlobInTheRegistryIsRejectedAndNothingIsStored) {
  Local a, b;
  image::ImageRecord img = two_layer_image(a);
  push(a, img, "bad/blob:1");
  const Digest& layer = img.layers[1].digest;
  std::string data = read_file(reg_.blob_data_path(std::string(layer.hex())));
  data[data.size() / 2] ^= 0x55;
  write_file(reg_.blob_data_path(std::string(layer.hex())), data);
  std::string err = berth::test::error_of([&] { pull(b, "bad/blob:1"); });
  EXPECT_NE(err.find(layer.str()), std::string::npos) << err;
  EXPECT_FALSE(b.s.content.exists(layer));
  EXPECT_FALSE(b.s.images.find(reg_.host() + "/bad/blob:1"));
  EXPECT_TRUE(b.s.images.list().empty());
}

TEST_F(PushPull, InterruptedDownloadResumesFromItsPartialBytes) {
  Local a, b;
  image::ImageRecord img = two_layer_image(a);
  push(a, img, "resume/app:1");
  const Digest& layer = img.layers[0].digest;
  std::string blob = a.s.content.read(layer);
  // An earlier attempt left the first bytes, but wrong ones: only a Range
  // request continuing after them can produce a digest mismatch, which
  // drops them and retries from scratch.
  {
    auto w = b.s.content.open_writer(layer);
    w->write(std::string(10, 'x'));
  }
  Messages healed;
  EXPECT_EQ(pull(b, "resume/app:1", &healed).image.id, img.id);
  EXPECT_TRUE(healed.has_prefix("Retrying"));
  EXPECT_EQ(b.s.content.read(layer), blob);
  // A correct prefix is simply continued.
  Local c;
  {
    auto w = c.s.content.open_writer(layer);
    w->write(blob.substr(0, blob.size() / 2));
  }
  Messages resumed;
  PullResult got = pull(c, "resume/app:1", &resumed);
  EXPECT_FALSE(resumed.has_prefix("Retrying"));
  EXPECT_EQ(got.image.id, img.id);
  EXPECT_EQ(c.s.content.read(layer), blob);
}

TEST_F(PushPull, ManifestListPicksThePlatform) {
  Local a, b, c;
  image::ImageRecord amd = two_layer_image(a);
  image::ImageRecord arm = add_image(a.s, {{{"arm", 'f', "arm64\n"}}}, {{"architecture", "arm64"}, {"variant", "v8"}},
                                     Compression::gzip);
  PushResult pa = push(a, amd, "multi/app:amd");
  PushResult pb = push(a, arm, "multi/app:arm");
  json index = {{"schemaVersion", 2},
                {"mediaType", image::kOciIndex},
                {"manifests",
                 {{{"mediaType", image::kDockerManifest}, {"digest", pb.digest.str()}, {"size", pb.size},
                   {"platform", {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}}},
                  {{"mediaType", image::kDockerManifest}, {"digest", pa.digest.str()}, {"size", pa.size},
                   {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}}}};
  Repository rp = repo("multi/app", true);
  Digest index_digest = rp.put_manifest("latest", index.dump(), std::string(image::kOciIndex));

  PullOptions amd64;
  amd64.platform = image::Platform::parse("linux/amd64");
  PullResult got = pull(b, "multi/app:latest", nullptr, amd64);
  EXPECT_EQ(got.image.id, amd.id);
  EXPECT_EQ(got.digest, index_digest);  // the repo digest names what the tag points at
  EXPECT_EQ(got.image.repo_digests, std::vector<std::string>{reg_.host() + "/multi/app@" + index_digest.str()});

  PullOptions arm64;
  arm64.platform = image::Platform::parse("linux/arm64");
  EXPECT_EQ(pull(c, "multi/app:latest", nullptr, arm64).image.id, arm.id);

  PullOptions s390x;
  s390x.platform = image::Platform::parse("linux/s390x");
  EXPECT_EQ(berth::test::error_of([&] { pull(c, "multi/app:latest", nullptr, s390x); }),
            "no matching manifest for linux/s390x in the manifest list entries");
}

TEST_F(PushPull, UnknownTagAndRepositoryGiveRegistryErrors) {
  Local a, b;
  push(a, two_layer_image(a), "known/app:1");
  EXPECT_EQ(berth::test::error_of([&] { pull(b, "known/app:2"); }),
            "manifest for known/app:2 not found: manifest unknown: manifest unknown");
  std::string err = berth::test::error_of([&] { pull(b, "nobody/here:1"); });
  EXPECT_NE(err.find("unknown"), std::string::npos) << err;
}

TEST_F(PushPull, LayerEscapingTheRootIsRefusedWithItsDigest) {
  Local a, b;
  image::ImageRecord img = add_image(a.s, {{{"ok", 'f', "fine"}}}, json::object(), Compression::gzip);
  // A hostile layer, stored as if it were fine (add_image would refuse to unpack it).
  std::string evil = image::testing::build_tar({{"../../escape", 'f', "x"}}, Compression::gzip);
  std::string plain = image::testing::build_tar({{"../../escape", 'f', "x"}});
  Digest evil_blob = a.s.content.put(evil);
  json config = json::parse(a.s.content.read(img.id));
  config["rootfs"]["diff_ids"].push_back(image::sha256_of(plain).str());
  Digest cfg = a.s.content.put(config.dump());
  image::ImageRecord fake = img;
  fake.id = cfg;
  fake.layers.push_back({evil_blob, std::string(image::kDockerLayerGzip), evil.size()});
  fake.diff_ids.push_back(image::sha256_of(plain));
  fake.manifest_digest.reset();
  // push_image needs a stored image; send the blobs and manifest by hand.
  Repository rp = repo("evil/app", true);
  for (const Digest& d : {fake.layers[0].digest, evil_blob, cfg}) {
    std::string bytes = a.s.content.read(d);
    size_t off = 0;
    rp.upload_blob(d, bytes.size(), [&](char* buf, size_t cap) {
      size_t n = std::min(cap, bytes.size() - off);
      std::copy_n(bytes.data() + off, n, buf);
      off += n;
      return n;
    });
  }
  auto [manifest, type] = manifest_for_push(fake, a.s.content);
  rp.put_manifest("1", manifest, type);
  std::string err = berth::test::error_of([&] { pull(b, "evil/app:1"); });
  EXPECT_NE(err.find("layer " + evil_blob.str()), std::string::npos) << err;
  EXPECT_NE(err.find("../../escape"), std::string::npos) << err;
  EXPECT_TRUE(b.s.images.list().empty());
}

class AuthedRegistry : public ::testing::Test {
 protected:
  TestRegistry reg_{"alice", "s3cret"};
  HttpClient http_;
};

TEST_F(AuthedRegistry, BasicAuthNeedsTheRightCredentials) {
  Local a, b;
  image::ImageRecord img = add_image(a.s, {{{"f", 'f', "x"}}}, json::object(), Compression::gzip);
  image::Reference r = image::parse_reference(reg_.host() + "/private/app:1");
  auto repo_with = [&](AuthConfig auth, bool push) {
    return Repository(http_, endpoints_for(reg_.host(), {}, push), r.path, auth, push);
  };
  Repository anon = repo_with({}, true);
  EXPECT_EQ(berth::test::error_of([&] { push_image(anon, r, img, Stores{a.s.content, a.s.snapshots, a.s.images}, {}, {}); }),
            "no basic auth credentials");
  Repository wrong = repo_with({"alice", "nope"}, true);
  EXPECT_EQ(berth::test::error_of([&] { wrong.login(); }),
            "login attempt to http://" + reg_.host() + "/v2/ failed with status: 401 Unauthorized");
  Repository right = repo_with({"alice", "s3cret"}, true);
  right.login();
  push_image(right, r, img, Stores{a.s.content, a.s.snapshots, a.s.images}, {}, {});
  Repository reader = repo_with({"alice", "s3cret"}, false);
  EXPECT_EQ(pull_image(reader, r, Stores{b.s.content, b.s.snapshots, b.s.images}, {}, {}).image.id, img.id);
}

}  // namespace
}  // namespace berth::registry
