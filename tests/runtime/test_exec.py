"""exec: a new process in a running container."""
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from berth_build import RUNTIME
from helpers import ns_inode, start, status_field, wait_stopped, wait_until


@pytest.fixture
def box(rt):
    """A running container: (id, init pid)."""
    def edit(c):
        c["hostname"] = "exec-box"
        c["process"]["env"] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FROM_CONFIG=1", "TERM=xterm"]
        c["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})
    return start(rt, ["sh", "-c", "echo init-was-here > /scratch/mark; sleep 1000"], edit=edit)


def test_exec_runs_args_in_container(rt, box):
    cid, pid = box
    out = rt.cmd("exec", cid, "sh", "-c", "hostname; echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                                          "cat /scratch/mark").stdout.splitlines()
    assert out[0] == "exec-box"
    assert out[1] != "1"
    assert out[2].strip() == "sleep 1000"  # the init (busybox sh exec'd its last command)
    assert out[3] == "init-was-here"  # sees the init's tmpfs: same mount namespace


def test_exec_joins_all_namespaces_and_cgroup(rt, box):
    cid, pid = box
    p = subprocess.Popen([str(RUNTIME), "--root", str(rt.root), "exec", cid, "sleep", "1000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def exec_pid():
            for child in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split():
                return int(child)
        # The runtime's child becomes sleep.
        assert wait_until(lambda: exec_pid() and Path(f"/proc/{exec_pid()}/cmdline").read_bytes().startswith(b"sleep"))
        xp = exec_pid()
        for kind in ("pid", "net", "ipc", "uts", "mnt"):
            assert ns_inode(xp, kind) == ns_inode(pid, kind), kind
        assert Path(f"/proc/{xp}/cgroup").read_text() == Path(f"/proc/{pid}/cgroup").read_text()
        assert xp in json.loads(rt.cmd("ps", "--format", "json", cid).stdout)
        # The exec'd process has the same root directory (pivoted rootfs) as the init.
        assert os.stat(f"/proc/{xp}/root/scratch/mark").st_ino == os.stat(f"/proc/{pid}/root/scratch/mark").st_ino
    finally:
        p.kill()
        p.wait()


def test_exec_exit_code(rt, box):
    cid, _ = box
    assert rt.cmd("exec", cid, "sh", "-c", "exit 5", check=False).returncode == 5
    assert rt.cmd("exec", cid, "false", check=False).returncode == 1
    assert rt.cmd("exec", cid, "true").returncode == 0


def test_exec_killed_by_signal(rt, box):
    cid, _ = box
    # Not the pid namespace's init, so SIGKILL to itself works.
    assert rt.cmd("exec", cid, "sh", "-c", "kill -9 $$", check=False).returncode == 128 + 9


def test_exec_env(rt, box):
    cid, _ = box
    out = rt.cmd("exec", "-e", "NEW=one", "-e", "FROM_CONFIG=overridden", "-e", "SPACES=a b", cid, "env").stdout
    env = dict(l.split("=", 1) for l in out.splitlines())
    assert env["NEW"] == "one"
    assert env["FROM_CONFIG"] == "overridden"
    assert env["SPACES"] == "a b"
    assert env["TERM"] == "xterm"
    assert env["HOME"] == "/root"
    assert out.count("FROM_CONFIG=") == 1


def test_exec_cwd(rt, box):
    cid, _ = box
    assert rt.cmd("exec", "--cwd", "/scratch", cid, "pwd").stdout == "/scratch\n"
    assert rt.cmd("exec", cid, "pwd").stdout == "/\n"
    p = rt.cmd("exec", "--cwd", "/nonexistent", cid, "pwd", check=False)
    assert p.returncode != 0 and "/nonexistent" in p.stderr
    p = rt.cmd("exec", "--cwd", "relative", cid, "pwd", check=False)
    assert p.returncode != 0 and "relative" in p.stderr


def test_exec_user(rt, box):
    cid, _ = box
    assert rt.cmd("exec", "-u", "1000:1001", cid, "sh", "-c", "id -u; id -g").stdout.split() == ["1000", "1001"]
    assert rt.cmd("exec", "-u", "1234", cid, "id", "-u").stdout.split() == ["1234"]
    out = rt.cmd("exec", "-u", "1000:1000", "-g", "10", "-g", "20", cid, "grep", "^Groups:", "/proc/self/status").stdout
    assert sorted(out.split()[1:]) == ["10", "20"]
    out = rt.cmd("exec", "-u", "65534:65534", cid, "sh", "-c", "echo $HOME").stdout
    assert out == "/nonexistent\n"
    p = rt.cmd("exec", "-u", "nobody", cid, "true", check=False)
    assert p.returncode != 0 and "nobody" in p.stderr


def test_exec_cap(rt, box):
    cid, _ = box
    status = rt.cmd("exec", cid, "cat", "/proc/self/status").stdout
    assert not int(status_field(status, "CapEff"), 16) & (1 << 12)  # CAP_NET_ADMIN
    p = rt.cmd("exec", cid, "ip", "link", "set", "lo", "up", check=False)
    assert p.returncode != 0
    status = rt.cmd("exec", "--cap", "CAP_NET_ADMIN", cid, "cat", "/proc/self/status").stdout
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert int(status_field(status, field), 16) & (1 << 12), field
    rt.cmd("exec", "--cap", "CAP_NET_ADMIN", cid, "ip", "link", "set", "lo", "up")
    assert "LOWER_UP" in rt.cmd("exec", cid, "ip", "link", "show", "lo").stdout
    p = rt.cmd("exec", "--cap", "CAP_NOT_A_CAP", cid, "true", check=False)
    assert p.returncode != 0 and "CAP_NOT_A_CAP" in p.stderr


def test_exec_no_new_privs(rt):
    cid, _ = start(rt, edit=lambda c: c["process"].update(noNewPrivileges=False))
    assert status_field(rt.cmd("exec", cid, "cat", "/proc/self/status").stdout, "NoNewPrivs") == "0"
    out = rt.cmd("exec", "--no-new-privs", cid, "cat", "/proc/self/status").stdout
    assert status_field(out, "NoNewPrivs") == "1"


def test_exec_process_json(rt, box):
    cid, _ = box
    proc = {"terminal": False, "user": {"uid": 1000, "gid": 1000, "additionalGids": [5]},
            "args": ["sh", "-c", "id -u; pwd; echo $ONLY; ulimit -n; grep ^Groups: /proc/self/status"],
            "env": ["PATH=/bin", "ONLY=from-process-json"], "cwd": "/scratch",
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100}],
            "capabilities": {"bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []}}
    f = rt.tmp / "process.json"
    f.write_text(json.dumps(proc))
    out = rt.cmd("exec", "--process", str(f), cid).stdout.splitlines()
    assert out[:4] == ["1000", "/scratch", "from-process-json", "100"]
    assert out[4].split() == ["Groups:", "5"]
    # Nothing of the config's env leaks in.
    env = rt.cmd("exec", "--process", str(f), cid).stdout
    assert "FROM_CONFIG" not in env


def test_exec_process_json_malformed(rt, box):
    cid, _ = box
    f = rt.tmp / "bad.json"
    f.write_text("{ nope")
    p = rt.cmd("exec", "--process", str(f), cid, check=False)
    assert p.returncode != 0 and "malformed" in p.stderr


def test_exec_detach_pid_file(rt, box):
    cid, pid = box
    pidfile = rt.tmp / "exec.pid"
    t0 = time.monotonic()
    rt.cmd("exec", "--detach", "--pid-file", str(pidfile), cid, "sleep", "1000")
    assert time.monotonic() - t0 < 5
    xp = int(pidfile.read_text())
    assert Path(f"/proc/{xp}/cmdline").read_bytes() == b"sleep\x001000\x00"
    assert ns_inode(xp, "pid") == ns_inode(pid, "pid")
    assert xp in json.loads(rt.cmd("ps", "--format", "json", cid).stdout)
    # Killing the container takes the detached process along.
    rt.cmd("kill", "--all", cid, "KILL")
    assert wait_until(lambda: not Path(f"/proc/{xp}").exists() or
                      Path(f"/proc/{xp}/stat").read_text().split(") ")[1][0] == "Z")


def test_exec_in_created_container(rt):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    out = rt.cmd("exec", cid, "sh", "-c", "echo $$; readlink /proc/self/ns/mnt").stdout.split()
    assert out[0] != "1"
    assert out[1] == ns_inode(rt.state(cid)["pid"], "mnt")
    assert rt.state(cid)["status"] == "created"
    rt.cmd("start", cid)
    assert rt.state(cid)["status"] == "running"


def test_exec_in_stopped_container_is_refused(rt):
    b = rt.bundle(["true"])
    cid = rt.new_id()
    rt.cmd("run", "--keep", "--bundle", str(b), cid)
    wait_stopped(rt, cid)
    p = rt.cmd("exec", cid, "true", check=False)
    assert p.returncode != 0 and "stopped" in p.stderr


def test_exec_in_paused_container_is_refused(rt, box):
    cid, _ = box
    rt.cmd("pause", cid)
    try:
        p = rt.cmd("exec", cid, "true", check=False, timeout=10)
        assert p.returncode != 0 and "paused" in p.stderr
    finally:
        rt.cmd("resume", cid)
    assert rt.cmd("exec", cid, "true").returncode == 0


def test_exec_unknown_container_and_command(rt, box):
    cid, _ = box
    p = rt.cmd("exec", "nosuchcontainer", "true", check=False)
    assert p.returncode != 0 and "does not exist" in p.stderr
    p = rt.cmd("exec", cid, "/no/such/cmd", check=False)
    assert p.returncode != 0 and "/no/such/cmd" in p.stderr
    p = rt.cmd("exec", cid, check=False)
    assert p.returncode != 0


def test_exec_stdin_and_stdout(rt, box):
    cid, _ = box
    p = rt.cmd("exec", cid, "sh", "-c", "read x; echo \"in:$x\"; echo err >&2", input="payload\n")
    assert p.stdout == "in:payload\n"
    assert p.stderr == "err\n"


def test_exec_preserve_fds(rt, box):
    cid, _ = box
    data = rt.tmp / "passed.txt"
    data.write_text("through fd 3\n")
    extra = rt.tmp / "fd4.txt"
    extra.write_text("fd 4\n")
    with open(data) as f3, open(extra) as f4:
        # Make them fds 3 and 4 in the runtime.
        def child():
            os.dup2(f3.fileno(), 3)
            os.dup2(f4.fileno(), 4)
        script = "cat <&3; cat <&4; ls /proc/self/fd | sort -n | tr '\\n' ' '"
        with tempfile.TemporaryFile("w+") as out:
            rc = subprocess.run([str(RUNTIME), "--root", str(rt.root), "exec", "--preserve-fds", "2", cid,
                                 "sh", "-c", script], preexec_fn=child,
                                stdout=out, stderr=subprocess.STDOUT, close_fds=False).returncode
            out.seek(0)
            text = out.read()
        assert rc == 0, text
        lines = text.splitlines()
        assert lines[0] == "through fd 3" and lines[1] == "fd 4"
        # 0-2, the two preserved fds, and the one ls opens for /proc/self/fd.
        assert lines[2].split() == ["0", "1", "2", "3", "4", "5"]


def test_exec_without_preserve_fds_closes_extra_fds(rt, box):
    cid, _ = box
    data = rt.tmp / "leak.txt"
    data.write_text("should not be visible\n")
    with open(data) as f:
        def child():
            os.dup2(f.fileno(), 3)
            os.dup2(f.fileno(), 7)
        with tempfile.TemporaryFile("w+") as out:
            rc = subprocess.run([str(RUNTIME), "--root", str(rt.root), "exec", cid, "ls", "/proc/self/fd"],
                                preexec_fn=child, stdout=out, stderr=subprocess.STDOUT, close_fds=False).returncode
            out.seek(0)
            text = out.read()
    assert rc == 0, text
    assert sorted(int(x) for x in text.split()) == [0, 1, 2, 3]  # 3: ls's own directory fd


def test_exec_detach_never_loses_the_process(rt, box):
    """Regression: the exec child used to disarm its parent-death signal only after telling the
    runtime it was ready, so `exec --detach` exiting right away could SIGKILL it before execve."""
    cid, _ = box
    n = 25
    for i in range(n):
        rt.cmd("exec", "--detach", cid, "sh", "-c", f"echo > /dev/shm/m{i}")
    assert wait_until(lambda: rt.cmd("exec", cid, "sh", "-c", "ls /dev/shm | wc -l").stdout.strip() == str(n)), \
        rt.cmd("exec", cid, "ls", "/dev/shm").stdout
