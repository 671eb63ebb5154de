// The cgroup v2 device controller: a BPF_PROG_TYPE_CGROUP_DEVICE program
// attached to the container's cgroup (BPF_CGROUP_DEVICE), which the kernel
// runs on every device open and mknod.
//
// The program is assembled by hand and loaded with the raw bpf(2) syscall,
// as runc's devicefilter and crun's ebpf.c do: it is a dozen instructions
// of straight-line compares, and no Debian-packaged library generates
// device filters (libbpf only loads compiled objects, which would mean
// shipping a clang-built object and a loader for it in a static binary).
//
// Program shape, for struct bpf_cgroup_dev_ctx {u32 access_type; u32 major;
// u32 minor;} in R1 (access_type: device type in the low 16 bits, access
// bits in the high 16):
//   R2 = type, R3 = access, R4 = major, R5 = minor
//   per exception: if (type, access subset, major, minor) match: return allow
//   return default
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "base/error.h"
#include "base/fd.h"
#include "base/strings.h"
#include "runtime/cgroup_internal.h"

namespace berth::runtime::cg {
namespace {

enum Reg : uint8_t { R0 = 0, R1, R2, R3, R4, R5 };

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  std::memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

bpf_insn load_word(uint8_t dst, uint8_t src, int16_t off) { return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0); }
bpf_insn alu32_imm(uint8_t op, uint8_t dst, int32_t imm) { return insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm); }
bpf_insn mov32_reg(uint8_t dst, uint8_t src) { return insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0); }
// Jump offsets are patched once the block's length is known.
bpf_insn jne_imm(uint8_t dst, int32_t imm) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, 0, imm); }
bpf_insn jne_reg(uint8_t dst, uint8_t src) { return insn(BPF_JMP | BPF_JNE | BPF_X, dst, src, 0, 0); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

long bpf(int cmd, union bpf_attr* attr) { return ::syscall(SYS_bpf, cmd, attr, sizeof *attr); }

uint64_t ptr(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

UniqueFd load_program(const std::vector<bpf_insn>& insns) {
  static const char kLicense[] = "Apache";  // gates GPL-only helpers; none are called
  std::string log(1 << 16, '\0');
  auto load = [&](bool with_log) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = ptr(insns.data());
    attr.insn_cnt = static_cast<uint32_t>(insns.size());
    attr.license = ptr(kLicense);
    if (with_log) {
      attr.log_buf = ptr(log.data());
      attr.log_size = static_cast<uint32_t>(log.size());
      attr.log_level = 1;
    }
    long fd;
    do fd = bpf(BPF_PROG_LOAD, &attr);
    while (fd < 0 && errno == EINTR);
    return fd;
  };
  long fd = load(false);
  if (fd < 0 && errno == EPERM) {
    // Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; lift it for
    // the load only (runc lifts it for good).
    struct rlimit old, inf = {RLIM_INFINITY, RLIM_INFINITY};
    if (::getrlimit(RLIMIT_MEMLOCK, &old) == 0 && ::setrlimit(RLIMIT_MEMLOCK, &inf) == 0) {
      fd = load(false);
      int e = errno;
      ::setrlimit(RLIMIT_MEMLOCK, &old);
      errno = e;
    }
  }
  if (fd < 0) {
    int e = errno;
    if (e == EINVAL || e == EACCES) {
      load(true);  // the verifier's reason, on one line
      std::string why(log.c_str());
      for (char& c : why)
        if (c == '\n') c = ' ';
      if (!trim(why).empty()) fail("cgroup: load device filter: {}: {}", strerror_text(e), trim(why));
    }
    errno = e;
    fail_errno("cgroup: load device filter (bpf BPF_PROG_LOAD)");
  }
  return UniqueFd(static_cast<int>(fd));
}

uint32_t program_id(int prog_fd) {
  struct bpf_prog_info info;
  std::memset(&info, 0, sizeof info);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = static_cast<uint32_t>(prog_fd);
  attr.info.info_len = sizeof info;
  attr.info.info = ptr(&info);
  if (bpf(BPF_OBJ_GET_INFO_BY_FD, &attr) != 0) fail_errno("cgroup: device filter id (bpf BPF_OBJ_GET_INFO_BY_FD)");
  return info.id;
}

std::vector<uint32_t> query(int dir_fd, const std::string& dir) {
  std::vector<uint32_t> ids(64);
  while (true) {
    union bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.query.target_fd = static_cast<uint32_t>(dir_fd);
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = ptr(ids.data());
    attr.query.prog_cnt = static_cast<uint32_t>(ids.size());
    if (bpf(BPF_PROG_QUERY, &attr) == 0) {
      ids.resize(attr.query.prog_cnt);
      return ids;
    }
    if (errno != ENOSPC) fail_errno("cgroup: list device filters of {} (bpf BPF_PROG_QUERY)", dir);
    ids.resize(attr.query.prog_cnt + 16);
  }
}

UniqueFd open_dir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) fail_errno("cgroup: open {}", dir);
  return fd;
}

}  // namespace

