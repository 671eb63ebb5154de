#include "engine/log_reader.h"

#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/fs.h"
#include "base/test_util.h"

namespace berth::engine {
namespace {

std::string record(const std::string& log, const std::string& stream, const std::string& time) {
  return nlohmann::json({{"log", log}, {"stream", stream}, {"time", time}}).dump() + "\n";
}

std::vector<std::string> collect(const std::string& path, const LogQuery& q) {
  std::vector<std::string> out;
  std::stop_source never;
  read_logs(path, q, [] { return false; }, [&](const LogRecord& r) {
    out.push_back(r.stream + ":" + r.log);
    return true;
  }, never.get_token());
  return out;
}

TEST(LogReader, FiltersStreamsTailAndTimes) {
  test::TempDir dir;
  std::string path = dir / "c-json.log";
  write_file(path, record("a\n", "stdout", "2024-01-01T00:00:01Z") + record("b\n", "stderr", "2024-01-01T00:00:02Z") +
                       "{torn line\n" + record("c\n", "stdout", "2024-01-01T00:00:03.5Z"));
  LogQuery all;
  EXPECT_EQ(collect(path, all), (std::vector<std::string>{"stdout:a\n", "stderr:b\n", "stdout:c\n"}));
  LogQuery out_only;
  out_only.stderr = false;
  EXPECT_EQ(collect(path, out_only), (std::vector<std::string>{"stdout:a\n", "stdout:c\n"}));
  LogQuery tail;
  tail.tail = 2;
  EXPECT_EQ(collect(path, tail), (std::vector<std::string>{"stderr:b\n", "stdout:c\n"}));
  LogQuery none;
  none.tail = 0;
  EXPECT_TRUE(collect(path, none).empty());
  LogQuery window;
  window.since_nano = 1704067202LL * 1000000000LL;  // 00:00:02
  window.until_nano = 1704067203LL * 1000000000LL;  // 00:00:03
  EXPECT_EQ(collect(path, window), (std::vector<std::string>{"stderr:b\n"}));
}

TEST(LogReader, ReadsRotatedFilesOldestFirst) {
  test::TempDir dir;
  std::string path = dir / "c-json.log";
  write_file(path + ".2", record("1\n", "stdout", "2024-01-01T00:00:01Z"));
  write_file(path + ".1", record("2\n", "stdout", "2024-01-01T00:00:02Z"));
  write_file(path, record("3\n", "stdout", "2024-01-01T00:00:03Z"));
  EXPECT_EQ(collect(path, {}), (std::vector<std::string>{"stdout:1\n", "stdout:2\n", "stdout:3\n"}));
  LogQuery tail;
  tail.tail = 2;
  EXPECT_EQ(collect(path, tail), (std::vector<std::string>{"stdout:2\n", "stdout:3\n"}));
}

TEST(LogReader, FollowSeesAppendsAndRotationThenStopsWhenNotRunning) {
  test::TempDir dir;
  std::string path = dir / "c-json.log";
  write_file(path, record("first\n", "stdout", "2024-01-01T00:00:01Z"));
  std::atomic<bool> running = true;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::string text = read_file(path) + record("second\n", "stdout", "2024-01-01T00:00:02Z");
    write_file(path, text);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Rotation as the shim does it: rename, then a fresh file.
    if (::rename(path.c_str(), (path + ".1").c_str()) != 0) abort();
    write_file(path, record("third\n", "stdout", "2024-01-01T00:00:03Z"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    running = false;
  });
  std::vector<std::string> got;
  LogQuery q;
  q.follow = true;
  std::stop_source never;
  read_logs(path, q, [&] { return running.load(); }, [&](const LogRecord& r) {
    got.push_back(r.log);
    return true;
  }, never.get_token());
  writer.join();
  EXPECT_EQ(got, (std::vector<std::string>{"first\n", "second\n", "third\n"}));
}

}  // namespace
}  // namespace berth::engine
