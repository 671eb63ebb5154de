#include "oci/spec.h"

#include <unistd.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/error.h"
#include "oci/state.h"

namespace berth::oci {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The smallest valid document.
json minimal() { return json{{"ociVersion", "1.0.2"}, {"root", {{"path", "rootfs"}}}}; }

// Expects parse_spec(doc) to fail with a message containing `want`.
std::string spec_error(const json& doc, const std::string& origin = "config.json") {
  try {
    parse_spec(doc.dump(), origin);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for " << doc.dump();
  return "";
}

json with(json doc, const json::json_pointer& ptr, json value) {
  doc[ptr] = std::move(value);
  return doc;
}

TEST(ParseSpec, MinimalDocument) {
  Spec s = parse_spec(minimal().dump());
  EXPECT_EQ(s.oci_version, "1.0.2");
  EXPECT_EQ(s.root.path, "rootfs");
  EXPECT_FALSE(s.root.readonly);
  EXPECT_FALSE(s.process.has_value());
  EXPECT_TRUE(s.mounts.empty());
  EXPECT_FALSE(s.linux.resources.has_value());
  EXPECT_FALSE(s.linux.seccomp.has_value());
}

TEST(ParseSpec, DefaultSpecRoundTrips) {
  Spec s = parse_spec(default_spec_json(false).dump(1, '\t'));
  EXPECT_EQ(s.oci_version, "1.0.2-dev");
  ASSERT_TRUE(s.process);
  const Process& p = *s.process;
  EXPECT_TRUE(p.terminal);
  EXPECT_EQ(p.user.uid, 0u);
  EXPECT_EQ(p.args, std::vector<std::string>{"sh"});
  EXPECT_EQ(p.env, (std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                             "TERM=xterm"}));
  EXPECT_EQ(p.cwd, "/");
  ASSERT_TRUE(p.capabilities);
  std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  EXPECT_EQ(p.capabilities->bounding, caps);
  EXPECT_EQ(p.capabilities->ambient, caps);
  EXPECT_TRUE(p.capabilities->inheritable.empty());
  ASSERT_EQ(p.rlimits.size(), 1u);
  EXPECT_EQ(p.rlimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(p.rlimits[0].hard, 1024u);
  EXPECT_EQ(p.rlimits[0].soft, 1024u);
  EXPECT_TRUE(p.no_new_privileges);
  EXPECT_EQ(s.root.path, "rootfs");
  EXPECT_TRUE(s.root.readonly);
  EXPECT_EQ(s.hostname, "berth");
  ASSERT_EQ(s.mounts.size(), 7u);
  EXPECT_EQ(s.mounts[1].destination, "/dev");
  EXPECT_EQ(s.mounts[1].type, "tmpfs");
  EXPECT_EQ(s.mounts[1].source, "tmpfs");
  EXPECT_EQ(s.mounts[1].options, (std::vector<std::string>{"nosuid", "strictatime", "mode=755", "size=65536k"}));
  EXPECT_EQ(s.mounts[6].destination, "/sys/fs/cgroup");
  ASSERT_EQ(s.linux.namespaces.size(), 5u);
  EXPECT_EQ(s.linux.namespaces[0].type, "pid");
  EXPECT_EQ(s.linux.namespaces[1].type, "network");
  EXPECT_TRUE(s.linux.namespaces[1].path.empty());
  ASSERT_TRUE(s.linux.resources);
  ASSERT_EQ(s.linux.resources->devices.size(), 1u);
  EXPECT_FALSE(s.linux.resources->devices[0].allow);
  EXPECT_EQ(s.linux.resources->devices[0].access, "rwm");
  EXPECT_FALSE(s.linux.resources->devices[0].major);
  EXPECT_EQ(s.linux.masked_paths.size(), 10u);
  EXPECT_EQ(s.linux.masked_paths.front(), "/proc/acpi");
  EXPECT_EQ(s.linux.readonly_paths.back(), "/proc/sysrq-trigger");
  EXPECT_TRUE(s.linux.uid_mappings.empty());
}

TEST(DefaultSpec, RootlessHasUserNamespaceMappingsAndNoCgroup) {
  json j = default_spec_json(true);
  Spec s = parse_spec(j.dump());
  std::vector<std::string> types;
  for (const auto& n : s.linux.namespaces) types.push_back(n.type);
  EXPECT_THAT(types, ::testing::Contains("user"));
  EXPECT_THAT(types, ::testing::Not(::testing::Contains("network")));
  ASSERT_EQ(s.linux.uid_mappings.size(), 1u);
  ASSERT_EQ(s.linux.gid_mappings.size(), 1u);
  EXPECT_EQ(s.linux.uid_mappings[0].container_id, 0u);
  EXPECT_EQ(s.linux.uid_mappings[0].size, 1u);
  // As `runc spec --rootless`: the invoking user is root in the container.
  EXPECT_EQ(s.linux.uid_mappings[0].host_id, ::geteuid());
  EXPECT_EQ(s.linux.gid_mappings[0].host_id, ::getegid());
  EXPECT_FALSE(s.linux.resources);
  for (const auto& m : s.mounts) {
    EXPECT_NE(m.destination, "/sys/fs/cgroup");
    EXPECT_NE(m.type, "cgroup");
    EXPECT_THAT(m.options, ::testing::Not(::testing::Contains(::testing::StartsWith("gid="))));
    if (m.destination == "/sys") {
      EXPECT_EQ(m.type, "none");
      EXPECT_EQ(m.source, "/sys");
      EXPECT_THAT(m.options, ::testing::Contains("rbind"));
    }
  }
  EXPECT_EQ(s.mounts.size(), 6u);
  // The non-rootless template is unaffected.
  EXPECT_EQ(parse_spec(default_spec_json(false).dump()).mounts.size(), 7u);
}

TEST(ParseSpec, UnknownFieldsAreIgnored) {
  json doc = minimal();
  doc["futureField"] = {{"x", 1}};
  doc["root"]["futureFlag"] = true;
  doc["process"] = {{"cwd", "/"}, {"args", {"a"}}, {"someday", json::array({1, 2})}};
  doc["linux"] = {{"resources", {{"memory", {{"limit", 5}, {"newKnob", "x"}}}}}, {"intelRdt", {{"closID", "a"}}}};
  Spec s = parse_spec(doc.dump());
  EXPECT_EQ(s.process->args, std::vector<std::string>{"a"});
  EXPECT_EQ(s.linux.resources->memory->limit, 5);
}

TEST(ParseSpec, NullMeansAbsent) {
  json doc = minimal();
  doc["process"] = nullptr;
  doc["hostname"] = nullptr;
  doc["linux"] = {{"resources", nullptr}};
  Spec s = parse_spec(doc.dump());
  EXPECT_FALSE(s.process);
  EXPECT_FALSE(s.linux.resources);
}

TEST(ParseSpec, MalformedJson) {
  try {
    parse_spec("{ not json", "bundle/config.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), StartsWith("bundle/config.json: malformed JSON"));
  }
  EXPECT_THAT(spec_error(json::array()), HasSubstr("config.json: expected object"));
}

TEST(ParseSpec, ErrorsNameOriginThenJsonPath) {
  json doc = minimal();
  doc["process"] = {{"cwd", "/"}, {"args", {"sh", 5}}};
  EXPECT_EQ(spec_error(doc), "config.json: process.args[1]: expected string");
  EXPECT_EQ(spec_error(doc, "/b/config.json"), "/b/config.json: process.args[1]: expected string");

  doc = minimal();
  doc["linux"]["resources"]["memory"]["limit"] = "1G";
  EXPECT_EQ(spec_error(doc), "config.json: linux.resources.memory.limit: expected integer");

  doc = minimal();
  doc["linux"]["resources"]["memory"]["limit"] = 1.5;
  EXPECT_EQ(spec_error(doc), "config.json: linux.resources.memory.limit: expected integer");

  doc = minimal();
  doc["mounts"] = {{{"destination", "/a"}}, {{"destination", "/b"}, {"options", "ro"}}};
  EXPECT_EQ(spec_error(doc), "config.json: mounts[1].options: expected array of strings");

  doc = minimal();
  doc["hostname"] = 7;
  EXPECT_EQ(spec_error(doc), "config.json: hostname: expected string");

  doc = minimal();
  doc["root"]["readonly"] = "yes";
  EXPECT_EQ(spec_error(doc), "config.json: root.readonly: expected boolean");

  doc = minimal();
  doc["annotations"] = {{"a", 1}};
  EXPECT_EQ(spec_error(doc), "config.json: annotations.a: expected string");

  doc = minimal();
  doc["linux"] = {{"namespaces", {{{"type", "pid"}}, "net"}}};
  EXPECT_EQ(spec_error(doc), "config.json: linux.namespaces[1]: expected object");
}

TEST(ParseSpec, RequiredFieldsMissing) {
  EXPECT_EQ(spec_error(json{{"root", {{"path", "r"}}}}), "config.json: ociVersion: required field missing");
  EXPECT_EQ(spec_error(json{{"ociVersion", "1.0.0"}}), "config.json: root: required field missing");
  EXPECT_EQ(spec_error(with(minimal(), "/root"_json_pointer, json::object())),
            "config.json: root.path: required field missing");
  EXPECT_EQ(spec_error(with(minimal(), "/process"_json_pointer, {{"args", {"sh"}}})),
            "config.json: process.cwd: required field missing");
  EXPECT_EQ(spec_error(with(minimal(), "/mounts"_json_pointer, {{{"type", "tmpfs"}}})),
            "config.json: mounts[0].destination: required field missing");
  EXPECT_EQ(spec_error(with(minimal(), "/hooks/prestart"_json_pointer, {{{"args", {"x"}}}})),
            "config.json: hooks.prestart[0].path: required field missing");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/namespaces"_json_pointer, {{{"path", "/proc/1/ns/net"}}})),
            "config.json: linux.namespaces[0].type: required field missing");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/resources/devices"_json_pointer, {{{"access", "rwm"}}})),
            "config.json: linux.resources.devices[0].allow: required field missing");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/seccomp"_json_pointer, {{"syscalls", json::array()}})),
            "config.json: linux.seccomp.defaultAction: required field missing");
}

