"""OCI hooks: all six phases, their state on stdin, ordering, namespaces, failures and timeouts."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from helpers import start, wait_stopped, wait_until, ns_inode

PHASES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def recorder(phase, outdir, extra=""):
    """A hook that saves its stdin, argv, env and a line in `order`. startContainer runs inside the
    container (after pivot_root), where the host directory is bind-mounted at /hooks."""
    d = "/hooks" if phase == "startContainer" else str(outdir)
    script = (f'cat > {d}/{phase}.json; echo "$0 $*" > {d}/{phase}.argv; env > {d}/{phase}.env; '
              f'readlink /proc/self/ns/mnt > {d}/{phase}.mntns; hostname > {d}/{phase}.hostname; '
              f'{extra} echo {phase} >> {d}/order')
    return {"path": "/bin/sh", "args": ["sh", "-c", script, "hookarg0", "hookarg1"], "env": [f"HOOK_PHASE={phase}"]}


def all_hooks(outdir):
    def edit(c):
        c["hooks"] = {p: [recorder(p, outdir)] for p in PHASES}
        c["hostname"] = "hooked"
        c["annotations"] = {"org.example/key": "value"}
        c["mounts"].append({"destination": "/hooks", "type": "bind", "source": str(outdir), "options": ["bind"]})
    return edit


@pytest.fixture
def hookdir(rt):
    d = rt.tmp / "hookout"
    d.mkdir()
    d.chmod(0o777)
    return d


def load(d, phase):
    return json.loads((d / f"{phase}.json").read_text())


def test_all_six_hooks_run_with_state(rt, hookdir):
    b = rt.bundle(["sh", "-c", "echo user-process >> /hooks/order; sleep 1000"], edit=all_hooks(hookdir))
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    pid = rt.state(cid)["pid"]
    # create ran the first three hooks, nothing else yet.
    assert (hookdir / "order").read_text().split() == ["prestart", "createRuntime", "createContainer"]
    rt.cmd("start", cid)
    assert wait_until(lambda: "user-process" in (hookdir / "order").read_text())
    assert "poststart" in (hookdir / "order").read_text()
    rt.cmd("kill", cid, "KILL")
    wait_stopped(rt, cid)
    assert "poststop" not in (hookdir / "order").read_text()
    rt.cmd("delete", cid)

    order = (hookdir / "order").read_text().split()
    assert sorted(order) == sorted(PHASES + ["user-process"])
    pos = {p: order.index(p) for p in order}
    assert pos["prestart"] < pos["createRuntime"] < pos["createContainer"] < pos["startContainer"]
    assert pos["startContainer"] < pos["user-process"]
    # poststart: after the user process was executed (so after startContainer), before start returns.
    assert pos["startContainer"] < pos["poststart"] < pos["poststop"]
    assert order[-1] == "poststop"

    for phase in PHASES:
        st = load(hookdir, phase)
        assert st["id"] == cid, phase
        assert st["bundle"] == str(b), phase
        assert st["ociVersion"], phase
        assert st["annotations"] == {"org.example/key": "value"}, phase
        if phase != "poststop":
            assert st["pid"] == pid, phase
        # argv and env are exactly what the hook entry says.
        assert (hookdir / f"{phase}.argv").read_text().strip() == "hookarg0 hookarg1", phase
        env = dict(l.split("=", 1) for l in (hookdir / f"{phase}.env").read_text().splitlines() if "=" in l)
        assert env.get("HOOK_PHASE") == phase
        # Nothing leaks from the runtime's environment (shells add PWD, SHLVL and a default PATH).
        assert set(env) <= {"HOOK_PHASE", "PWD", "OLDPWD", "SHLVL", "PATH", "_"}, (phase, env)
        assert "PYTEST_CURRENT_TEST" in os.environ
    assert load(hookdir, "prestart")["status"] == "creating"
    assert load(hookdir, "createRuntime")["status"] == "creating"
    assert load(hookdir, "createContainer")["status"] == "creating"
    # startContainer runs after start but before the user process: the container is still "created".
    assert load(hookdir, "startContainer")["status"] == "created"
    assert load(hookdir, "poststart")["status"] == "running"
    assert load(hookdir, "poststop")["status"] == "stopped"


def test_hook_namespaces(rt, hookdir):
    """prestart/createRuntime/poststart/poststop run in the runtime's namespaces,
    createContainer/startContainer in the container's."""
    b = rt.bundle(["sleep", "1000"], edit=all_hooks(hookdir))
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    rt.cmd("start", cid)
    pid = rt.state(cid)["pid"]
    assert wait_until(lambda: (hookdir / "startContainer.hostname").exists() and (hookdir / "poststart.mntns").exists())
    host_mnt, ct_mnt = ns_inode(os.getpid(), "mnt"), ns_inode(pid, "mnt")
    host_name = os.uname().nodename
    for phase in ("prestart", "createRuntime", "poststart"):
        assert (hookdir / f"{phase}.mntns").read_text().strip() == host_mnt, phase
        assert (hookdir / f"{phase}.hostname").read_text().strip() == host_name, phase
    for phase in ("createContainer", "startContainer"):
        assert (hookdir / f"{phase}.mntns").read_text().strip() == ct_mnt, phase
        assert (hookdir / f"{phase}.hostname").read_text().strip() == "hooked", phase


