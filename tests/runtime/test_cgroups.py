"""Cgroups: limits on the host, update, pause/resume, ps, events --stats, kill --all, cleanup."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from berth_build import RUNTIME
from helpers import remove_namespace, start, wait_stopped, wait_until


def cgroup_mounts():
    """controller -> (mount point, is v2); v2 maps every controller listed in cgroup.controllers."""
    out = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        fstype, _, super_opts = post.split()[:3]
        mp = pre.split()[4]
        if fstype == "cgroup":
            for o in super_opts.split(","):
                if o not in ("rw", "ro") and not o.startswith(("release_agent", "clone_children")):
                    out.setdefault(o, (mp, False))
        elif fstype == "cgroup2":
            for c in Path(mp, "cgroup.controllers").read_text().split():
                out.setdefault(c, (mp, True))
            out.setdefault("", (mp, True))
    return out


MOUNTS = cgroup_mounts()


def cg_dir(pid, controller):
    """The host directory of pid's cgroup for controller, and whether it is a v2 directory."""
    mp, v2 = MOUNTS[controller]
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hid, ctrls, path = line.split(":", 2)
        if (v2 and hid == "0") or (not v2 and controller in ctrls.split(",")):
            return Path(mp + path), v2
    raise KeyError(controller)


def read_limit(pid, v1_file, v2_file, controller):
    d, v2 = cg_dir(pid, controller)
    return (d / (v2_file if v2 else v1_file)).read_text().strip()


def mem_limit(pid):
    return read_limit(pid, "memory.limit_in_bytes", "memory.max", "memory")


def pids_limit(pid):
    return read_limit(pid, "pids.max", "pids.max", "pids")


def with_resources(**res):
    def edit(c):
        c["linux"].setdefault("resources", {}).update(res)
    return edit


MiB = 1024 * 1024


def test_memory_and_pids_limits_on_host(rt):
    cid, pid = start(rt, edit=with_resources(memory={"limit": 64 * MiB}, pids={"limit": 50}))
    assert int(mem_limit(pid)) == 64 * MiB
    assert pids_limit(pid) == "50"
    # The container process is in a cgroup of its own, named after the id by default.
    d, _ = cg_dir(pid, "pids")
    assert d.name == cid
    assert str(pid) in (d / "cgroup.procs").read_text().split()