TEST(ParseSpec, ProcessCwdMustBeAbsolute) {
  EXPECT_THAT(spec_error(with(minimal(), "/process"_json_pointer, {{"cwd", "relative"}})),
              HasSubstr("process.cwd: must be an absolute path"));
}

TEST(ParseSpec, IntegerRanges) {
  EXPECT_EQ(spec_error(with(minimal(), "/process"_json_pointer, {{"cwd", "/"}, {"user", {{"uid", -1}}}})),
            "config.json: process.user.uid: negative value -1 not allowed");
  EXPECT_EQ(spec_error(with(minimal(), "/process"_json_pointer, {{"cwd", "/"}, {"user", {{"uid", 4294967296}}}})),
            "config.json: process.user.uid: value 4294967296 out of range");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/resources/cpu/shares"_json_pointer, -5)),
            "config.json: linux.resources.cpu.shares: negative value -5 not allowed");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/resources/memory/limit"_json_pointer, 9223372036854775808ULL)),
            "config.json: linux.resources.memory.limit: value 9223372036854775808 out of range");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/resources/blockIO/weight"_json_pointer, 70000)),
            "config.json: linux.resources.blockIO.weight: value 70000 out of range");
  EXPECT_EQ(spec_error(with(minimal(), "/process"_json_pointer, {{"cwd", "/"}, {"oomScoreAdj", 3000000000LL}})),
            "config.json: process.oomScoreAdj: value 3000000000 out of range");
  // Signed fields take negatives.
  Spec s = parse_spec(with(minimal(), "/linux/resources/memory/limit"_json_pointer, -1).dump());
  EXPECT_EQ(s.linux.resources->memory->limit, -1);
  s = parse_spec(with(minimal(), "/process"_json_pointer, {{"cwd", "/"}, {"oomScoreAdj", -1000}}).dump());
  EXPECT_EQ(s.process->oom_score_adj, -1000);
}

