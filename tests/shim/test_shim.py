"""End-to-end tests of berth-shim with berth-runtime and a busybox bundle."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
BUILD = Path(os.environ.get("BERTH_BUILD_DIR") or ROOT / "build")
SHIM = BUILD / "berth-shim"
RUNTIME = BUILD / "berth-runtime"


class Shim:
    def __init__(self, tmp_path, template, args, terminal=False, edit=None):
        self.tmp = tmp_path
        self.id = "shim-" + uuid.uuid4().hex[:8]
        self.bundle = tmp_path / "bundle"
        shutil.copytree(template, self.bundle, symlinks=True)
        cfg = json.loads((self.bundle / "config.json").read_text())
        cfg["process"]["terminal"] = terminal
        cfg["process"]["args"] = args
        if edit:
            edit(cfg)
        (self.bundle / "config.json").write_text(json.dumps(cfg))
        self.state = tmp_path / "state"
        self.root = tmp_path / "rt"
        self.log = self.state / "ctr.log"
        self.terminal = terminal

    def argv(self, *extra):
        a = [str(SHIM), "--id", self.id, "--bundle", str(self.bundle), "--runtime", str(RUNTIME),
             "--runtime-root", str(self.root), "--state-dir", str(self.state), "--log-path", str(self.log),
             "--cleanup"]
        if self.terminal:
            a.append("--terminal")
        return a + list(extra)

    def start(self, *extra, check=True):
        p = subprocess.run(self.argv(*extra), capture_output=True, text=True, timeout=30)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def pid(self):
        return int((self.state / "shim.pid").read_text())

    def wait_exit(self, timeout=20):
        deadline = time.time() + timeout
        path = self.state / "exit.json"
        while time.time() < deadline:
            if path.exists():
                # The shim exits right after (runtime delete with --cleanup).
                return json.loads(path.read_text())
            time.sleep(0.05)
        raise AssertionError("no exit.json; shim.log: " + (self.state / "shim.log").read_text())

    def log_records(self, path=None):
        return [json.loads(l) for l in (path or self.log).read_text().splitlines()]

    def connect(self, name="attach.sock"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(self.state / name))
        return s


def read_frames(sock, until, timeout=10):
    """Reads docker multiplexed frames until until(frames) or EOF; returns [(stream, bytes)]."""
    buf, frames = b"", []
    deadline = time.time() + timeout
    while not until(frames) and time.time() < deadline:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            assert buf[1:4] == b"\0\0\0"
            if len(buf) < 8 + size:
                break
            frames.append((buf[0], buf[8:8 + size]))
            buf = buf[8 + size:]
    return frames


def joined(frames, stream):
    return b"".join(p for s, p in frames if s == stream)


@pytest.fixture
def shim(tmp_path, busybox_template):
    made = []

    def make(args, **kw):
        s = Shim(tmp_path / f"c{len(made)}", busybox_template, args, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        subprocess.run([str(RUNTIME), "--root", str(s.root), "delete", "--force", s.id], capture_output=True)
        try:
            os.kill(s.pid(), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def test_json_file_log_and_exit_code(shim):
    s = shim(["sh", "-c", r'echo out; echo err >&2; printf "a\tb<\001>\n"; printf tail; exit 3'])
    s.start()
    ex = s.wait_exit()
    assert ex["exit_code"] == 3 and ex["signal"] == 0 and ex["oom_killed"] is False
    assert ex["exited_at"].endswith("Z")
    recs = s.log_records()
    by = {(r["stream"], r["log"]) for r in recs}
    assert ("stdout", "out\n") in by
    assert ("stderr", "err\n") in by
    assert ("stdout", "a\tb<\x01>\n") in by
    assert ("stdout", "tail") in by  # unterminated last line: flushed without '\n'
    raw = s.log.read_text()
    assert '"log":"a\\tb\\u003c\\u0001\\u003e\\n"' in raw  # docker's escaping
    for r in recs:
        assert list(r) == ["log", "stream", "time"]
        assert r["time"].startswith("20") and r["time"].endswith("Z")


def test_killed_by_signal_reports_128_plus(shim):
    s = shim(["sleep", "30"])
    s.start()
    # From outside: a pid namespace's init ignores SIGKILL sent from within.
    os.kill(int((s.state / "init.pid").read_text()), signal.SIGKILL)
    ex = s.wait_exit()
    assert ex["exit_code"] == 137 and ex["signal"] == 9


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def memory_cgroup_dir(cgroups_path):
    """Where the runtime puts an absolute cgroupsPath's memory controller."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # cgroup v2
        return Path("/sys/fs/cgroup" + cgroups_path)
    return Path("/sys/fs/cgroup/memory" + cgroups_path)


