"""Namespaces: new, joined by path, shared with the host, user namespaces."""
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import (remove_namespace, run, run_ok, set_namespace, start, status_field, ns_inode)


def test_new_pid_namespace_makes_process_pid_1(rt):
    out = run_ok(rt, ["sh", "-c", "echo $$; cut -d' ' -f4 /proc/1/stat; ls /proc | grep -c '^[0-9]'"])
    pid, ppid, nprocs = out.split()
    assert pid == "1"
    assert ppid == "0"
    # sh, cat/ls, grep: only the container's own processes are visible.
    assert int(nprocs) <= 4


def test_all_default_namespaces_differ_from_host(rt):
    cid, pid = start(rt)
    for kind in ("pid", "net", "ipc", "uts", "mnt"):
        assert ns_inode(pid, kind) != ns_inode(os.getpid(), kind), kind
    # Not asked for: shared with the host.
    for kind in ("user", "cgroup"):
        assert ns_inode(pid, kind) == ns_inode(os.getpid(), kind), kind


def test_new_network_namespace_has_only_loopback(rt):
    out = run_ok(rt, ["cat", "/proc/net/dev"])
    ifaces = [l.split(":")[0].strip() for l in out.splitlines()[2:]]
    assert ifaces == ["lo"]


def test_join_other_containers_net_ipc_uts_by_path(rt):
    def first(c):
        c["hostname"] = "first-host"
    cid1, pid1 = start(rt, ["sleep", "1000"], edit=first)
    # A SysV message queue made in the first container's IPC namespace
    # (busybox has no ipcmk; 0x4245 == 16965), and its loopback brought up.
    subprocess.run(["nsenter", f"--ipc=/proc/{pid1}/ns/ipc", "/usr/bin/python3", "-c",
                    "import ctypes; assert ctypes.CDLL(None).msgget(0x4245, 0o1600) >= 0"], check=True)
    rt.cmd("exec", "--cap", "CAP_NET_ADMIN", cid1, "ip", "link", "set", "lo", "up")

    def second(c):
        for kind, proc in (("network", "net"), ("ipc", "ipc"), ("uts", "uts")):
            set_namespace(c, kind, f"/proc/{pid1}/ns/{proc}")
        c.pop("hostname", None)
    b = rt.bundle(["sh", "-c", "hostname; grep -c '^ *16965 ' /proc/sysvipc/msg; readlink /proc/self/ns/net; "
                               "ip -o link show lo | grep -c LOWER_UP"], edit=second)
    cid2 = rt.new_id()
    p = rt.cmd("run", "--bundle", str(b), cid2)
    host, queues, netns, lo_up = p.stdout.split()
    assert host == "first-host"
    assert queues == "1"
    assert lo_up == "1"
    assert netns == ns_inode(pid1, "net")
    assert netns != ns_inode(os.getpid(), "net")
    # Control: a container that joins nothing sees neither.
    other = run_ok(rt, ["sh", "-c", "grep -c '^ *16965 ' /proc/sysvipc/msg; ip -o link show lo | grep -c LOWER_UP; true"])
    assert other.split() == ["0", "0"]


def test_joined_namespace_is_shared_while_both_run(rt):
    cid1, pid1 = start(rt)
    cid2, pid2 = start(rt, edit=lambda c: set_namespace(c, "network", f"/proc/{pid1}/ns/net"))
    assert ns_inode(pid2, "net") == ns_inode(pid1, "net")
    assert ns_inode(pid2, "ipc") != ns_inode(pid1, "ipc")
    assert ns_inode(pid2, "pid") != ns_inode(pid1, "pid")


def test_join_pid_namespace_of_other_container(rt):
    cid1, pid1 = start(rt)
    out = run_ok(rt, ["sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '"],
                 edit=lambda c: set_namespace(c, "pid", f"/proc/{pid1}/ns/pid"))
    mypid, init = out.split(None, 1)
    assert mypid != "1"
    assert init.strip() == "sleep 1000"


def test_host_pid_namespace(rt):
    def edit(c):
        remove_namespace(c, "pid")
    cid, pid = start(rt, ["sh", "-c", "echo $$ > /dev/shm/pid; sleep 1000"], edit=edit)
    assert ns_inode(pid, "pid") == ns_inode(os.getpid(), "pid")
    # The process sees itself with its host pid, and sees host processes.
    out = rt.cmd("exec", cid, "sh", "-c", f"cat /dev/shm/pid; test -d /proc/{os.getpid()} && echo host-visible").stdout
    inner, vis = out.split()
    assert int(inner) == pid
    assert vis == "host-visible"


def test_namespace_path_of_wrong_type_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: set_namespace(c, "network", f"/proc/{os.getpid()}/ns/uts"))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0
    assert "is not a network namespace" in p.stderr
    assert not (rt.root / cid).exists()


def test_namespace_path_missing_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: set_namespace(c, "network", "/proc/999999999/ns/net"))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "/proc/999999999/ns/net" in p.stderr
    assert not (rt.root / cid).exists()


def test_unknown_namespace_type_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: c["linux"]["namespaces"].append({"type": "bogus"}))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "bogus" in p.stderr
    assert not (rt.root / cid).exists()


def test_duplicate_namespace_is_refused(rt):
    b = rt.bundle(["true"], edit=lambda c: c["linux"]["namespaces"].append({"type": "pid"}))
    p = rt.cmd("create", "--bundle", str(b), rt.new_id(), check=False)
    assert p.returncode != 0 and "twice" in p.stderr