def test_create_runtime_hook_sees_container_namespaces(rt, hookdir):
    """What CNI plugins rely on: at createRuntime the container's netns exists at /proc/<pid>/ns/net."""
    hook = {"path": "/bin/sh", "args": ["sh", "-c",
            f'pid=$(sed -E \'s/.*"pid":([0-9]+).*/\\1/\'); readlink /proc/$pid/ns/net > {hookdir}/netns; '
            f'nsenter --net=/proc/$pid/ns/net ip link set lo up']}
    b = rt.bundle(["sh", "-c", "readlink /proc/self/ns/net; ip -o link show lo"],
                  edit=lambda c: c.update(hooks={"createRuntime": [hook]}))
    out = rt.cmd("run", "--bundle", str(b), rt.new_id()).stdout.splitlines()
    assert out[0] == (hookdir / "netns").read_text().strip()
    assert out[0] != ns_inode(os.getpid(), "net")
    assert "LOWER_UP" in out[1]  # the hook configured the container's network


def test_several_hooks_in_one_phase_run_in_order(rt, hookdir):
    hooks = [{"path": "/bin/sh", "args": ["sh", "-c", f"echo {i} >> {hookdir}/seq"]} for i in range(5)]
    b = rt.bundle(["true"], edit=lambda c: c.update(hooks={"prestart": hooks}))
    rt.cmd("run", "--bundle", str(b), rt.new_id())
    assert (hookdir / "seq").read_text().split() == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("phase", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_fails_create_and_leaves_nothing(rt, hookdir, phase):
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "echo 'hook says no' >&2; exit 3"]}
    b = rt.bundle(["sleep", "1000"], edit=lambda c: c.update(hooks={phase: [hook]}))
    cid = rt.new_id()
    before = set(os.listdir("/proc"))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0
    assert "hook says no" in p.stderr
    assert phase in p.stderr
    assert "\n" not in p.stderr.strip()
    assert not (rt.root / cid).exists()
    assert rt.cmd("list", "-q").stdout.strip() == ""
    # No cgroup directory of the container is left on any hierarchy.
    leftovers = subprocess.run(["find", "/sys/fs/cgroup", "-maxdepth", "4", "-name", cid],
                               capture_output=True, text=True).stdout
    assert leftovers == ""
    # No container process survives (nothing runs `sleep 1000` from this bundle).
    for pid in set(os.listdir("/proc")) - before:
        try:
            assert "sleep\x001000" not in Path(f"/proc/{pid}/cmdline").read_text()
        except FileNotFoundError:
            pass


def test_hook_that_does_not_exist(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: c.update(hooks={"createRuntime": [{"path": "/no/such/hook"}]}))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "/no/such/hook" in p.stderr
    assert not (rt.root / cid).exists()


def test_hook_timeout(rt):
    cid = rt.new_id()
    hook = {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}
    b = rt.bundle(["true"], edit=lambda c: c.update(hooks={"createRuntime": [hook]}))
    t0 = time.monotonic()
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    took = time.monotonic() - t0
    assert p.returncode != 0 and "timed out" in p.stderr
    assert 0.9 < took < 10
    assert not (rt.root / cid).exists()


