"""Security properties: no fd leaks, sealed runtime binary (CVE-2019-5736), cwd breakout (CVE-2024-21626),
read-only kernel interfaces, no privilege to undo the sandbox."""
import errno
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from berth_build import RUNTIME
from helpers import run, run_ok, start, wait_until


def runtime_with_fds(rt, args, fds, **kw):
    """Runs berth-runtime with extra descriptors (target fd -> open file) inherited."""
    opened = {n: os.open(path, os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) else 0))
              for n, path in fds.items()}

    def child():
        for n, fd in opened.items():
            os.dup2(fd, n)
    try:
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            rc = subprocess.run([str(RUNTIME), "--root", str(rt.root), *args], preexec_fn=child, close_fds=False,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL, timeout=30, **kw).returncode
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(args, rc, out.read(), err.read())
    finally:
        for fd in opened.values():
            os.close(fd)


def test_container_sees_only_stdio(rt):
    p = runtime_with_fds(rt, ["run", "--bundle", str(rt.bundle(["ls", "/proc/self/fd"])), rt.new_id()],
                         {5: "/etc/hostname", 9: "/", 40: "/tmp"})
    assert p.returncode == 0, p.stderr
    assert sorted(int(x) for x in p.stdout.split()) == [0, 1, 2, 3]  # 3 is ls's own directory fd


def test_preserve_fds(rt):
    data = rt.tmp / "data.txt"
    data.write_text("preserved-content\n")
    b = rt.bundle(["sh", "-c", "cat <&3; ls /proc/self/fd | sort -n | tr '\\n' ' '"])
    p = runtime_with_fds(rt, ["run", "--preserve-fds", "1", "--bundle", str(b), rt.new_id()],
                         {3: str(data), 4: "/etc/hostname"})
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0] == "preserved-content"
    assert out[1].split() == ["0", "1", "2", "3", "4"]  # 4: ls's directory fd, not the unpreserved one