def test_cpu_limits_on_host(rt):
    if "cpu" not in MOUNTS:
        pytest.skip("no cpu controller on this host")
    cid, pid = start(rt, edit=with_resources(cpu={"shares": 512, "quota": 50000, "period": 100000}))
    d, v2 = cg_dir(pid, "cpu")
    if v2:
        assert (d / "cpu.max").read_text().split() == ["50000", "100000"]
    else:
        assert (d / "cpu.shares").read_text().strip() == "512"
        assert (d / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (d / "cpu.cfs_period_us").read_text().strip() == "100000"


def test_pids_limit_is_enforced(rt):
    # The init and four sleeps fit in pids.max=5; busybox sh gives up at the fifth fork.
    b = rt.bundle(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 100 & echo $i; done"],
                  edit=with_resources(pids={"limit": 5}))
    p = rt.cmd("run", "--bundle", str(b), rt.new_id(), check=False)
    assert p.returncode != 0
    assert p.stdout.split() == ["1", "2", "3", "4"]
    assert "can't fork: Resource temporarily unavailable" in p.stderr


def test_container_sees_its_own_cgroup_limits(rt):
    out = rt.cmd("run", "--bundle", str(rt.bundle(
        ["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || "
                     "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max"],
        edit=with_resources(memory={"limit": 96 * MiB}, pids={"limit": 33}))), rt.new_id()).stdout.split()
    assert out == ["33", str(96 * MiB)]


def test_update_flags(rt):
    cid, pid = start(rt, edit=with_resources(memory={"limit": 64 * MiB}, pids={"limit": 50}))
    rt.cmd("update", "--memory", "128m", "--pids-limit", "20", cid)
    assert int(mem_limit(pid)) == 128 * MiB
    assert pids_limit(pid) == "20"
    # Only what is given changes.
    rt.cmd("update", "--pids-limit", "25", cid)
    assert int(mem_limit(pid)) == 128 * MiB
    assert pids_limit(pid) == "25"


def test_update_resources_file_and_stdin(rt):
    cid, pid = start(rt, edit=with_resources(memory={"limit": 64 * MiB}, pids={"limit": 50}))
    f = rt.tmp / "res.json"
    f.write_text(json.dumps({"memory": {"limit": 80 * MiB}, "pids": {"limit": 42}}))
    rt.cmd("update", "-r", str(f), cid)
    assert int(mem_limit(pid)) == 80 * MiB
    assert pids_limit(pid) == "42"
    rt.cmd("update", "-r", "-", cid, input=json.dumps({"memory": {"limit": 90 * MiB}, "pids": {"limit": 43}}))
    assert int(mem_limit(pid)) == 90 * MiB
    assert pids_limit(pid) == "43"
    p = rt.cmd("update", "-r", "-", cid, input="{ not json", check=False)
    assert p.returncode != 0 and "malformed" in p.stderr
    assert pids_limit(pid) == "43"


def test_update_stopped_container_is_refused(rt):
    b = rt.bundle(["true"])
    cid = rt.new_id()
    rt.cmd("run", "--keep", "--bundle", str(b), cid)
    p = rt.cmd("update", "--pids-limit", "10", cid, check=False)
    assert p.returncode != 0 and "not running" in p.stderr


def test_pause_and_resume(rt):
    b = rt.bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /dev/shm/count; sleep 0.02; done"])
    cid, pid = start(rt, bundle=b)
    counter = Path(f"/proc/{pid}/root/dev/shm/count")
    assert wait_until(lambda: counter.exists() and counter.read_text().strip() not in ("", "1"))
    rt.cmd("pause", cid)
    assert rt.state(cid)["status"] == "paused"
    d, v2 = cg_dir(pid, "freezer") if "freezer" in MOUNTS else cg_dir(pid, "")
    if v2:
        assert (d / "cgroup.freeze").read_text().strip() == "1"
    else:
        assert (d / "freezer.state").read_text().strip() == "FROZEN"
    frozen = counter.read_text()
    time.sleep(0.3)
    assert counter.read_text() == frozen
    # A paused container cannot be paused, started or deleted without force.
    assert rt.cmd("pause", cid, check=False).returncode != 0
    assert rt.cmd("delete", cid, check=False).returncode != 0
    rt.cmd("resume", cid)
    assert rt.state(cid)["status"] == "running"
    assert wait_until(lambda: counter.read_text() != frozen)
    p = rt.cmd("resume", cid, check=False)
    assert p.returncode != 0 and "not paused" in p.stderr


def test_kill_all_reaches_a_paused_container(rt):
    cid, pid = start(rt)
    rt.cmd("pause", cid)
    rt.cmd("kill", "--all", cid, "KILL")
    wait_stopped(rt, cid)


def test_delete_force_paused_container(rt):
    cid, pid = start(rt)
    dirs = [cg_dir(pid, c)[0] for c in ("memory", "pids")]
    rt.cmd("pause", cid)
    rt.cmd("delete", "--force", cid)
    assert rt.cmd("state", cid, check=False).returncode != 0
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    for d in dirs:
        assert not d.exists()


def test_ps(rt):
    cid, pid = start(rt, ["sh", "-c", "sleep 1000 & sleep 1001 & wait"])
    assert wait_until(lambda: len(json.loads(rt.cmd("ps", "--format", "json", cid).stdout)) == 3)
    pids = json.loads(rt.cmd("ps", "--format", "json", cid).stdout)
    assert pid in pids
    for p in pids:
        assert Path(f"/proc/{p}/cgroup").read_text() == Path(f"/proc/{pid}/cgroup").read_text()
    table = rt.cmd("ps", cid).stdout.splitlines()
    assert "PID" in table[0].split()
    col = table[0].split().index("PID")
    assert sorted(int(l.split()[col]) for l in table[1:]) == sorted(pids)
    assert any("sleep 1001" in l for l in table[1:])
    # Extra arguments go to ps(1).
    table = rt.cmd("ps", cid, "-o", "pid,comm").stdout.splitlines()
    assert table[0].split() == ["PID", "COMMAND"]
    assert sorted(int(l.split()[0]) for l in table[1:]) == sorted(pids)


def test_events_stats(rt):
    cid, pid = start(rt, edit=with_resources(memory={"limit": 64 * MiB}, pids={"limit": 50}))
    ev = json.loads(rt.cmd("events", "--stats", cid).stdout)
    assert ev["type"] == "stats" and ev["id"] == cid
    data = ev["data"]
    assert data["pids"]["current"] >= 1
    assert data["pids"]["limit"] == 50
    assert data["memory"]["usage"]["usage"] > 0
    assert data["memory"]["usage"]["limit"] == 64 * MiB
    assert "cpu" in data and data["cpu"]["usage"]["total"] > 0


def test_events_stream_ends_when_container_goes(rt):
    cid, pid = start(rt)
    p = subprocess.Popen([str(RUNTIME), "--root", str(rt.root), "events", "--interval", "100ms", cid],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = json.loads(p.stdout.readline())
        assert first["type"] == "stats" and first["id"] == cid
        rt.cmd("delete", "--force", cid)
        assert p.wait(timeout=10) == 0
    finally:
        p.kill()
        p.wait()


def test_kill_all_in_shared_pid_namespace(rt):
    """With the host pid namespace, killing the init leaves its children; --all kills every process."""
    b = rt.bundle(["sh", "-c", "sleep 1000 & sleep 1000 & wait"], edit=lambda c: remove_namespace(c, "pid"))
    cid, pid = start(rt, bundle=b)
    assert wait_until(lambda: len(json.loads(rt.cmd("ps", "--format", "json", cid).stdout)) == 3)
    pids = json.loads(rt.cmd("ps", "--format", "json", cid).stdout)
    rt.cmd("kill", "--all", cid, "KILL")

    def all_gone():
        for p in pids:
            try:
                if Path(f"/proc/{p}/stat").read_text().split(") ")[1][0] != "Z":
                    return False
            except FileNotFoundError:
                pass
        return True
    assert wait_until(all_gone)
    wait_stopped(rt, cid)


def test_kill_signal_to_init_only(rt):
    cid, pid = start(rt, ["sh", "-c", "trap 'echo term > /dev/shm/got' TERM; while true; do sleep 0.05; done"])
    got = Path(f"/proc/{pid}/root/dev/shm/got")
    rt.cmd("kill", cid)  # default SIGTERM, handled by the trap: the init lives on
    assert wait_until(got.exists)
    assert rt.state(cid)["status"] == "running"
    rt.cmd("kill", cid, "SIGUSR1")  # unhandled: the kernel does not deliver it to a pid-namespace init
    time.sleep(0.2)
    assert rt.state(cid)["status"] == "running"
    rt.cmd("kill", cid, "KILL")
    wait_stopped(rt, cid)


def test_delete_force_running_container_removes_cgroups(rt):
    cid, pid = start(rt, edit=with_resources(memory={"limit": 64 * MiB}, pids={"limit": 50}))
    paths = json.loads((rt.root / cid / "state.json").read_text())["cgroup_paths"]
    dirs = {Path(p) for p in paths.values()}
    assert dirs and all(d.is_dir() for d in dirs)
    assert cg_dir(pid, "memory")[0] in dirs
    rt.cmd("delete", "--force", cid)
    for d in dirs:
        assert not d.exists(), d
    assert not (rt.root / cid).exists()


def test_delete_stopped_container_removes_cgroups(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"])
    rt.cmd("run", "--keep", "--bundle", str(b), cid)
    paths = json.loads((rt.root / cid / "state.json").read_text())["cgroup_paths"]
    assert all(Path(p).is_dir() for p in paths.values())
    rt.cmd("delete", cid)
    for p in paths.values():
        assert not Path(p).exists(), p


def test_absolute_cgroups_path(rt):
    parent = f"berth-e2e-{os.getpid()}"
    cid = rt.new_id()
    try:
        b = rt.bundle(["sleep", "1000"], edit=lambda c: c["linux"].update(cgroupsPath=f"/{parent}/{cid}-x"))
        rt.cmd("create", "--bundle", str(b), cid)
        pid = rt.state(cid)["pid"]
        for ctrl in ("pids", "memory"):
            d, v2 = cg_dir(pid, ctrl)
            assert d == Path(MOUNTS[ctrl][0]) / parent / f"{cid}-x"
        rt.cmd("delete", "--force", cid)
        assert not d.exists()
    finally:
        for c, (mp, _) in MOUNTS.items():
            subprocess.run(["rmdir", f"{mp}/{parent}"], capture_output=True)


def test_unavailable_controller_value_is_reported(rt):
    """A limit that the kernel refuses is an error naming the file, and nothing is left behind."""
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=with_resources(cpu={"cpus": "9999"}))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "cpuset" in p.stderr
    assert not (rt.root / cid).exists()
    assert subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "4", "-name", cid],
                          capture_output=True, text=True).stdout == ""


