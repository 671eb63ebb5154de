// S3BlobStore against a real S3-compatible server: s3rver (npm, installed by
// scripts/install-deps), started once for the suite on 127.0.0.1. A missing
// s3rver fails these tests with the reason.
#include "hub/s3_blob_store.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/fs.h"
#include "base/process.h"
#include "base/test_util.h"
#include "image/digest.h"
#include "registry/http_client.h"

namespace berth::hub {
namespace {

using ::testing::HasSubstr;

uint16_t free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    fail_errno("pick a free port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

bool port_open(uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}

class S3rver {
 public:
  S3rver() {
    std::string bin;
    if (const char* b = std::getenv("BERTH_S3RVER")) {
      bin = b;
    } else {
      const char* cache = std::getenv("XDG_CACHE_HOME");
      const char* home = std::getenv("HOME");
      bin = (cache && *cache ? std::string(cache) : std::string(home ? home : "/root") + "/.cache") +
            "/berth/s3rver/node_modules/.bin/s3rver";
    }
    if (!path_exists(bin)) fail("s3 tests: no s3rver at {} (run scripts/install-deps)", bin);
    port_ = free_port();
    std::string log = dir_.path() + "/s3rver.log";
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    pid_ = spawn_process({bin, "-d", dir_.path() + "/data", "-a", "127.0.0.1", "-p", std::to_string(port_),
                          "--configure-bucket", "berth", "--silent"},
                         {-1, fd, fd});
    ::close(fd);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!port_open(port_)) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        fail("s3 tests: s3rver exited: {}", read_file(log));
      }
      if (std::chrono::steady_clock::now() > deadline) fail("s3 tests: s3rver not up after 20s: {}", read_file(log));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~S3rver() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string url(const std::string& prefix, const std::string& extra = "") const {
    return fmt::format("s3://S3RVER:S3RVER@berth/{}?endpoint=http://127.0.0.1:{}{}", prefix, port_, extra);
  }

 private:
  test::TempDir dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

class S3Environment : public ::testing::Environment {
 public:
  S3rver& server() {
    if (!error_.empty()) throw Error(error_);
    if (!server_) {
      try {
        server_ = std::make_unique<S3rver>();
      } catch (const std::exception& e) {
        error_ = e.what();
        throw;
      }
    }
    return *server_;
  }
  void TearDown() override { server_.reset(); }

 private:
  std::unique_ptr<S3rver> server_;
  std::string error_;
};

S3Environment* const s3_env = static_cast<S3Environment*>(::testing::AddGlobalTestEnvironment(new S3Environment));

std::string random_bytes(size_t n) {
  static std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class S3BlobStoreTest : public ::testing::Test {
 protected:
  // A prefix of its own per test: tests never see each other's objects.
  std::unique_ptr<S3BlobStore> store(const std::string& extra = "") {
    return std::make_unique<S3BlobStore>(S3Location::parse(s3_env->server().url(prefix_, extra)), scratch_.path());
  }

  // Appends data to the upload through the store's streaming interface,
  // hashing what it is given like RegistryApi does.
  static uint64_t append(BlobStore& s, const std::string& id, uint64_t offset, std::string_view data,
                         image::Sha256* sha = nullptr) {
    size_t pos = 0;
    return s.append(
        id, offset,
        [&](char* buf, size_t cap) {
          size_t n = std::min(cap, data.size() - pos);
          std::copy_n(data.data() + pos, n, buf);
          pos += n;
          return n;
        },
        [&](const char* p, size_t n) {
          if (sha) sha->update(p, n);
        });
  }

  static std::string read_all(const BlobReader& r, uint64_t offset, uint64_t length) {
    std::string out;
    r.read(offset, length, [&](std::string_view p) {
      out.append(p);
      return true;
    });
    return out;
  }

  std::string prefix_ = fmt::format("t{}", ++counter());
  test::TempDir scratch_;

 private:
  static int& counter() {
    static int n = 0;
    return n;
  }
};

TEST_F(S3BlobStoreTest, StoresReadsListsAndSetsAsideBlobs) {
  auto s = store();
  std::string data = random_bytes(3000);
  Digest d = image::sha256_of(data);
  EXPECT_FALSE(s->size(d));
  EXPECT_EQ(s->open(d), nullptr);
  s->put(d, data);
  EXPECT_EQ(s->size(d), 3000u);
  auto r = s->open(d);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->size(), 3000u);
  EXPECT_EQ(r->fd(), -1);
  EXPECT_GT(r->modified_unix(), 1600000000);
  EXPECT_EQ(read_all(*r, 0, 3000), data);
  // Exact ranges, including a single first byte (which s3rver answers with
  // the whole object) and the last bytes.
  EXPECT_EQ(read_all(*r, 0, 1), data.substr(0, 1));
  EXPECT_EQ(read_all(*r, 10, 10), data.substr(10, 10));
  EXPECT_EQ(read_all(*r, 2990, 10), data.substr(2990));
  // A sink that says stop is not called again.
  int calls = 0;
  r->read(0, 3000, [&](std::string_view) {
    ++calls;
    return false;
  });
  EXPECT_EQ(calls, 1);

  std::vector<std::pair<std::string, uint64_t>> listed;
  s->for_each([&](const Digest& x, uint64_t size) { listed.emplace_back(x.str(), size); });
  EXPECT_EQ(listed, (std::vector<std::pair<std::string, uint64_t>>{{d.str(), 3000}}));

  // Garbage collection's two-step delete.
  EXPECT_TRUE(s->set_aside(d));
  EXPECT_FALSE(s->size(d));
  EXPECT_EQ(s->open(d), nullptr);
  listed.clear();
  s->for_each([&](const Digest& x, uint64_t size) { listed.emplace_back(x.str(), size); });
  EXPECT_TRUE(listed.empty());
  EXPECT_EQ(s->set_aside_blobs(), std::vector<Digest>{d});
  EXPECT_FALSE(s->set_aside(d)) << "nothing left to set aside";
  s->restore_set_aside(d);
  ASSERT_NE(s->open(d), nullptr);
  EXPECT_EQ(read_all(*s->open(d), 0, 3000), data);
  EXPECT_TRUE(s->set_aside_blobs().empty());
  EXPECT_TRUE(s->set_aside(d));
  s->discard_set_aside(d);
  EXPECT_FALSE(s->size(d));
  EXPECT_TRUE(s->set_aside_blobs().empty());
  EXPECT_THAT(test::error_of([&] { s->restore_set_aside(d); }), HasSubstr("not set aside"));
}

TEST_F(S3BlobStoreTest, UploadContinuesOnAnotherReplicaAndCommitsComposed) {
  auto a = store();
  auto b = store();  // another process: shares nothing with a but the bucket
  // Bigger than one 16 MiB multipart part, in three uneven chunks.
  std::string data = random_bytes(20 << 20);
  std::string id = BlobStore::new_upload_id();
  EXPECT_FALSE(b->upload_size(id));
  a->begin_upload(id);
  EXPECT_EQ(b->upload_size(id), 0u);
  image::Sha256 sha_a;
  EXPECT_EQ(append(*a, id, 0, std::string_view(data).substr(0, 7 << 20), &sha_a), uint64_t{7} << 20);

  // b rebuilds the running hash from the stored bytes, then goes on.
  ASSERT_EQ(b->upload_size(id), uint64_t{7} << 20);
  image::Sha256 sha_b;
  b->read_upload(id, 7 << 20, [&](const char* p, size_t n) { sha_b.update(p, n); });
  EXPECT_EQ(append(*b, id, 7 << 20, std::string_view(data).substr(7 << 20, 12 << 20), &sha_b), uint64_t{19} << 20);
  EXPECT_EQ(append(*b, id, 19 << 20, std::string_view(data).substr(19 << 20), &sha_b), data.size());
  Digest d = sha_b.finish();
  EXPECT_EQ(d, image::sha256_of(data));
  EXPECT_EQ(a->upload_size(id), data.size());

  a->commit_upload(id, d);
  EXPECT_FALSE(a->upload_size(id));
  auto r = b->open(d);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->size(), data.size());
  EXPECT_EQ(image::sha256_of(read_all(*r, 0, data.size())), d);
  EXPECT_EQ(read_all(*r, (16 << 20) - 5, 10), data.substr((16 << 20) - 5, 10));  // across the part boundary
}

TEST_F(S3BlobStoreTest, SingleChunkUploadIsCopiedAndEmptyUploadIsAnEmptyBlob) {
  auto s = store();
  std::string data = random_bytes(100000);
  std::string id = BlobStore::new_upload_id();
  s->begin_upload(id);
  append(*s, id, 0, data);
  append(*s, id, data.size(), "");  // an empty PUT adds no chunk
  s->commit_upload(id, image::sha256_of(data));
  EXPECT_EQ(read_all(*s->open(image::sha256_of(data)), 0, data.size()), data);

  std::string empty = BlobStore::new_upload_id();
  s->begin_upload(empty);
  s->commit_upload(empty, image::sha256_of(""));
  EXPECT_EQ(s->size(image::sha256_of("")), 0u);
}

TEST_F(S3BlobStoreTest, CancelRemovesTheUploadOnly) {
  auto s = store();
  s->put(image::sha256_of("kept"), "kept");
  std::string id = BlobStore::new_upload_id();
  s->begin_upload(id);
  append(*s, id, 0, "partial");
  s->cancel_upload(id);
  EXPECT_FALSE(s->upload_size(id));
  EXPECT_EQ(s->size(image::sha256_of("kept")), 4u);
  EXPECT_THROW(s->upload_size("../../etc"), Error);
}

TEST_F(S3BlobStoreTest, PrefixesKeepStoresApart) {
  auto s = store();
  s->put(image::sha256_of("mine"), "mine");
  auto other = std::make_unique<S3BlobStore>(S3Location::parse(s3_env->server().url(prefix_ + "-other")),
                                             scratch_.path());
  int n = 0;
  other->for_each([&](const Digest&, uint64_t) { ++n; });
  EXPECT_EQ(n, 0);
  EXPECT_FALSE(other->size(image::sha256_of("mine")));
}

TEST_F(S3BlobStoreTest, RedirectUrlServesTheBlob) {
  auto plain = store();
  EXPECT_EQ(plain->redirect_url(image::sha256_of("x")), "");
  auto s = store("&redirect=true");
  std::string data = random_bytes(5000);
  s->put(image::sha256_of(data), data);
  std::string url = s->redirect_url(image::sha256_of(data));
  EXPECT_THAT(url, HasSubstr("X-Amz-Signature="));
  registry::HttpClient http;
  registry::HttpResponse r = http.send(registry::HttpRequest{.url = url});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, data);
}

TEST_F(S3BlobStoreTest, ErrorsNameTheObjectAndS3sReason) {
  std::string url = s3_env->server().url(prefix_);
  url.replace(url.find("S3RVER:"), 7, "NOBODY:");
  S3BlobStore s(S3Location::parse(url), scratch_.path());
  std::string msg = test::error_of([&] { s.put(image::sha256_of("x"), "x"); });
  EXPECT_THAT(msg, HasSubstr("S3 PUT s3://berth/" + prefix_ + "/blobs/sha256/"));
  EXPECT_THAT(msg, HasSubstr("InvalidAccessKeyId"));
}

}  // namespace
}  // namespace berth::hub