TEST(ParseSpec, AbsentAndZeroAreDistinct) {
  json doc = minimal();
  doc["linux"]["resources"] = {{"memory", {{"reservation", 100}}}, {"cpu", {{"quota", 0}}}, {"pids", json::object()}};
  Spec s = parse_spec(doc.dump());
  const auto& r = *s.linux.resources;
  ASSERT_TRUE(r.memory);
  EXPECT_FALSE(r.memory->limit.has_value());
  EXPECT_EQ(r.memory->reservation, 100);
  EXPECT_FALSE(r.memory->disable_oom_killer.has_value());
  ASSERT_TRUE(r.cpu);
  ASSERT_TRUE(r.cpu->quota.has_value());
  EXPECT_EQ(*r.cpu->quota, 0);
  EXPECT_FALSE(r.cpu->shares.has_value());
  EXPECT_FALSE(r.pids_limit.has_value());
  EXPECT_FALSE(r.block_io.has_value());

  doc["linux"]["resources"]["memory"]["limit"] = 0;
  doc["linux"]["resources"]["memory"]["disableOOMKiller"] = false;
  doc["linux"]["resources"]["pids"]["limit"] = 0;
  s = parse_spec(doc.dump());
  ASSERT_TRUE(s.linux.resources->memory->limit.has_value());
  EXPECT_EQ(*s.linux.resources->memory->limit, 0);
  ASSERT_TRUE(s.linux.resources->memory->disable_oom_killer.has_value());
  EXPECT_FALSE(*s.linux.resources->memory->disable_oom_killer);
  ASSERT_TRUE(s.linux.resources->pids_limit.has_value());
  EXPECT_EQ(*s.linux.resources->pids_limit, 0);
}