std::vector<bpf_insn> device_filter_program(const DeviceRuleSet& set) {
  std::vector<bpf_insn> p = {
      load_word(R2, R1, 0), alu32_imm(BPF_AND, R2, 0xffff),  // type
      load_word(R3, R1, 0), alu32_imm(BPF_RSH, R3, 16),      // access
      load_word(R4, R1, 4),                                  // major
      load_word(R5, R1, 8),                                  // minor
  };
  const int32_t allow = set.default_allow ? 0 : 1;  // what an exception does
  for (const auto& r : set.exceptions) {
    if (r.major > INT32_MAX || r.minor > INT32_MAX)
      fail("cgroup: device rule {:?}: number out of range", device_rule_line(r));
    std::vector<bpf_insn> block;
    block.push_back(jne_imm(R2, r.type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
    int32_t access = 0;
    if (r.access & kDevRead) access |= BPF_DEVCG_ACC_READ;
    if (r.access & kDevWrite) access |= BPF_DEVCG_ACC_WRITE;
    if (r.access & kDevMknod) access |= BPF_DEVCG_ACC_MKNOD;
    if (access != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
      // Requested access must be a subset: (access & rule) == access. R1
      // (the context) is no longer needed, so it serves as scratch.
      block.push_back(mov32_reg(R1, R3));
      block.push_back(alu32_imm(BPF_AND, R1, access));
      block.push_back(jne_reg(R1, R3));
    }
    if (r.major >= 0) block.push_back(jne_imm(R4, static_cast<int32_t>(r.major)));
    if (r.minor >= 0) block.push_back(jne_imm(R5, static_cast<int32_t>(r.minor)));
    block.push_back(alu32_imm(BPF_MOV, R0, allow));
    block.push_back(exit_insn());
    // Every mismatch skips to the next block.
    for (size_t i = 0; i < block.size(); ++i)
      if (BPF_CLASS(block[i].code) == BPF_JMP && BPF_OP(block[i].code) == BPF_JNE)
        block[i].off = static_cast<int16_t>(block.size() - 1 - i);
    p.insert(p.end(), block.begin(), block.end());
  }
  p.push_back(alu32_imm(BPF_MOV, R0, set.default_allow ? 1 : 0));
  p.push_back(exit_insn());
  return p;
}

void attach_device_filter(const std::string& dir, const DeviceRuleSet& set) {
  UniqueFd prog = load_program(device_filter_program(set));
  UniqueFd dir_fd = open_dir(dir);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(dir_fd.get());
  attr.attach_bpf_fd = static_cast<uint32_t>(prog.get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, &attr) != 0) fail_errno("cgroup: attach device filter to {} (bpf BPF_PROG_ATTACH)", dir);
  // The attachment holds the program; our fd can close. Now drop the
  // previous filters so the new one alone decides.
  uint32_t ours = program_id(prog.get());
  for (uint32_t id : query(dir_fd.get(), dir)) {
    if (id == ours) continue;
    std::memset(&attr, 0, sizeof attr);
    attr.prog_id = id;
    long fd = bpf(BPF_PROG_GET_FD_BY_ID, &attr);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // detached meanwhile
      fail_errno("cgroup: open old device filter {} of {} (bpf BPF_PROG_GET_FD_BY_ID)", id, dir);
    }
    UniqueFd old(static_cast<int>(fd));
    std::memset(&attr, 0, sizeof attr);
    attr.target_fd = static_cast<uint32_t>(dir_fd.get());
    attr.attach_bpf_fd = static_cast<uint32_t>(old.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, &attr) != 0 && errno != ENOENT)
      fail_errno("cgroup: detach old device filter {} from {} (bpf BPF_PROG_DETACH)", id, dir);
  }
}

std::vector<uint32_t> attached_device_programs(const std::string& dir) {
  UniqueFd dir_fd = open_dir(dir);
  return query(dir_fd.get(), dir);
}

}  // namespace berth::runtime::cg