@pytest.mark.parametrize("hog", [True, False])
def test_records_oom_kills_of_the_named_memory_cgroup(shim, hog):
    cgroups_path = f"/berth-shim-test/{uuid.uuid4().hex[:8]}"

    def limit(cfg):
        cfg["linux"]["cgroupsPath"] = cgroups_path
        mem = 8 << 20
        cfg["linux"].setdefault("resources", {})["memory"] = {"limit": mem, "swap": mem}
    # tail keeps the last "line" of /dev/zero, which never ends: it grows
    # until the kernel's OOM killer ends it. The other run is killed by us.
    s = shim(["tail", "/dev/zero"] if hog else ["sleep", "30"], edit=limit)
    s.state.mkdir(parents=True)
    (s.state / "memory-cgroup").write_text(f"{memory_cgroup_dir(cgroups_path)}\n")
    try:
        s.start()
        if not hog:
            os.kill(int((s.state / "init.pid").read_text()), signal.SIGKILL)
        ex = s.wait_exit()
        assert ex["exit_code"] == 137 and ex["signal"] == 9
        assert ex["oom_killed"] is hog
    finally:
        # The shim's cleanup (runtime delete) removes the container's cgroup
        # after exit.json; the parent can go once the shim is gone.
        deadline = time.time() + 10
        while time.time() < deadline and alive(s.pid()):
            time.sleep(0.05)
        try:
            memory_cgroup_dir("/berth-shim-test").rmdir()
        except OSError:
            pass  # another run's cgroup is still there, or the runtime kept none


def test_runtime_error_reaches_caller(shim):
    s = shim(["true"])
    shutil.rmtree(s.bundle / "rootfs")
    p = s.start(check=False)
    assert p.returncode == 1
    assert "berth-runtime" in p.stderr, p.stderr


def test_ready_fd(shim):
    s = shim(["sh", "-c", "exit 0"])
    r, w = os.pipe()
    p = subprocess.run(s.argv("--ready-fd", str(w)), pass_fds=(w,), capture_output=True, timeout=30)
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.close(r)
    assert p.returncode == 0
    word, shim_pid, init_pid = msg.split()
    assert word == "ready" and int(shim_pid) == s.pid() and int(init_pid) > 0
    assert s.wait_exit()["exit_code"] == 0