TEST(ParseSpec, ResourcesParsed) {
  json res = json::parse(R"({
    "devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    "memory": {"limit": 536870912, "reservation": 1, "swap": -1, "kernel": 2, "kernelTCP": 3,
               "swappiness": 60, "disableOOMKiller": true, "useHierarchy": false, "checkBeforeUpdate": true},
    "cpu": {"shares": 1024, "quota": 50000, "burst": 10, "period": 100000, "realtimeRuntime": 950,
            "realtimePeriod": 1000, "cpus": "0-1", "mems": "0", "idle": 1},
    "pids": {"limit": 32},
    "blockIO": {"weight": 500, "leafWeight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 600}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
    "unified": {"memory.high": "max", "io.weight": "default 100"}
  })");
  Spec s = parse_spec(with(minimal(), "/linux/resources"_json_pointer, res).dump());
  const Resources& r = *s.linux.resources;
  ASSERT_EQ(r.devices.size(), 1u);
  EXPECT_TRUE(r.devices[0].allow);
  EXPECT_EQ(r.devices[0].type, "c");
  EXPECT_EQ(r.devices[0].major, 1);
  EXPECT_EQ(r.devices[0].minor, 3);
  EXPECT_EQ(r.devices[0].access, "rw");
  EXPECT_EQ(r.memory->limit, 536870912);
  EXPECT_EQ(r.memory->swap, -1);
  EXPECT_EQ(r.memory->kernel, 2);
  EXPECT_EQ(r.memory->kernel_tcp, 3);
  EXPECT_EQ(r.memory->swappiness, 60u);
  EXPECT_EQ(r.memory->disable_oom_killer, true);
  EXPECT_EQ(r.memory->use_hierarchy, false);
  EXPECT_EQ(r.memory->check_before_update, true);
  EXPECT_EQ(r.cpu->shares, 1024u);
  EXPECT_EQ(r.cpu->quota, 50000);
  EXPECT_EQ(r.cpu->burst, 10u);
  EXPECT_EQ(r.cpu->period, 100000u);
  EXPECT_EQ(r.cpu->realtime_runtime, 950);
  EXPECT_EQ(r.cpu->realtime_period, 1000u);
  EXPECT_EQ(r.cpu->cpus, "0-1");
  EXPECT_EQ(r.cpu->mems, "0");
  EXPECT_EQ(r.cpu->idle, 1);
  EXPECT_EQ(r.pids_limit, 32);
  EXPECT_EQ(r.block_io->weight, 500);
  EXPECT_EQ(r.block_io->leaf_weight, 300);
  ASSERT_EQ(r.block_io->weight_device.size(), 1u);
  EXPECT_EQ(r.block_io->weight_device[0].major, 8);
  EXPECT_EQ(r.block_io->weight_device[0].weight, 600);
  EXPECT_FALSE(r.block_io->weight_device[0].leaf_weight);
  ASSERT_EQ(r.block_io->throttle_read_bps.size(), 1u);
  EXPECT_EQ(r.block_io->throttle_read_bps[0].rate, 1048576u);
  EXPECT_TRUE(r.block_io->throttle_write_bps.empty());
  ASSERT_EQ(r.block_io->throttle_write_iops.size(), 1u);
  EXPECT_EQ(r.block_io->throttle_write_iops[0].minor, 16);
  EXPECT_EQ(r.block_io->throttle_write_iops[0].rate, 100u);
  ASSERT_EQ(r.hugepage_limits.size(), 1u);
  EXPECT_EQ(r.hugepage_limits[0].page_size, "2MB");
  EXPECT_EQ(r.hugepage_limits[0].limit, 209715200u);
  EXPECT_EQ(r.network->class_id, 1048577u);
  ASSERT_EQ(r.network->priorities.size(), 1u);
  EXPECT_EQ(r.network->priorities[0], (std::pair<std::string, uint32_t>{"eth0", 500}));
  EXPECT_EQ(r.unified.at("io.weight"), "default 100");
  EXPECT_EQ(r.unified.size(), 2u);
}

