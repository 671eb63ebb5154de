#include "registry/credentials.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/test_util.h"

namespace berth::registry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using test::error_of;
using test::TempDir;
using Json = nlohmann::ordered_json;

constexpr const char* kHub = "https://index.docker.io/v1/";

// Sets an environment variable for one scope and restores it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

mode_t file_mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

Json read_json(const std::string& path) { return Json::parse(read_file(path)); }

TEST(ConfigKey, DockerHubAliasesShareTheIndexKey) {
  EXPECT_EQ(config_key("docker.io"), kHub);
  EXPECT_EQ(config_key("index.docker.io"), kHub);
  EXPECT_EQ(config_key("registry-1.docker.io"), kHub);
  EXPECT_EQ(config_key("localhost:5000"), "localhost:5000");
  EXPECT_EQ(config_key("ghcr.io"), "ghcr.io");
}

TEST(CredentialStore, DefaultDirFollowsDockerConfigThenHome) {
  {
    ScopedEnv dc("DOCKER_CONFIG", "/etc/berth-docker");
    EXPECT_EQ(CredentialStore::default_dir(), "/etc/berth-docker");
  }
  ScopedEnv dc("DOCKER_CONFIG", std::nullopt);
  ScopedEnv home("HOME", "/home/alice");
  EXPECT_EQ(CredentialStore::default_dir(), "/home/alice/.docker");
  ScopedEnv empty("DOCKER_CONFIG", "");
  EXPECT_EQ(CredentialStore::default_dir(), "/home/alice/.docker");
}

TEST(CredentialStore, NoFileMeansNoCredentials) {
  TempDir dir;
  CredentialStore store(dir / "docker");
  EXPECT_EQ(store.config_path(), dir / "docker/config.json");
  EXPECT_TRUE(store.get("docker.io").empty());
  EXPECT_TRUE(store.hosts().empty());
  EXPECT_FALSE(store.erase("docker.io"));
  EXPECT_FALSE(path_exists(dir / "docker"));  // reading and a no-op erase create nothing
}

TEST(CredentialStore, StoreWritesDockersFormatPrivately) {
  TempDir dir;
  CredentialStore store(dir / "docker");
  store.store("docker.io", {"alice", "s3cr:et", ""});
  store.store("localhost:5000", {"bob", "pw", "refresh-token"});

  std::string path = dir / "docker/config.json";
  EXPECT_EQ(file_mode(path), 0600u);
  Json cfg = read_json(path);
  EXPECT_EQ(cfg["auths"][kHub], Json({{"auth", "YWxpY2U6czNjcjpldA=="}}));
  EXPECT_EQ(cfg["auths"]["localhost:5000"]["auth"], "Ym9iOnB3");
  EXPECT_EQ(cfg["auths"]["localhost:5000"]["identitytoken"], "refresh-token");
  EXPECT_EQ(test::count_entries(dir / "docker"), 1);  // no temporary file left behind

  Credentials hub = store.get("index.docker.io");
  EXPECT_EQ(hub.username, "alice");
  EXPECT_EQ(hub.password, "s3cr:et");  // only the first ':' separates
  EXPECT_EQ(store.get("localhost:5000").identity_token, "refresh-token");
  EXPECT_THAT(store.hosts(), ElementsAre(kHub, "localhost:5000"));

  // Storing again replaces the entry as a whole.
  store.store("localhost:5000", {"bob", "new", ""});
  EXPECT_EQ(read_json(path)["auths"]["localhost:5000"], Json({{"auth", "Ym9iOm5ldw=="}}));
}

TEST(CredentialStore, ReadsWhatDockerWrote) {
  TempDir dir;
  write_file(dir / "config.json", R"({
	"auths": {
		"https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
		"plain.example": {"username": "u2", "password": "p2"},
		"padded.example": {"auth": "dTpwAAA="},
		"token.example": {"auth": "dTo=", "identitytoken": "idt"},
		"email.example": {"email": "a@b.c"}
	}
})");
  CredentialStore store(dir.path());
  Credentials c = store.get("docker.io");
  EXPECT_EQ(c.username, "user");
  EXPECT_EQ(c.password, "pass");
  EXPECT_EQ(store.get("plain.example").password, "p2");
  EXPECT_EQ(store.get("padded.example").password, "p");  // NULs trimmed as docker does
  EXPECT_EQ(store.get("token.example").identity_token, "idt");
  EXPECT_EQ(store.get("token.example").password, "");
  EXPECT_TRUE(store.get("email.example").empty());
  EXPECT_TRUE(store.get("other.example").empty());
}