def test_listen_fds_are_passed(rt):
    data = rt.tmp / "sock.txt"
    data.write_text("activated\n")
    b = rt.bundle(["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3"])
    p = runtime_with_fds(rt, ["run", "--bundle", str(b), rt.new_id()], {3: str(data)},
                         env={**os.environ, "LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid())})
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["1 1", "activated"]


def test_created_init_holds_no_host_directory(rt):
    """While waiting for `start`, the init must not hold descriptors of host directories (a container
    process could reach them through /proc/1/fd)."""
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    pid = rt.state(cid)["pid"]
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("/"):
            assert not os.path.isdir(target), (fd, target)


@pytest.mark.parametrize("n", [3, 7])
def test_cwd_through_inherited_fd_cannot_escape(rt, n):
    """CVE-2024-21626: process.cwd = /proc/self/fd/N of a host directory descriptor."""
    secret_dir = Path(tempfile.mkdtemp(prefix="berth-hostdir-"))
    (secret_dir / "host-secret").write_text("secret\n")
    try:
        b = rt.bundle(["sh", "-c", "cat host-secret; pwd"], edit=lambda c: c["process"].update(cwd=f"/proc/self/fd/{n}"))
        cid = rt.new_id()
        p = runtime_with_fds(rt, ["run", "--bundle", str(b), cid], {n: str(secret_dir)})
        assert "secret" not in p.stdout
        assert p.returncode != 0
        assert "outside" in p.stderr
    finally:
        subprocess.run(["rm", "-rf", str(secret_dir)])


def test_exec_cwd_through_inherited_fd_cannot_escape(rt):
    cid, _ = start(rt)
    secret_dir = Path(tempfile.mkdtemp(prefix="berth-hostdir-"))
    (secret_dir / "host-secret").write_text("secret\n")
    try:
        p = runtime_with_fds(rt, ["exec", "--cwd", "/proc/self/fd/7", cid, "cat", "host-secret"], {7: str(secret_dir)})
        assert p.returncode != 0 and "secret" not in p.stdout
        assert "outside" in p.stderr
    finally:
        subprocess.run(["rm", "-rf", str(secret_dir)])


def runs_protected_copy(pid):
    """The runtime re-executed itself: from a private read-only bind mount of its binary (its exe is
    then the detached mount's root, "/"), or, where it may not mount, from a sealed memfd copy."""
    exe = os.readlink(f"/proc/{pid}/exe")
    return exe == "/" or exe.startswith("/memfd:berth-runtime")


def assert_cannot_write(path, refusals):
    """Opening path for writing fails with one of refusals, or writing through it fails."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        assert e.errno in refusals, e
        return
    try:
        with pytest.raises(OSError):
            os.write(fd, b"overwritten")
    finally:
        os.close(fd)


def assert_exe_unwritable(pid):
    """CVE-2019-5736: nothing can write the runtime's binary through /proc/<pid>/exe, neither while
    it runs nor afterwards through a descriptor kept from then (the attack's second step): returns
    such a descriptor for assert_kept_fd_unwritable."""
    assert runs_protected_copy(pid), os.readlink(f"/proc/{pid}/exe")
    assert_cannot_write(f"/proc/{pid}/exe", (errno.ETXTBSY, errno.EPERM, errno.EACCES, errno.EROFS))
    return os.open(f"/proc/{pid}/exe", os.O_PATH)


def assert_kept_fd_unwritable(path_fd):
    assert_cannot_write(f"/proc/self/fd/{path_fd}", (errno.EROFS, errno.EPERM, errno.EACCES))
    os.close(path_fd)


def test_foreground_runtime_runs_from_a_protected_copy(rt):
    """CVE-2019-5736: while `run` waits in the foreground, its /proc/<pid>/exe is a read-only mount
    (or sealed memfd copy) of the binary, so a container process cannot overwrite the host's
    berth-runtime through it, then or after the runtime exited."""
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    before = RUNTIME.read_bytes()
    proc = subprocess.Popen([str(RUNTIME), "--root", str(rt.root), "run", "--bundle", str(b), cid],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: rt.cmd("state", cid, check=False).returncode == 0 and
                          rt.state(cid)["status"] == "running")
        kept = assert_exe_unwritable(proc.pid)
        proc.kill()
        proc.wait()
        assert_kept_fd_unwritable(kept)
        assert RUNTIME.read_bytes() == before
    finally:
        proc.kill()
        proc.wait()


def test_exec_runtime_runs_from_a_protected_copy(rt):
    cid, _ = start(rt)
    proc = subprocess.Popen([str(RUNTIME), "--root", str(rt.root), "exec", cid, "sleep", "1000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: runs_protected_copy(proc.pid))
        os.close(assert_exe_unwritable(proc.pid))
    finally:
        proc.kill()
        proc.wait()


def test_created_init_exe_cannot_be_overwritten_from_inside(rt):
    """Before `start` the container's pid 1 is still the runtime: a process exec'd into the container
    sees /proc/1/exe as the sealed copy and cannot write through it."""
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    before = RUNTIME.read_bytes()
    p = rt.cmd("exec", cid, "sh", "-c", "readlink /proc/1/exe; echo pwned >> /proc/1/exe && echo WROTE", check=False)
    assert "WROTE" not in p.stdout
    # The init is not even dumpable: the link cannot be followed at all. (If it could, it is the copy.)
    assert p.stdout in ("", "/\n") or p.stdout.startswith("/memfd:berth-runtime")
    assert "Permission denied" in p.stderr or "Text file busy" in p.stderr
    assert RUNTIME.read_bytes() == before
    os.close(assert_exe_unwritable(rt.state(cid)["pid"]))  # seen from the host


def test_sys_and_proc_sys_are_read_only(rt):
    targets = ["/proc/sys/vm/swappiness", "/proc/sys/kernel/domainname", "/sys/kernel/uevent_helper"]
    targets = [t for t in targets if os.path.exists(t)]
    before = {t: Path(t).read_text() for t in targets}
    p = run(rt, ["sh", "-c", "".join(f"echo 1 > {t}; " for t in targets) + "echo done"])
    assert p.stdout == "done\n"
    assert p.stderr.count("Read-only file system") == len(targets), p.stderr
    assert {t: Path(t).read_text() for t in targets} == before


def test_cannot_remount_or_unmask(rt):
    """Without CAP_SYS_ADMIN the container root cannot undo its read-only root or masks, nor mount."""
    p = run(rt, ["sh", "-c", "mount -o remount,rw / ; umount /proc/timer_list; mount -t tmpfs t /tmp; "
                             "awk '$5 == \"/\" || $5 == \"/proc/timer_list\" || $5 == \"/tmp\" "
                             "{print $5, substr($6, 1, 2)}' /proc/self/mountinfo"])
    assert sorted(p.stdout.splitlines()) == ["/ ro", "/proc/timer_list rw"]
    assert p.stderr.count("\n") == 3, p.stderr


def test_cannot_see_or_signal_host_processes(rt):
    out = run_ok(rt, ["sh", "-c", f"kill -0 {os.getpid()} 2>&1; ls /proc | grep -c '^[0-9]'"])
    lines = out.splitlines()
    assert "No such process" in lines[0]
    assert int(lines[1]) <= 3


def test_cannot_mknod_without_cap_mknod(rt):
    p = run(rt, ["sh", "-c", "mknod /dev/shm/sda b 8 0; echo rc=$?"])
    assert "rc=1" in p.stdout


def test_no_new_privs_blocks_setuid(rt):
    """With noNewPrivileges, executing a setuid-root binary does not raise the effective uid."""
    def edit(c, nnp):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        c["process"]["noNewPrivileges"] = nnp
    results = {}
    for nnp in (True, False):
        b = rt.bundle(["/bin/suidcat", "/proc/self/status"], edit=lambda c: edit(c, nnp))
        # A copy of host cat (no busybox privilege dropping), setuid root.
        suid = b / "rootfs" / "bin" / "suidcat"
        libs = subprocess.run(["ldd", "/bin/cat"], capture_output=True, text=True).stdout
        if "not a dynamic" not in libs:
            # Copy the dynamic loader and libraries so host cat runs inside the busybox rootfs.
            for tok in libs.split():
                if tok.startswith("/") and os.path.exists(tok):
                    dest = b / "rootfs" / tok.lstrip("/")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    subprocess.run(["cp", "-L", tok, str(dest)], check=True)
        subprocess.run(["cp", "/bin/cat", str(suid)], check=True)
        os.chown(suid, 0, 0)
        os.chmod(suid, 0o4755)
        out = rt.cmd("run", "--bundle", str(b), rt.new_id()).stdout
        results[nnp] = [l.split()[1:3] for l in out.splitlines() if l.startswith("Uid:")][0]
    assert results[True] == ["1000", "1000"]  # real, effective
    assert results[False] == ["1000", "0"]


def test_created_init_does_not_expose_runtime_environment(rt):
    """Until `start`, pid 1 is the runtime (with the caller's environment: tokens, paths...).
    A process exec'd into the container must not be able to read it (runc makes its init non-dumpable)."""
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    env = {**os.environ, "BERTH_TEST_SECRET": "hunter2-do-not-leak"}
    with tempfile.TemporaryFile("w+") as err:  # a file: the init inherits it
        rc = subprocess.run([str(RUNTIME), "--root", str(rt.root), "create", "--bundle", str(b), cid], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=30).returncode
        err.seek(0)
        assert rc == 0, err.read()
    out = rt.cmd("exec", cid, "sh", "-c", "cat /proc/1/environ; ls -l /proc/1/fd/ 2>&1; readlink /proc/1/cwd",
                 check=False)
    assert "hunter2" not in out.stdout
    assert str(rt.root) not in out.stdout  # no host paths through /proc/1/fd either
    rt.cmd("start", cid)
    # After start the init is the container's own program: the usual rules apply again.
    assert rt.cmd("exec", cid, "cat", "/proc/1/cmdline").stdout == "sleep\x001000\x00"
    assert "hunter2" not in rt.cmd("exec", cid, "cat", "/proc/1/environ").stdout