TEST(ParseResources, StandaloneForUpdate) {
  Resources r = parse_resources(json{{"memory", {{"limit", 1000}}}}, "resources");
  EXPECT_EQ(r.memory->limit, 1000);
  try {
    parse_resources(json{{"pids", {{"limit", "x"}}}}, "resources");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "resources.pids.limit: expected integer");
  }
}

TEST(ParseSpec, ProcessParsed) {
  json proc = json::parse(R"({
    "terminal": true, "consoleSize": {"height": 25, "width": 80},
    "user": {"uid": 1000, "gid": 100, "umask": 18, "additionalGids": [5, 6], "username": "u"},
    "args": ["/bin/app", "-v"], "env": ["A=1"], "cwd": "/work",
    "capabilities": {"bounding": ["CAP_CHOWN"], "effective": [], "inheritable": ["CAP_KILL"],
                     "permitted": ["CAP_CHOWN"], "ambient": []},
    "rlimits": [{"type": "RLIMIT_CORE", "hard": 10, "soft": 5}],
    "noNewPrivileges": true, "apparmorProfile": "p", "oomScoreAdj": 100, "selinuxLabel": "l"
  })");
  Spec s = parse_spec(with(minimal(), "/process"_json_pointer, proc).dump());
  const Process& p = *s.process;
  EXPECT_TRUE(p.terminal);
  ASSERT_TRUE(p.console_size);
  EXPECT_EQ(p.console_size->height, 25u);
  EXPECT_EQ(p.console_size->width, 80u);
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.user.gid, 100u);
  EXPECT_EQ(p.user.umask, 18u);
  EXPECT_EQ(p.user.additional_gids, (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(p.user.username, "u");
  EXPECT_EQ(p.args, (std::vector<std::string>{"/bin/app", "-v"}));
  EXPECT_EQ(p.cwd, "/work");
  EXPECT_EQ(p.capabilities->inheritable, std::vector<std::string>{"CAP_KILL"});
  EXPECT_TRUE(p.capabilities->effective.empty());
  ASSERT_EQ(p.rlimits.size(), 1u);
  EXPECT_EQ(p.rlimits[0].type, "RLIMIT_CORE");
  EXPECT_EQ(p.rlimits[0].hard, 10u);
  EXPECT_EQ(p.rlimits[0].soft, 5u);
  EXPECT_TRUE(p.no_new_privileges);
  EXPECT_EQ(p.apparmor_profile, "p");
  EXPECT_EQ(p.oom_score_adj, 100);
  EXPECT_EQ(p.selinux_label, "l");

  // Optional pieces stay absent.
  s = parse_spec(with(minimal(), "/process"_json_pointer, {{"cwd", "/"}}).dump());
  EXPECT_FALSE(s.process->console_size);
  EXPECT_FALSE(s.process->capabilities);
  EXPECT_FALSE(s.process->oom_score_adj);
  EXPECT_FALSE(s.process->user.umask);
}

TEST(ParseProcess, ForExecProcessFile) {
  Process p = parse_process(json{{"args", {"ls", "-l"}}, {"cwd", "/tmp"}, {"env", {"X=y"}}}, "process");
  EXPECT_EQ(p.args, (std::vector<std::string>{"ls", "-l"}));
  EXPECT_EQ(p.cwd, "/tmp");
  EXPECT_EQ(p.env, std::vector<std::string>{"X=y"});
  try {
    parse_process(json{{"cwd", "/"}, {"rlimits", {{{"hard", 1}}}}}, "process");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "process.rlimits[0].type: required field missing");
  }
  try {
    parse_process(json{{"args", {"ls"}}}, "process");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "process.cwd: required field missing");
  }
  EXPECT_THROW(parse_process(json::array(), "process"), Error);
}

