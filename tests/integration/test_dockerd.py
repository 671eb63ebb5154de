"""dockerd (Debian's docker.io) running containers with `--runtime berth`."""
import os
import pty
import select
import subprocess
import time

import pytest

CLIS = ["/usr/local/bin/docker", "/usr/bin/docker"]


def cli_available(cli):
    return os.path.exists(cli)


@pytest.mark.parametrize("cli", [c for c in CLIS if cli_available(c)])
def test_run_output_and_exit_code(dockerd, cli):
    p = dockerd.docker("run", "--rm", "--runtime", "berth", "bb", "sh", "-c", "echo out; echo err >&2; exit 3",
                       check=False, cli=cli)
    assert p.returncode == 3
    assert p.stdout == "out\n"
    assert "err" in p.stderr


def test_detached_exec_stop_kill(dockerd):
    c = dockerd.docker("run", "-d", "--runtime", "berth", "bb", "sleep", "1000").stdout.strip()
    try:
        # The container really is berth-runtime's: its state record is ours, not runc's.
        states = list(dockerd.base.glob(f"exec/runtime-*/moby/{c}/state.json"))
        assert states and "new_pid_namespace" in states[0].read_text()
        p = dockerd.docker("exec", "-e", "FOO=bar", "-w", "/tmp", c, "sh", "-c", "echo $FOO $(pwd); exit 4",
                           check=False)
        assert p.returncode == 4
        assert p.stdout == "bar /tmp\n"
        # exec sees the container's pid namespace: the init is pid 1.
        assert dockerd.docker("exec", c, "cat", "/proc/1/cmdline").stdout.startswith("sleep")
        dockerd.docker("stop", "-t", "1", c)
        state = dockerd.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", c).stdout.split()
        assert state == ["exited", "137"]  # sleep as pid 1 ignores SIGTERM: killed after the timeout
        dockerd.docker("start", c)
        dockerd.docker("kill", c)
        assert dockerd.docker("inspect", "-f", "{{.State.ExitCode}}", c).stdout.strip() == "137"
    finally:
        dockerd.docker("rm", "-f", c, check=False)


def test_stop_with_trap_returns_its_exit_code(dockerd):
    c = dockerd.docker("run", "-d", "--runtime", "berth", "bb", "sh", "-c",
                       'trap "exit 9" TERM; while true; do sleep 0.1; done').stdout.strip()
    try:
        time.sleep(0.3)
        dockerd.docker("stop", c)
        assert dockerd.docker("inspect", "-f", "{{.State.ExitCode}}", c).stdout.strip() == "9"
    finally:
        dockerd.docker("rm", "-f", c, check=False)


def cgroup_file(controller, cid, name):
    for base, dirs, files in os.walk(f"/sys/fs/cgroup/{controller}"):
        if os.path.basename(base) == cid and name in files:
            with open(os.path.join(base, name)) as f:
                return f.read().strip()
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # pure v2
        for base, dirs, files in os.walk("/sys/fs/cgroup"):
            if cid in os.path.basename(base) and name in files:
                with open(os.path.join(base, name)) as f:
                    return f.read().strip()
    raise AssertionError(f"no {controller} cgroup {name} for {cid}")


def test_limits_pause_update(dockerd):
    c = dockerd.docker("run", "-d", "--runtime", "berth", "-m", "64m", "--pids-limit", "50", "--cpus", "0.5",
                       "bb", "sleep", "1000").stdout.strip()
    try:
        assert cgroup_file("memory", c, "memory.limit_in_bytes") == str(64 * 1024 * 1024)
        assert cgroup_file("pids", c, "pids.max") == "50"
        assert cgroup_file("cpu", c, "cpu.cfs_quota_us") == "50000"
        # The limit holds inside: more than 50 processes cannot start.
        p = dockerd.docker("exec", c, "sh", "-c", "for i in $(seq 60); do sleep 5 & done; wait", check=False)
        assert "can't fork" in p.stderr
        dockerd.docker("pause", c)
        assert "Paused" in dockerd.docker("ps", "--filter", f"id={c}", "--format", "{{.Status}}").stdout
        assert cgroup_file("freezer", c, "freezer.state") == "FROZEN"
        dockerd.docker("unpause", c)
        assert cgroup_file("freezer", c, "freezer.state") == "THAWED"
        dockerd.docker("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "70", c)
        assert cgroup_file("memory", c, "memory.limit_in_bytes") == str(128 * 1024 * 1024)
        assert cgroup_file("pids", c, "pids.max") == "70"
        top = dockerd.docker("top", c).stdout
        assert "sleep 1000" in top
    finally:
        dockerd.docker("rm", "-f", c, check=False)


def test_read_only_cap_drop_user(dockerd):
    p = dockerd.docker("run", "--rm", "--runtime", "berth", "--read-only", "--cap-drop", "ALL", "--cap-add", "CHOWN",
                       "--user", "1000:1000", "bb", "sh", "-c",
                       "id; grep CapBnd /proc/self/status; touch /x 2>&1; echo rc=$?")
    out = p.stdout
    assert "uid=1000 gid=1000" in out
    assert "CapBnd:\t0000000000000001" in out  # only CAP_CHOWN
    assert "Read-only file system" in out and "rc=1" in out


def test_interactive_tty(dockerd):
    master, slave = pty.openpty()
    proc = subprocess.Popen(["docker", "run", "-it", "--rm", "--runtime", "berth", "bb", "sh"],
                            stdin=slave, stdout=slave, stderr=slave, env=dockerd.env, close_fds=True)
    os.close(slave)
    out = b""

    def read_until(token, timeout=20):
        nonlocal out
        deadline = time.time() + timeout
        while token not in out and time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    out += os.read(master, 4096)
                except OSError:
                    break
        return token in out

    try:
        assert read_until(b"# ")
        os.write(master, b"tty; echo $((6*7))\r")
        assert read_until(b"42")
        assert b"/dev/pts/0" in out
        os.write(master, b"exit 5\r")
        assert proc.wait(20) == 5
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