TEST(CredentialStore, MatchesUrlStyleKeysByHost) {
  TempDir dir;
  write_file(dir / "config.json", R"({"auths": {
    "http://myreg:5000": {"auth": "YTpi"},
    "https://other.io/v2/": {"auth": "Yzpk"},
    "index.docker.io": {"auth": "ZTpm"}
  }})");
  CredentialStore store(dir.path());
  EXPECT_EQ(store.get("myreg:5000").username, "a");
  EXPECT_EQ(store.get("other.io").username, "c");
  EXPECT_TRUE(store.get("myreg").empty());
  // Docker Hub is only ever found under its exact key, as in docker.
  EXPECT_TRUE(store.get("docker.io").empty());

  // An exact key wins over a URL-style one.
  store.store("myreg:5000", {"x", "y", ""});
  EXPECT_EQ(store.get("myreg:5000").username, "x");

  // erase removes both, so nothing is found after.
  EXPECT_TRUE(store.erase("myreg:5000"));
  EXPECT_TRUE(store.get("myreg:5000").empty());
  EXPECT_FALSE(store.erase("myreg:5000"));
  EXPECT_THAT(store.hosts(), ElementsAre("https://other.io/v2/", "index.docker.io"));
}

TEST(CredentialStore, RewritesKeepOtherSettingsOrderAndMode) {
  TempDir dir;
  std::string path = dir / "config.json";
  write_file(path, R"({
  "psFormat": "table {{.ID}}",
  "auths": {"zeta.example": {"auth": "ejp6", "email": "z@z"}},
  "proxies": {"default": {"httpProxy": "http://proxy:3128"}},
  "HttpHeaders": {"X-Meta": "1"},
  "experimental": "enabled",
  "plugins": {"x": {"n": 1.5, "list": [1, null, true]}}
})");
  ::chmod(path.c_str(), 0644);
  CredentialStore store(dir.path());
  store.store("ghcr.io", {"me", "tok", ""});
  EXPECT_TRUE(store.erase("zeta.example"));

  EXPECT_EQ(file_mode(path), 0644u);
  Json cfg = read_json(path);
  std::vector<std::string> keys;
  for (const auto& [k, v] : cfg.items()) keys.push_back(k);
  EXPECT_THAT(keys, ElementsAre("psFormat", "auths", "proxies", "HttpHeaders", "experimental", "plugins"));
  EXPECT_EQ(cfg["psFormat"], "table {{.ID}}");
  EXPECT_EQ(cfg["proxies"]["default"]["httpProxy"], "http://proxy:3128");
  EXPECT_EQ(cfg["HttpHeaders"]["X-Meta"], "1");
  EXPECT_EQ(cfg["plugins"], Json::parse(R"({"x": {"n": 1.5, "list": [1, null, true]}})"));
  EXPECT_EQ(cfg["auths"], Json::parse(R"({"ghcr.io": {"auth": "bWU6dG9r"}})"));
}