TEST(ParseSpec, MountsAndIdmappedMountsRejected) {
  json doc = minimal();
  doc["mounts"] = {{{"destination", "/data"}, {"type", "bind"}, {"source", "/srv"}, {"options", {"rbind", "ro"}}}};
  Spec s = parse_spec(doc.dump());
  ASSERT_EQ(s.mounts.size(), 1u);
  EXPECT_EQ(s.mounts[0].destination, "/data");
  EXPECT_EQ(s.mounts[0].type, "bind");
  EXPECT_EQ(s.mounts[0].source, "/srv");
  EXPECT_EQ(s.mounts[0].options, (std::vector<std::string>{"rbind", "ro"}));
  doc["mounts"][0]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1}, {"size", 1}}};
  EXPECT_EQ(spec_error(doc), "config.json: mounts[0]: idmapped mounts are not supported");
}

TEST(ParseSpec, HooksParsed) {
  json hooks = json::parse(R"({
    "prestart": [{"path": "/bin/a"}],
    "createRuntime": [{"path": "/bin/b", "args": ["b", "1"], "env": ["K=V"], "timeout": 5}],
    "createContainer": [{"path": "/bin/c"}, {"path": "/bin/c2"}],
    "startContainer": [{"path": "/bin/d"}],
    "poststart": [{"path": "/bin/e"}],
    "poststop": [{"path": "/bin/f"}]
  })");
  Spec s = parse_spec(with(minimal(), "/hooks"_json_pointer, hooks).dump());
  ASSERT_EQ(s.hooks.prestart.size(), 1u);
  EXPECT_EQ(s.hooks.prestart[0].path, "/bin/a");
  EXPECT_FALSE(s.hooks.prestart[0].timeout);
  ASSERT_EQ(s.hooks.create_runtime.size(), 1u);
  const Hook& h = s.hooks.create_runtime[0];
  EXPECT_EQ(h.args, (std::vector<std::string>{"b", "1"}));
  EXPECT_EQ(h.env, std::vector<std::string>{"K=V"});
  EXPECT_EQ(h.timeout, 5);
  EXPECT_EQ(s.hooks.create_container.size(), 2u);
  EXPECT_EQ(s.hooks.create_container[1].path, "/bin/c2");
  EXPECT_EQ(s.hooks.start_container[0].path, "/bin/d");
  EXPECT_EQ(s.hooks.poststart[0].path, "/bin/e");
  EXPECT_EQ(s.hooks.poststop[0].path, "/bin/f");

  EXPECT_EQ(spec_error(with(minimal(), "/hooks/poststop"_json_pointer, {{{"path", "/x"}, {"timeout", 0}}})),
            "config.json: hooks.poststop[0].timeout: timeout must be positive");
}