@pytest.mark.parametrize("keep", [True, False])
def test_stopped_container_leftovers_are_killed_on_delete(rt, keep):
    """Host pid namespace: the init exits but a background child stays in the cgroup. Deleting the stopped
    container (explicitly, or `run` cleaning up after itself) must kill it and remove the cgroup."""
    marker = f"sleep {4000 + (1 if keep else 2)}{os.getpid() % 1000}"
    b = rt.bundle(["sh", "-c", f"{marker} & echo $! > /dev/null"], edit=lambda c: remove_namespace(c, "pid"))
    cid = rt.new_id()
    rt.cmd("run", *(["--keep"] if keep else []), "--bundle", str(b), cid)

    def leftover():
        out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
        return [int(p) for p in out]
    if keep:
        assert rt.state(cid)["status"] == "stopped"
        assert leftover(), "the background child should still be running"
        paths = json.loads((rt.root / cid / "state.json").read_text())["cgroup_paths"]
        rt.cmd("delete", cid)
        for p in paths.values():
            assert not Path(p).exists(), p
    assert wait_until(lambda: not leftover())
    assert rt.cmd("state", cid, check=False).returncode != 0


def test_kill_all_reaches_leftovers_of_a_stopped_init(rt):
    marker = f"sleep 4003{os.getpid() % 1000}"
    b = rt.bundle(["sh", "-c", f"{marker} & echo $! > /dev/null"], edit=lambda c: remove_namespace(c, "pid"))
    cid = rt.new_id()
    rt.cmd("run", "--keep", "--bundle", str(b), cid)
    pids = lambda: subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
    assert pids()
    assert rt.cmd("kill", cid, "KILL", check=False).returncode != 0  # the init is gone
    rt.cmd("kill", "--all", cid, "KILL")
    assert wait_until(lambda: not pids())
    p = rt.cmd("kill", "--all", cid, "KILL", check=False)  # nothing left at all now
    assert p.returncode != 0 and "not running" in p.stderr
