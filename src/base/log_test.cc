#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/fs.h"
#include "base/strings.h"
#include "base/test_util.h"

namespace berth {
namespace {

using ::testing::HasSubstr;

using berth::test::TempDir;

// Redirects fd 2 to a file for its lifetime; text() returns what was written.
class StderrCapture {
 public:
  explicit StderrCapture(const std::string& path) : path_(path) {
    saved_ = ::dup(STDERR_FILENO);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~StderrCapture() { restore(); }
  void restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  std::string text() {
    restore();
    return read_file(path_);
  }

 private:
  std::string path_;
  int saved_ = -1;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  for (auto& l : split(text, '\n'))
    if (!l.empty()) out.push_back(l);
  return out;
}

TEST(Logger, JsonLinesToFile) {
  TempDir tmp;
  Logger log("prog");
  StderrCapture err(tmp / "stderr");
  log.configure(tmp / "log.json", /*json=*/true, /*debug=*/true);
  ASSERT_TRUE(log.has_file());
  log.debug("dbg {}", 1);
  log.warn("careful \"{}\"", "quoted");
  log.log(Logger::Level::kInfo, "info line");
  log.error("it broke");
  std::string stderr_text = err.text();

  std::string text = read_file(tmp / "log.json");
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  auto ls = lines(text);
  ASSERT_EQ(ls.size(), 4u) << text;
  // Go's RFC3339Nano: the fraction drops trailing zeros (and vanishes on whole seconds).
  const std::regex time_re(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z)");
  std::vector<std::pair<std::string, std::string>> want = {
      {"debug", "dbg 1"}, {"warning", "careful \"quoted\""}, {"info", "info line"}, {"error", "it broke"}};
  for (size_t i = 0; i < ls.size(); ++i) {
    auto j = nlohmann::json::parse(ls[i]);
    EXPECT_EQ(j.at("level"), want[i].first);
    EXPECT_EQ(j.at("msg"), want[i].second);
    EXPECT_TRUE(std::regex_match(j.at("time").get<std::string>(), time_re)) << j.at("time");
  }
  // Errors are also shown to a human on stderr; nothing else is.
  EXPECT_EQ(stderr_text, "prog: it broke\n");
}

TEST(Logger, DebugSuppressedUnlessEnabled) {
  TempDir tmp;
  Logger log("prog");
  log.configure(tmp / "log", /*json=*/true, /*debug=*/false);
  log.debug("hidden");
  log.warn("shown");
  auto ls = lines(read_file(tmp / "log"));
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(ls[0]).at("msg"), "shown");
}

TEST(Logger, TextModeToFilePrefixesLevel) {
  TempDir tmp;
  write_file(tmp / "log", "earlier\n");
  Logger log("prog");
  StderrCapture err(tmp / "stderr");
  log.configure(tmp / "log", /*json=*/false, /*debug=*/false);
  log.warn("w {}", 2);
  log.error("e");
  std::string stderr_text = err.text();
  EXPECT_EQ(read_file(tmp / "log"), "earlier\nwarning: w 2\nerror: e\n");  // appended
  EXPECT_EQ(stderr_text, "prog: e\n");
}

TEST(Logger, TextModeToStderrPrefixesProgram) {
  TempDir tmp;
  Logger log("berth-runtime");
  StderrCapture err(tmp / "stderr");
  log.configure("", /*json=*/false, /*debug=*/true);
  EXPECT_FALSE(log.has_file());
  log.warn("low disk");
  log.debug("detail");
  log.error("failed");
  EXPECT_EQ(err.text(), "berth-runtime: warning: low disk\nberth-runtime: debug: detail\nberth-runtime: failed\n");
}

TEST(Logger, UnopenableFileIsAnErrorNamingIt) {
  TempDir tmp;
  Logger log;
  std::string bad = tmp / "no/such/dir/log";
  try {
    log.configure(bad, false, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(bad));
  }
}

}  // namespace
}  // namespace berth