def test_hook_timeout_not_reached(rt, hookdir):
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"sleep 0.2; echo done > {hookdir}/slow"], "timeout": 5}
    b = rt.bundle(["true"], edit=lambda c: c.update(hooks={"prestart": [hook]}))
    rt.cmd("run", "--bundle", str(b), rt.new_id())
    assert (hookdir / "slow").read_text() == "done\n"


def test_hook_stdin_not_read_does_not_block(rt, hookdir):
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"echo ran > {hookdir}/noread"]}
    b = rt.bundle(["true"], edit=lambda c: c.update(hooks={"createRuntime": [hook], "poststart": [hook]}))
    rt.cmd("run", "--bundle", str(b), rt.new_id(), timeout=20)
    assert (hookdir / "noread").read_text() == "ran\n"


def test_failing_poststart_and_poststop_only_warn(rt, hookdir):
    bad = {"path": "/bin/sh", "args": ["sh", "-c", "echo poststart-broke >&2; exit 1"]}
    bad_stop = {"path": "/bin/sh", "args": ["sh", "-c", "echo poststop-broke >&2; exit 1"]}
    good_stop = {"path": "/bin/sh", "args": ["sh", "-c", f"echo ok > {hookdir}/after-bad"]}
    b = rt.bundle(["sh", "-c", "echo user-ran"],
                  edit=lambda c: c.update(hooks={"poststart": [bad], "poststop": [bad_stop, good_stop]}))
    p = rt.cmd("run", "--bundle", str(b), rt.new_id(), check=False)
    assert p.returncode == 0
    assert p.stdout == "user-ran\n"
    assert "poststart-broke" in p.stderr and "poststop-broke" in p.stderr
    assert (hookdir / "after-bad").read_text() == "ok\n"  # the remaining hooks still ran


def test_failing_start_container_hook_stops_container(rt, hookdir):
    bad = {"path": "/bin/sh", "args": ["sh", "-c", "echo start-hook-broke >&2; exit 1"]}
    b = rt.bundle(["sh", "-c", "echo never > /hooks/user-ran"],
                  edit=lambda c: (c.update(hooks={"startContainer": [bad]}),
                                  c["mounts"].append({"destination": "/hooks", "type": "bind",
                                                      "source": str(hookdir), "options": ["bind"]})))
    p = rt.cmd("run", "--bundle", str(b), rt.new_id(), check=False)
    assert p.returncode != 0
    assert "start-hook-broke" in p.stderr
    assert not (hookdir / "user-ran").exists()
    # create + start: `start` itself reports the failure, and the container is stopped.
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    p = rt.cmd("start", cid, check=False)
    assert p.returncode != 0
    assert "startContainer" in p.stderr and "start-hook-broke" in p.stderr
    wait_stopped(rt, cid)
    assert not (hookdir / "user-ran").exists()


def test_start_returns_after_program_is_executed(rt, hookdir):
    """A slow startContainer hook delays `start`: poststart may only run once the program runs."""
    slow = {"path": "/bin/sh", "args": ["sh", "-c", "sleep 0.5; echo startContainer >> /hooks/order"]}
    post = {"path": "/bin/sh", "args": ["sh", "-c", f"echo poststart >> {hookdir}/order"]}
    b = rt.bundle(["sleep", "1000"], edit=lambda c: (
        c.update(hooks={"startContainer": [slow], "poststart": [post]}),
        c["mounts"].append({"destination": "/hooks", "type": "bind", "source": str(hookdir), "options": ["bind"]})))
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    pid = rt.state(cid)["pid"]
    t0 = time.monotonic()
    rt.cmd("start", cid)
    assert time.monotonic() - t0 >= 0.5
    assert (hookdir / "order").read_text().split() == ["startContainer", "poststart"]
    assert Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x001000\x00"  # already executed


def test_poststop_runs_on_delete_force(rt, hookdir):
    b = rt.bundle(["sleep", "1000"], edit=lambda c: c.update(hooks={"poststop": [recorder("poststop", hookdir)]}))
    cid, _ = start(rt, bundle=b)
    rt.cmd("delete", "--force", cid)
    st = load(hookdir, "poststop")
    assert st["id"] == cid and st["status"] == "stopped"
    assert rt.cmd("state", cid, check=False).returncode != 0