TEST(CredentialStore, WritesThroughASymlinkedConfig) {
  TempDir dir;
  mkdir_all(dir / "dotfiles");
  write_file(dir / "dotfiles/docker.json", R"({"psFormat": "x"})");
  mkdir_all(dir / "docker");
  ASSERT_EQ(::symlink("../dotfiles/docker.json", (dir / "docker/config.json").c_str()), 0);
  CredentialStore store(dir / "docker");
  store.store("ghcr.io", {"me", "tok", ""});
  struct stat st {};
  ASSERT_EQ(::lstat((dir / "docker/config.json").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(read_json(dir / "dotfiles/docker.json")["psFormat"], "x");
  EXPECT_EQ(store.get("ghcr.io").username, "me");
}

TEST(CredentialStore, MalformedConfigIsAnErrorAndIsKept) {
  TempDir dir;
  std::string path = dir / "config.json";
  const std::string broken = R"({"auths": {"a": {"auth": "YTpi"}}, oops})";
  write_file(path, broken);
  CredentialStore store(dir.path());
  EXPECT_THAT(error_of([&] { store.get("a"); }), HasSubstr(path + ": "));
  EXPECT_THAT(error_of([&] { store.store("a", {"u", "p", ""}); }), HasSubstr(path + ": "));
  EXPECT_THAT(error_of([&] { store.erase("a"); }), HasSubstr(path + ": "));
  EXPECT_EQ(read_file(path), broken);

  write_file(path, R"({"auths": []})");
  EXPECT_THAT(error_of([&] { store.hosts(); }), HasSubstr(path + ": \"auths\" is not an object"));
  write_file(path, "[]");
  EXPECT_THAT(error_of([&] { store.get("a"); }), HasSubstr(path + ": not a JSON object"));
  write_file(path, R"({"auths": {"a": {"auth": "not base64!"}, "b": {"auth": "bm9jb2xvbg=="}}})");
  EXPECT_THAT(error_of([&] { store.get("a"); }), HasSubstr(path + ": invalid \"auth\" for a"));
  EXPECT_THAT(error_of([&] { store.get("b"); }), HasSubstr("invalid \"auth\" for b"));  // "nocolon"

  write_file(path, "  \n");  // blank, as docker treats it: an empty config
  EXPECT_TRUE(store.get("a").empty());
}

// A credential helper on PATH: docker-credential-berthtest keeps one file
// per server URL under state/ and logs every call; -berthfail fails with a
// message on stdout, -berthcrash with one on stderr.
class CredentialHelperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mkdir_all(dir_ / "bin");
    mkdir_all(dir_ / "state");
    mkdir_all(dir_ / "docker");
    write_file(dir_ / "bin/docker-credential-berthtest",
               fmt::format(R"sh(#!/bin/sh
state='{}'
input=$(cat)
printf '%s %s\n' "$1" "$input" >> "$state/log"
case "$1" in
  store) key=$(printf %s "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p') ;;
  *) key=$input ;;
esac
f="$state/$(printf %s "$key" | tr -c 'A-Za-z0-9.' '_')"
case "$1" in
  get) if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) printf '%s\n' "$input" > "$f" ;;
  erase) if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  *) echo "unknown verb $1"; exit 1 ;;
esac
)sh",
                           dir_ / "state"),
               0755);
    write_file(dir_ / "bin/docker-credential-berthfail", "#!/bin/sh\ncat >/dev/null\necho 'keychain locked'\nexit 1\n",
               0755);
    write_file(dir_ / "bin/docker-credential-berthcrash", "#!/bin/sh\necho 'segfault at 0' >&2\nexit 139\n", 0755);
    const char* old = std::getenv("PATH");
    path_env_.emplace("PATH", (dir_ / "bin") + ":" + (old ? old : "/usr/bin:/bin"));
  }
  void TearDown() override { path_env_.reset(); }

  void write_config(const std::string& json) { write_file(dir_ / "docker/config.json", json); }
  Json config() { return read_json(dir_ / "docker/config.json"); }
  std::string log() {
    std::string s;
    read_file_if_exists(dir_ / "state/log", &s);
    return s;
  }

  TempDir dir_;
  std::optional<ScopedEnv> path_env_;
  CredentialStore store_{dir_ / "docker"};
};