TEST(Hook, JsonRoundTrip) {
  Hook h;
  h.path = "/usr/bin/hook";
  h.args = {"hook", "--flag"};
  h.env = {"A=B"};
  h.timeout = 3;
  Hook back = parse_hook(hook_to_json(h), "hook");
  EXPECT_EQ(back.path, h.path);
  EXPECT_EQ(back.args, h.args);
  EXPECT_EQ(back.env, h.env);
  EXPECT_EQ(back.timeout, h.timeout);
  Hook bare;
  bare.path = "/x";
  EXPECT_EQ(hook_to_json(bare), (json{{"path", "/x"}}));
}

TEST(ParseSpec, LinuxSectionParsed) {
  json linux = json::parse(R"({
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x"}],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 1000}, {"containerID": 1000, "hostID": 1, "size": 1}],
    "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}],
    "cgroupsPath": "/berth/x",
    "sysctl": {"net.ipv4.ip_forward": "1"},
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "mountLabel": "lbl",
    "timeOffsets": {"monotonic": {"secs": -5, "nanosecs": 7}, "boottime": {"secs": 1000}}
  })");
  Spec s = parse_spec(with(minimal(), "/linux"_json_pointer, linux).dump());
  const Linux& l = s.linux;
  ASSERT_EQ(l.namespaces.size(), 2u);
  EXPECT_EQ(l.namespaces[1].type, "network");
  EXPECT_EQ(l.namespaces[1].path, "/var/run/netns/x");
  ASSERT_EQ(l.uid_mappings.size(), 1u);
  EXPECT_EQ(l.uid_mappings[0].host_id, 100000u);
  EXPECT_EQ(l.uid_mappings[0].size, 65536u);
  ASSERT_EQ(l.gid_mappings.size(), 2u);
  EXPECT_EQ(l.gid_mappings[1].container_id, 1000u);
  EXPECT_EQ(l.gid_mappings[1].host_id, 1u);
  ASSERT_EQ(l.devices.size(), 1u);
  EXPECT_EQ(l.devices[0].path, "/dev/fuse");
  EXPECT_EQ(l.devices[0].major, 10);
  EXPECT_EQ(l.devices[0].minor, 229);
  EXPECT_EQ(l.devices[0].file_mode, 438u);
  EXPECT_EQ(l.devices[0].uid, 0u);
  EXPECT_EQ(l.cgroups_path, "/berth/x");
  EXPECT_EQ(l.sysctl.at("net.ipv4.ip_forward"), "1");
  EXPECT_EQ(l.rootfs_propagation, "rslave");
  EXPECT_EQ(l.masked_paths, std::vector<std::string>{"/proc/kcore"});
  EXPECT_EQ(l.readonly_paths, std::vector<std::string>{"/proc/sys"});
  EXPECT_EQ(l.mount_label, "lbl");
  EXPECT_EQ(l.time_offsets_secs.at("monotonic"), -5);
  EXPECT_EQ(l.time_offsets_nanosecs.at("monotonic"), 7u);
  EXPECT_EQ(l.time_offsets_secs.at("boottime"), 1000);
  EXPECT_EQ(l.time_offsets_nanosecs.at("boottime"), 0u);

  EXPECT_EQ(spec_error(with(minimal(), "/linux/timeOffsets/monotonic/nanosecs"_json_pointer, -1)),
            "config.json: linux.timeOffsets.monotonic.nanosecs: negative value -1 not allowed");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/devices"_json_pointer, {{{"type", "c"}}})),
            "config.json: linux.devices[0].path: required field missing");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/uidMappings"_json_pointer, {{{"containerID", 0}, {"hostID", -2}}})),
            "config.json: linux.uidMappings[0].hostID: negative value -2 not allowed");
}