def test_hostname_without_uts_namespace_is_refused(rt):
    b = rt.bundle(["true"], edit=lambda c: remove_namespace(c, "uts"))
    p = rt.cmd("create", "--bundle", str(b), rt.new_id(), check=False)
    assert p.returncode != 0 and "hostname" in p.stderr
    assert os.uname().nodename != "berth"


def test_cgroup_namespace(rt):
    out = run_ok(rt, ["cat", "/proc/self/cgroup"], edit=lambda c: set_namespace(c, "cgroup"))
    # Inside a new cgroup namespace every hierarchy is rooted at the container's cgroup.
    lines = [l for l in out.splitlines() if l]
    assert lines
    for l in lines:
        assert l.split(":", 2)[2] == "/", l


# --- user namespaces -------------------------------------------------------

HOST_ID = 100000


def userns_bundle(rt, args, extra=None):
    """A bundle owned by HOST_ID in a world-traversable directory (pytest's tmp is 0700)."""
    outer = Path(tempfile.mkdtemp(prefix="berth-userns-"))
    os.chmod(outer, 0o755)

    def edit(c):
        set_namespace(c, "user")
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 65536}]
        if extra:
            extra(c)
    b = rt.bundle(args, edit=edit)
    dest = outer / "bundle"
    shutil.move(str(b), dest)
    subprocess.run(["chown", "-R", "-h", f"{HOST_ID}:{HOST_ID}", str(dest / "rootfs")], check=True)
    rt.cleanup_paths = getattr(rt, "cleanup_paths", []) + [outer]
    return dest


@pytest.fixture
def userns_rt(rt):
    yield rt
    for p in getattr(rt, "cleanup_paths", []):
        shutil.rmtree(p, ignore_errors=True)


def test_user_namespace_maps_ids(userns_rt):
    rt = userns_rt
    b = userns_bundle(rt, ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; "
                                       "touch /tmp/made-inside; mkdir /tmp/dir-inside"],
                      extra=lambda c: c["root"].update(readonly=False))
    p = rt.cmd("run", "--bundle", str(b), rt.new_id())
    lines = [l.split() for l in p.stdout.splitlines()]
    assert lines[0] == ["0", str(HOST_ID), "65536"]
    assert lines[1] == ["0", str(HOST_ID), "65536"]
    assert lines[2] == ["0"] and lines[3] == ["0"]
    st = os.stat(b / "rootfs" / "tmp" / "made-inside")
    assert (st.st_uid, st.st_gid) == (HOST_ID, HOST_ID)
    st = os.stat(b / "rootfs" / "tmp" / "dir-inside")
    assert (st.st_uid, st.st_gid) == (HOST_ID, HOST_ID)


def test_user_namespace_process_runs_as_mapped_host_uid(userns_rt):
    rt = userns_rt
    b = userns_bundle(rt, ["sleep", "1000"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    rt.cmd("start", cid)
    pid = rt.state(cid)["pid"]
    status = Path(f"/proc/{pid}/status").read_text()
    assert status_field(status, "Uid").split() == [str(HOST_ID)] * 4
    assert status_field(status, "Gid").split() == [str(HOST_ID)] * 4
    assert ns_inode(pid, "user") != ns_inode(os.getpid(), "user")
    # exec joins the user namespace too.
    out = rt.cmd("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map").stdout.split()
    assert out == ["0", "0", str(HOST_ID), "65536"]


def test_user_namespace_non_root_user(userns_rt):
    rt = userns_rt
    b = userns_bundle(rt, ["sh", "-c", "id -u; id -g"],
                      extra=lambda c: c["process"]["user"].update(uid=1000, gid=1000))
    out = rt.cmd("run", "--bundle", str(b), rt.new_id()).stdout.split()
    assert out == ["1000", "1000"]


def test_user_namespace_without_mappings_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: set_namespace(c, "user"))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "uidMappings" in p.stderr
    assert not (rt.root / cid).exists()


def test_mappings_without_user_namespace_are_refused(rt):
    def edit(c):
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 10}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 10}]
    p = rt.cmd("create", "--bundle", str(rt.bundle(["true"], edit=edit)), rt.new_id(), check=False)
    assert p.returncode != 0 and "user namespace" in p.stderr


def test_overlapping_mapping_is_refused_by_kernel(rt):
    cid = rt.new_id()

    def edit(c):
        set_namespace(c, "user")
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 100},
                                     {"containerID": 50, "hostID": 200000, "size": 100}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 100}]
    p = rt.cmd("create", "--bundle", str(rt.bundle(["true"], edit=edit)), cid, check=False)
    assert p.returncode != 0 and "uid_map" in p.stderr
    assert not (rt.root / cid).exists()
    # No process of the failed container may be left behind.
    leftovers = subprocess.run(["pgrep", "-f", f"berth-runtime.*{cid}"], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""


def test_zero_size_mapping_is_refused(rt):
    def edit(c):
        set_namespace(c, "user")
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 0}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": 10}]
    p = rt.cmd("create", "--bundle", str(rt.bundle(["true"], edit=edit)), rt.new_id(), check=False)
    assert p.returncode != 0 and "size 0" in p.stderr


def test_user_namespace_devices_work(userns_rt):
    """mknod is not allowed in a user namespace: the default devices are bound from the host."""
    rt = userns_rt
    b = userns_bundle(rt, ["sh", "-c", "echo x > /dev/null && head -c 3 /dev/zero | wc -c; "
                                       "stat -c '%t:%T' /dev/null /dev/urandom; "
                                       "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"],
                      extra=lambda c: c["linux"].setdefault("resources", {}).update(pids={"limit": 77}))
    out = rt.cmd("run", "--bundle", str(b), rt.new_id()).stdout.split()
    assert out == ["3", "1:3", "1:9", "77"]