TEST_F(CredentialHelperTest, StoreGetEraseThroughCredsStore) {
  write_config(R"({"credsStore": "berthtest", "auths": {"old.example": {"auth": "YTpi"}}})");
  EXPECT_TRUE(store_.get("docker.io").empty());  // "not found" is no credentials, not an error
  // The file's own entry is ignored once a helper is configured, as in docker.
  EXPECT_TRUE(store_.get("old.example").empty());

  store_.store("docker.io", {"alice", "pw", ""});
  EXPECT_THAT(log(),
              HasSubstr(R"(store {"ServerURL":"https://index.docker.io/v1/","Username":"alice","Secret":"pw"})"));
  EXPECT_EQ(config()["auths"][kHub], Json::object());  // only a marker stays in the file
  EXPECT_EQ(config()["credsStore"], "berthtest");

  Credentials c = store_.get("registry-1.docker.io");
  EXPECT_EQ(c.username, "alice");
  EXPECT_EQ(c.password, "pw");
  EXPECT_THAT(log(), HasSubstr("get https://index.docker.io/v1/\n"));

  EXPECT_TRUE(store_.erase("docker.io"));
  EXPECT_THAT(log(), HasSubstr("erase https://index.docker.io/v1/\n"));
  EXPECT_FALSE(config()["auths"].contains(kHub));
  EXPECT_TRUE(store_.get("docker.io").empty());
  EXPECT_FALSE(store_.erase("docker.io"));  // the helper's "not found" again
}

TEST_F(CredentialHelperTest, IdentityTokenTravelsAsTokenUsername) {
  write_config(R"({"credsStore": "berthtest"})");
  store_.store("ghcr.io", {"alice", "", "oauth-refresh"});
  EXPECT_THAT(log(), HasSubstr(R"("Username":"<token>","Secret":"oauth-refresh")"));
  Credentials c = store_.get("ghcr.io");
  EXPECT_EQ(c.identity_token, "oauth-refresh");
  EXPECT_EQ(c.username, "");
  EXPECT_EQ(c.password, "");
}

TEST_F(CredentialHelperTest, PerHostHelperTakesPrecedence) {
  write_config(R"({"credsStore": "berthfail", "credHelpers": {"myreg:5000": "berthtest", "plain.example": ""}})");
  store_.store("myreg:5000", {"u", "p", ""});
  EXPECT_EQ(store_.get("myreg:5000").password, "p");
  // An empty helper name means the file itself, as in docker.
  store_.store("plain.example", {"f", "g", ""});
  EXPECT_EQ(config()["auths"]["plain.example"]["auth"], "Zjpn");
  EXPECT_EQ(store_.get("plain.example").username, "f");
  EXPECT_THAT(store_.hosts(), ElementsAre("myreg:5000", "plain.example"));

  // Any other host goes to the failing global helper.
  std::string err = error_of([&] { store_.get("other.example"); });
  EXPECT_THAT(err, HasSubstr("docker-credential-berthfail"));
  EXPECT_THAT(err, HasSubstr("keychain locked"));
  EXPECT_THAT(error_of([&] { store_.store("other.example", {"a", "b", ""}); }), HasSubstr("keychain locked"));
  EXPECT_THAT(error_of([&] { store_.erase("other.example"); }), HasSubstr("keychain locked"));
  EXPECT_FALSE(config()["auths"].contains("other.example"));  // a failed store leaves no marker
}

TEST_F(CredentialHelperTest, HelperMessageOnStderrAndMissingHelper) {
  write_config(R"({"credHelpers": {"a.example": "berthcrash", "b.example": "berthnosuch"}})");
  std::string err = error_of([&] { store_.get("a.example"); });
  EXPECT_THAT(err, HasSubstr("docker-credential-berthcrash get a.example"));
  EXPECT_THAT(err, HasSubstr("segfault at 0"));
  EXPECT_THAT(error_of([&] { store_.get("b.example"); }), HasSubstr("docker-credential-berthnosuch"));
}

TEST_F(CredentialHelperTest, BadHelperOutputIsAnErrorWithoutTheSecret) {
  write_config(R"({"credsStore": "berthtest"})");
  write_file(dir_ / "state/ghcr.io", R"({"Username": "u", "Secret": "hunter2")");  // truncated JSON
  std::string err = error_of([&] { store_.get("ghcr.io"); });
  EXPECT_THAT(err, HasSubstr("docker-credential-berthtest get ghcr.io"));
  EXPECT_THAT(err, ::testing::Not(HasSubstr("hunter2")));
}

TEST_F(CredentialHelperTest, HelperNamesCannotBePaths) {
  write_config(R"({"credsStore": "../../bin/sh"})");
  EXPECT_THAT(error_of([&] { store_.get("x"); }), HasSubstr("invalid credential helper name"));
}

}  // namespace
}  // namespace berth::registry