TEST(ParseSpec, SeccompParsed) {
  json seccomp = json::parse(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "listenerPath": "/run/agent.sock", "listenerMetadata": "meta",
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
       "args": [{"index": 0, "value": 8, "valueTwo": 9, "op": "SCMP_CMP_MASKED_EQ"}]}
    ]
  })");
  Spec s = parse_spec(with(minimal(), "/linux/seccomp"_json_pointer, seccomp).dump());
  ASSERT_TRUE(s.linux.seccomp);
  const Seccomp& sc = *s.linux.seccomp;
  EXPECT_EQ(sc.default_action, "SCMP_ACT_ERRNO");
  EXPECT_EQ(sc.default_errno_ret, 1u);
  EXPECT_EQ(sc.architectures.size(), 2u);
  EXPECT_EQ(sc.flags, std::vector<std::string>{"SECCOMP_FILTER_FLAG_LOG"});
  EXPECT_EQ(sc.listener_path, "/run/agent.sock");
  EXPECT_EQ(sc.listener_metadata, "meta");
  ASSERT_EQ(sc.syscalls.size(), 2u);
  EXPECT_EQ(sc.syscalls[0].names, (std::vector<std::string>{"read", "write"}));
  EXPECT_FALSE(sc.syscalls[0].errno_ret);
  EXPECT_EQ(sc.syscalls[1].errno_ret, 38u);
  ASSERT_EQ(sc.syscalls[1].args.size(), 1u);
  EXPECT_EQ(sc.syscalls[1].args[0].index, 0u);
  EXPECT_EQ(sc.syscalls[1].args[0].value, 8u);
  EXPECT_EQ(sc.syscalls[1].args[0].value_two, 9u);
  EXPECT_EQ(sc.syscalls[1].args[0].op, "SCMP_CMP_MASKED_EQ");

  json bad = seccomp;
  bad["syscalls"][1]["args"][0].erase("op");
  EXPECT_EQ(spec_error(with(minimal(), "/linux/seccomp"_json_pointer, bad)),
            "config.json: linux.seccomp.syscalls[1].args[0].op: required field missing");
}

TEST(HookState, JsonShape) {
  State st;
  st.oci_version = "1.0.2";
  st.id = "c1";
  st.status = Status::kCreated;
  st.pid = 42;
  st.bundle = "/b";
  st.annotations = {{"k", "v"}};
  json j = hook_state_json(st);
  EXPECT_EQ(j, (json{{"ociVersion", "1.0.2"}, {"id", "c1"}, {"status", "created"}, {"pid", 42}, {"bundle", "/b"},
                     {"annotations", {{"k", "v"}}}}));
  st.status = Status::kStopped;
  st.pid = 0;
  j = hook_state_json(st);
  EXPECT_FALSE(j.contains("pid"));
  EXPECT_EQ(j["status"], "stopped");
}

}  // namespace
}  // namespace berth::oci
