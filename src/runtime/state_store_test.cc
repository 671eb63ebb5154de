#include "runtime/state_store.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "base/fs.h"
#include "oci/spec.h"
#include "base/test_util.h"

namespace berth::runtime {
namespace {

using ::testing::HasSubstr;

using berth::test::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  TempDir tmp;
  StateStore store{tmp.path() + "/state"};  // not created yet
};

ContainerRecord sample(const std::string& id) {
  ContainerRecord r;
  r.id = id;
  r.pid = 4242;
  r.pid_start_time = 123456789012ULL;
  r.bundle = "/bundles/" + id;
  r.rootfs = "/bundles/" + id + "/rootfs";
  r.created = "2024-01-02T03:04:05.000000006Z";
  r.owner = "root";
  r.oci_version = "1.0.2";
  r.annotations = {{"a", "1"}, {"b", "two"}};
  r.cgroup_paths = {{"", "/sys/fs/cgroup/berth/" + id}};
  r.new_pid_namespace = false;
  return r;
}

using berth::test::error_of;

pid_t reaped_child_pid() {
  pid_t pid = ::fork();
  if (pid == 0) _exit(0);
  int status;
  ::waitpid(pid, &status, 0);
  return pid;
}

// ------------------------------------------------------------------- ids

TEST(ContainerId, Valid) {
  for (const std::string& id : std::vector<std::string>{"a", "abc", "A1", "a.b-c_d+e", "...", "x..y", "0", std::string(1024, 'x')})
    EXPECT_NO_THROW(validate_container_id(id)) << id;
}

TEST(ContainerId, Invalid) {
  for (const std::string& id : std::vector<std::string>{"", ".", "..", "a/b", "/abs", "../x", "a b", "tab\t", "nl\n", "semi;colon", "star*",
                         "\xc3\xa9t\xc3\xa9", std::string(1025, 'x'), std::string("nul\0x", 5)})
    EXPECT_THROW(validate_container_id(id), Error) << id;
}

// ---------------------------------------------------------------- store

TEST_F(StoreTest, CreateDirClaimsOnce) {
  store.create_dir("c1");
  EXPECT_TRUE(path_exists(store.dir("c1")));
  EXPECT_EQ(store.dir("c1"), tmp.path() + "/state/c1");
  EXPECT_EQ(store.fifo_path("c1"), tmp.path() + "/state/c1/exec.fifo");
  EXPECT_EQ(error_of([&] { store.create_dir("c1"); }), "container with id exists: c1");
}

TEST_F(StoreTest, ConcurrentCreateDirExactlyOneWins) {
  std::atomic<int> won{0}, lost{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i)
    ts.emplace_back([&] {
      try {
        store.create_dir("race");
        ++won;
      } catch (const Error& e) {
        if (std::string(e.what()) == "container with id exists: race") ++lost;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(lost.load(), 7);
}

TEST_F(StoreTest, SaveLoadRoundTrip) {
  ContainerRecord r = sample("c1");
  store.create_dir("c1");
  store.save(r);
  ContainerRecord back = store.load("c1");
  EXPECT_EQ(back.id, r.id);
  EXPECT_EQ(back.pid, r.pid);
  EXPECT_EQ(back.pid_start_time, r.pid_start_time);
  EXPECT_EQ(back.bundle, r.bundle);
  EXPECT_EQ(back.rootfs, r.rootfs);
  EXPECT_EQ(back.created, r.created);
  EXPECT_EQ(back.owner, r.owner);
  EXPECT_EQ(back.oci_version, r.oci_version);
  EXPECT_EQ(back.annotations, r.annotations);
  EXPECT_EQ(back.cgroup_paths, r.cgroup_paths);
  EXPECT_EQ(back.new_pid_namespace, r.new_pid_namespace);
  // Saved again: replaced, not appended.
  r.pid = 7;
  store.save(r);
  EXPECT_EQ(store.load("c1").pid, 7);
}

TEST_F(StoreTest, LoadMissing) {
  EXPECT_EQ(error_of([&] { store.load("nope"); }), "container nope does not exist");
  store.create_dir("claimed");  // directory without state.json yet
  EXPECT_EQ(error_of([&] { store.load("claimed"); }), "container claimed does not exist");
  EXPECT_THROW(store.load("../escape"), Error);
}

TEST_F(StoreTest, LoadCorrupt) {
  store.create_dir("c1");
  for (const std::string& text : std::vector<std::string>{"{ not json", "", "[]", R"({"id": 5})", R"({"id": "c1"})"}) {
    write_file(store.dir("c1") + "/state.json", text);
    std::string err = error_of([&] { store.load("c1"); });
    EXPECT_THAT(err, HasSubstr("container c1: corrupt state.json")) << text;
  }
}

TEST_F(StoreTest, ListIds) {
  EXPECT_TRUE(store.list_ids().empty());  // root missing
  for (const char* id : {"zeta", "alpha", "mid"}) {
    store.create_dir(id);
    store.save(sample(id));
  }
  store.create_dir("half-created");  // no state.json: not listed
  write_file(store.root() + "/stray-file", "");
  EXPECT_EQ(store.list_ids(), (std::vector<std::string>{"alpha", "mid", "zeta"}));
  store.remove("mid");
  EXPECT_FALSE(path_exists(store.dir("mid")));
  EXPECT_EQ(store.list_ids(), (std::vector<std::string>{"alpha", "zeta"}));
}

TEST_F(StoreTest, ConfigRoundTripAndErrorsNameIt) {
  store.create_dir("c1");
  store.save_config("c1", oci::default_spec_json(false).dump());
  oci::Spec s = store.load_config("c1");
  EXPECT_EQ(s.hostname, "berth");
  store.save_config("c1", R"({"ociVersion": "1", "root": {"path": 3}})");
  EXPECT_THAT(error_of([&] { store.load_config("c1"); }), HasSubstr("state c1/config.json"));
}

// --------------------------------------------------------------- status

TEST_F(StoreTest, StatusStoppedForDeadPid) {
  store.create_dir("c1");
  ContainerRecord r = sample("c1");
  r.pid = reaped_child_pid();
  r.pid_start_time = 0;
  EXPECT_EQ(container_status(store, r), oci::Status::kStopped);
  r.pid = 0;
  EXPECT_EQ(container_status(store, r), oci::Status::kStopped);
}

TEST_F(StoreTest, StatusCreatedWhileFifoPresentElseRunning) {
  store.create_dir("c1");
  ContainerRecord r = sample("c1");
  r.cgroup_paths.clear();
  r.pid = ::getpid();
  r.pid_start_time = process_start_time(::getpid());
  write_file(store.fifo_path("c1"), "");
  EXPECT_EQ(container_status(store, r), oci::Status::kCreated);
  ::unlink(store.fifo_path("c1").c_str());
  EXPECT_EQ(container_status(store, r), oci::Status::kRunning);
  // A live pid with another start time is a reused pid: stopped.
  r.pid_start_time += 1;
  EXPECT_EQ(container_status(store, r), oci::Status::kStopped);
}

TEST(ProcessStartTime, SelfIsNonZeroAndStable) {
  unsigned long long a = process_start_time(::getpid());
  EXPECT_NE(a, 0u);
  EXPECT_EQ(process_start_time(::getpid()), a);
  EXPECT_TRUE(process_alive(::getpid(), a));
  EXPECT_TRUE(process_alive(::getpid(), 0));
  EXPECT_FALSE(process_alive(::getpid(), a + 1));
  EXPECT_EQ(process_start_time(0), 0u);
  EXPECT_EQ(process_start_time(-1), 0u);
}

TEST(ProcessStartTime, ReapedChildIsZero) {
  pid_t pid = reaped_child_pid();
  EXPECT_EQ(process_start_time(pid), 0u);
  EXPECT_FALSE(process_alive(pid, 0));
}

TEST(ProcessStartTime, ZombieIsZero) {
  pid_t pid = ::fork();
  if (pid == 0) _exit(0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, pid, &info, WEXITED | WNOWAIT), 0);  // a zombie now, not reaped
  EXPECT_EQ(process_start_time(pid), 0u);
  ::waitpid(pid, nullptr, 0);
}

TEST(ProcessStartTime, CommandNameWithParensAndSpaces) {
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_NAME, "x) 1 2 (y", 0, 0, 0);
    char c = 'r';
    if (::write(ready[1], &c, 1) != 1) _exit(1);
    if (::read(done[0], &c, 1) < 0) _exit(1);
    _exit(0);
  }
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  EXPECT_THAT(read_file("/proc/" + std::to_string(pid) + "/stat"), HasSubstr("(x) 1 2 (y)"));
  unsigned long long t = process_start_time(pid);
  EXPECT_NE(t, 0u);
  // Start time in clock ticks since boot: not after "now".
  EXPECT_GE(t, process_start_time(::getpid()));
  ASSERT_EQ(::write(done[1], "d", 1), 1);
  ::waitpid(pid, nullptr, 0);
  for (int fd : {ready[0], ready[1], done[0], done[1]}) ::close(fd);
}

// --------------------------------------------------------------- shapes

TEST(StateJson, Shape) {
  ContainerRecord r = sample("c1");
  auto j = state_json(r, oci::Status::kRunning);
  EXPECT_EQ(j["id"], "c1");
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["bundle"], "/bundles/c1");
  EXPECT_EQ(j["rootfs"], "/bundles/c1/rootfs");
  EXPECT_EQ(j["created"], r.created);
  EXPECT_EQ(j["owner"], "root");
  EXPECT_EQ(j["ociVersion"], "1.0.2");
  EXPECT_EQ(j["annotations"]["b"], "two");
  j = state_json(r, oci::Status::kStopped);
  EXPECT_EQ(j["pid"], 0);
  EXPECT_EQ(j["status"], "stopped");

  oci::State s = oci_state(r, oci::Status::kCreated);
  EXPECT_EQ(s.pid, 4242);
  EXPECT_EQ(s.status, oci::Status::kCreated);
  EXPECT_EQ(s.bundle, r.bundle);
  EXPECT_EQ(s.annotations, r.annotations);
  EXPECT_EQ(oci_state(r, oci::Status::kStopped).pid, 0);
}

TEST(StateJson, ContainerProcessState) {
  auto j = container_process_state("1.0.2", 99, "meta", nlohmann::json{{"id", "c1"}});
  EXPECT_EQ(j["ociVersion"], "1.0.2");
  EXPECT_EQ(j["fds"], nlohmann::json::array({"seccompFd"}));
  EXPECT_EQ(j["pid"], 99);
  EXPECT_EQ(j["metadata"], "meta");
  EXPECT_EQ(j["state"]["id"], "c1");
  EXPECT_FALSE(container_process_state("1.0.2", 1, "", nlohmann::json::object()).contains("metadata"));
}

}  // namespace
}  // namespace berth::runtime