def test_survives_parent_sigkill(shim):
    s = shim(["sh", "-c", "sleep 2; echo finished; exit 5"])
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time\n"
                               "subprocess.run(sys.argv[1:], check=True)\n"
                               "print('started', flush=True)\n"
                               "time.sleep(600)\n", *s.argv()], stdout=subprocess.PIPE, text=True)
    assert parent.stdout.readline().strip() == "started"
    parent.kill()
    parent.wait()
    shim_pid = s.pid()
    os.kill(shim_pid, 0)  # still alive
    ppid = int(Path(f"/proc/{shim_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid != parent.pid
    ex = s.wait_exit()
    assert ex["exit_code"] == 5
    assert {"log": "finished\n", "stream": "stdout"}.items() <= s.log_records()[-1].items()


def test_attach_receives_live_output(shim):
    s = shim(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do echo tick $i; echo warn $i >&2; sleep 0.25; done"])
    s.start()
    a, b = s.connect(), s.connect()
    frames = read_frames(a, lambda f: b"tick 8\n" in joined(f, 1) and b"warn 8\n" in joined(f, 2))
    assert b"tick 8\n" in joined(frames, 1) and b"warn 8\n" in joined(frames, 2)
    assert b"warn" not in joined(frames, 1)
    frames_b = read_frames(b, lambda f: False)  # to EOF: the shim closes clients at exit
    assert joined(frames_b, 1).endswith(b"tick 8\n")
    assert s.wait_exit()["exit_code"] == 0


def test_stdin_via_attach_reaches_cat(shim):
    s = shim(["cat"])
    s.start("--stdin", "--stdin-once")
    c = s.connect()
    c.sendall(b"hello shim\n")
    frames = read_frames(c, lambda f: b"hello shim\n" in joined(f, 1))
    assert joined(frames, 1) == b"hello shim\n"
    c.sendall(b"second\n")
    c.shutdown(socket.SHUT_WR)  # --stdin-once: our EOF closes cat's stdin
    frames = read_frames(c, lambda f: False)
    assert joined(frames, 1) == b"second\n"
    assert s.wait_exit()["exit_code"] == 0
    assert [r["log"] for r in s.log_records()] == ["hello shim\n", "second\n"]


def test_control_close_stdin(shim):
    s = shim(["sh", "-c", "cat; echo eof-seen"])
    s.start("--stdin")
    c = s.connect()
    c.sendall(b"x\n")
    read_frames(c, lambda f: b"x\n" in joined(f, 1))
    ctl = s.connect("control.sock")
    ctl.sendall(b"close-stdin\nbogus\n")
    assert ctl.makefile().readline() == "ok\n"
    frames = read_frames(c, lambda f: b"eof-seen\n" in joined(f, 1))
    assert b"eof-seen\n" in joined(frames, 1)
    assert s.wait_exit()["exit_code"] == 0


def test_rotation(shim):
    s = shim(["sh", "-c", "i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done"])
    s.start("--log-max-size", "1000", "--log-max-file", "3")
    s.wait_exit()
    assert (s.state / "ctr.log.1").exists() and (s.state / "ctr.log.2").exists()
    assert not (s.state / "ctr.log.3").exists()
    for p in [s.log, s.state / "ctr.log.1", s.state / "ctr.log.2"]:
        assert p.stat().st_size < 1000 + 200
    older = [r["log"] for r in s.log_records(s.state / "ctr.log.1")]
    newest = [r["log"] for r in s.log_records()]
    assert newest[-1] == "line 99\n"
    assert int(older[-1].split()[1]) + 1 == int(newest[0].split()[1])


def test_terminal_raw_output_and_resize(shim):
    s = shim(["sh", "-c", "read x; stty size; echo got $x"], terminal=True)
    s.start("--stdin")
    c = s.connect()
    ctl = s.connect("control.sock")
    ctl.sendall(b"resize 30 100\n")
    assert ctl.makefile().readline() == "ok\n"
    c.sendall(b"hi\n")
    out = b""
    while b"got hi" not in out:
        data = c.recv(4096)
        if not data:
            break
        out += data
    assert b"30 100\r\n" in out and b"got hi\r\n" in out  # raw pty bytes, no frame headers
    assert s.wait_exit()["exit_code"] == 0
    recs = s.log_records()
    assert all(r["stream"] == "stdout" for r in recs)
    assert {"log": "got hi\r\n", "stream": "stdout"}.items() <= recs[-1].items()


def test_rss_stays_small(shim):
    s = shim(["sh", "-c", "read go; i=0; while [ $i -lt 2000 ]; do echo line $i; echo e $i >&2; i=$((i+1)); done; sleep 30"])
    s.start("--stdin")
    c = s.connect()
    c.sendall(b"go\n")
    read_frames(c, lambda f: b"line 1999\n" in joined(f, 1) and b"e 1999\n" in joined(f, 2))
    status = Path(f"/proc/{s.pid()}/status").read_text()
    kb = {l.split(":")[0]: int(l.split()[1]) for l in status.splitlines() if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
    print(f"berth-shim after 4000 lines: {kb}")
    # RssFile is the static binary's clean text, shared through the page
    # cache by every shim; what each container really costs is RssAnon.
    assert kb["RssAnon"] < 256, kb
    assert kb["VmRSS"] < 1536, kb


def read_line(fd):
    out = b""
    while not out.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        out += chunk
    return out.decode()


def test_start_fd_attach_before_start_sees_all_output(shim):
    s = shim(["echo", "first words"])
    ready_r, ready_w = os.pipe()
    start_r, start_w = os.pipe()
    p = subprocess.Popen(s.argv("--ready-fd", str(ready_w), "--start-fd", str(start_r)),
                         pass_fds=(ready_w, start_r), stderr=subprocess.PIPE)
    os.close(ready_w)
    os.close(start_r)
    word, shim_pid, init_pid = read_line(ready_r).split()
    assert word == "created" and int(shim_pid) == s.pid()
    # Created, not running: the init waits for `start`.
    assert os.path.exists(f"/proc/{init_pid}")
    c = s.connect()
    os.write(start_w, b"start\n")
    assert read_line(ready_r).split()[0] == "ready"
    frames = read_frames(c, lambda f: False)
    assert joined(frames, 1) == b"first words\n"
    assert p.wait(timeout=30) == 0
    assert s.wait_exit()["exit_code"] == 0
    os.close(start_w)
    os.close(ready_r)


def test_start_fd_closed_aborts_and_deletes(shim):
    s = shim(["echo", "never"])
    ready_r, ready_w = os.pipe()
    start_r, start_w = os.pipe()
    p = subprocess.Popen(s.argv("--ready-fd", str(ready_w), "--start-fd", str(start_r)),
                         pass_fds=(ready_w, start_r), stderr=subprocess.PIPE, text=True)
    os.close(ready_w)
    os.close(start_r)
    assert read_line(ready_r).startswith("created ")
    os.close(start_w)
    rest = os.read(ready_r, 4096).decode()
    assert rest.startswith("error: aborted before start"), rest
    assert p.wait(timeout=30) == 1
    state = subprocess.run([str(RUNTIME), "--root", str(s.root), "state", s.id], capture_output=True, text=True)
    assert state.returncode != 0  # deleted
    assert not s.log.exists() or "never" not in s.log.read_text()
    os.close(ready_r)
