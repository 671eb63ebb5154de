"""process.terminal: --console-socket (pty master via SCM_RIGHTS), run -t without a socket, exec -t."""
import errno
import os
import select
import socket
import threading
import time

import pytest

from helpers import start, wait_stopped, wait_until


class ConsoleSocket:
    """A unix socket server that receives one pty master per connection."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.received = []  # (fd, payload)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            msg, fds, _, _ = socket.recv_fds(conn, 4096, 4)
            for fd in fds:
                self.received.append((fd, msg))

    def master(self, timeout=10):
        self.thread.join(timeout)
        assert self.received, "no pty master received on the console socket"
        return self.received[0][0]

    def close(self):
        self.sock.close()
        for fd, _ in self.received:
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def console(rt):
    socks = []

    def make():
        s = ConsoleSocket(rt.tmp / f"console-{len(socks)}.sock")
        socks.append(s)
        return s
    yield make
    for s in socks:
        s.close()


def read_until_eof(fd, timeout=10, until=None):
    """Reads a pty master until every slave is closed (EIO) or `until` appears."""
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError as e:
            if e.errno == errno.EIO:
                break
            raise
        if not chunk:
            break
        out += chunk
        if until and until in out:
            break
    return out.decode(errors="replace").replace("\r\n", "\n")


def tty_bundle(rt, args, size=None):
    def edit(c):
        c["process"]["terminal"] = True
        if size:
            c["process"]["consoleSize"] = {"height": size[0], "width": size[1]}
    b = rt.bundle(args, edit=edit)
    return b


def test_console_socket_receives_pty_master(rt, console):
    sock = console()
    b = tty_bundle(rt, ["sh", "-c", "tty; test -t 0 && echo stdin-is-tty; test -t 1 && echo stdout-is-tty; "
                                    "stty size; readlink /proc/self/fd/2; ls -l /dev/console | cut -c1"],
                   size=(40, 100))
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), "--console-socket", sock.path, cid)
    master = sock.master()
    assert os.isatty(master)
    rt.cmd("start", cid)
    out = read_until_eof(master).splitlines()
    assert out[0] in ("/dev/pts/0", "/dev/console")
    assert out[1:4] == ["stdin-is-tty", "stdout-is-tty", "40 100"]
    assert out[4].startswith("/dev/pts/")
    assert out[5] == "c"  # /dev/console is the pty (a character device)
    wait_stopped(rt, cid)


def test_console_socket_payload_names_the_pty(rt, console):
    sock = console()
    b = tty_bundle(rt, ["true"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), "--console-socket", sock.path, cid)
    sock.master()
    assert sock.received[0][1].rstrip(b"\0") .startswith(b"/dev/pts/")


def test_console_is_interactive(rt, console):
    sock = console()
    b = tty_bundle(rt, ["sh", "-c", "read line; echo \"got:$line\"; stty -a | grep -o -- '-\\?echo ' | head -1"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), "--console-socket", sock.path, cid)
    master = sock.master()
    rt.cmd("start", cid)
    os.write(master, b"typed text\n")
    out = read_until_eof(master)
    assert "got:typed text" in out
    # The terminal echoes what was typed (a real tty in canonical mode).
    assert out.startswith("typed text\n")


def test_terminal_process_has_controlling_tty_and_session(rt, console):
    sock = console()
    b = tty_bundle(rt, ["sh", "-c", "cut -d' ' -f6,7 /proc/self/stat; echo $$"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), "--console-socket", sock.path, cid)
    master = sock.master()
    rt.cmd("start", cid)
    out = read_until_eof(master).split()
    session, tty_nr = out[0], int(out[1])
    assert tty_nr != 0  # has a controlling terminal
    assert os.major(tty_nr) == 136  # /dev/pts/*
    assert session == "1"  # the init leads its session


def test_run_with_terminal_and_no_console_socket(rt):
    b = tty_bundle(rt, ["sh", "-c", "read x; echo \"got:$x\"; tty; test -t 0 && echo stdin-tty; exit 3"])
    p = rt.cmd("run", "--bundle", str(b), rt.new_id(), input="hello\n", check=False)
    out = p.stdout.replace("\r\n", "\n")
    assert p.returncode == 3
    assert "got:hello" in out
    assert "/dev/pts/0" in out or "/dev/console" in out
    assert "stdin-tty" in out


def test_create_with_terminal_needs_console_socket(rt):
    cid = rt.new_id()
    b = tty_bundle(rt, ["true"])
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "console socket" in p.stderr
    assert not (rt.root / cid).exists()
    p = rt.cmd("run", "--detach", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "console socket" in p.stderr


def test_console_socket_without_terminal_is_refused(rt, console):
    sock = console()
    cid = rt.new_id()
    p = rt.cmd("create", "--bundle", str(rt.bundle(["true"])), "--console-socket", sock.path, cid, check=False)
    assert p.returncode != 0 and "console socket" in p.stderr
    assert not (rt.root / cid).exists()


def test_console_socket_that_does_not_exist(rt):
    cid = rt.new_id()
    p = rt.cmd("create", "--bundle", str(tty_bundle(rt, ["true"])), "--console-socket", str(rt.tmp / "nope.sock"),
               cid, check=False)
    assert p.returncode != 0 and "nope.sock" in p.stderr
    assert not (rt.root / cid).exists()


def test_exec_tty_with_console_socket(rt, console):
    cid, _ = start(rt)
    sock = console()
    rt.cmd("exec", "--tty", "--detach", "--console-socket", sock.path, cid, "sh", "-c",
           "tty; test -t 0 && echo stdin-tty")
    master = sock.master()
    raw = read_until_eof(master)
    out = raw.splitlines()
    assert len(out) == 2, repr(raw)
    assert out[0].startswith("/dev/pts/")
    assert out[1] == "stdin-tty"


def test_exec_tty_without_console_socket(rt):
    cid, _ = start(rt)
    p = rt.cmd("exec", "-t", cid, "sh", "-c", "tty; exit 4", check=False)
    assert p.returncode == 4
    assert "/dev/pts/" in p.stdout


def test_exec_detach_tty_needs_console_socket(rt):
    cid, _ = start(rt)
    p = rt.cmd("exec", "-t", "-d", cid, "true", check=False)
    assert p.returncode != 0 and "console socket" in p.stderr


def test_run_detach_with_console_socket(rt, console):
    sock = console()
    b = tty_bundle(rt, ["sh", "-c", "tty; read x; echo \"echo:$x\""])
    cid = rt.new_id()
    rt.cmd("run", "--detach", "--console-socket", sock.path, "--bundle", str(b), cid)
    master = sock.master()
    assert rt.state(cid)["status"] == "running"
    os.write(master, b"ping\n")
    out = read_until_eof(master)
    assert "/dev/pts/0" in out or "/dev/console" in out
    assert "echo:ping" in out
    wait_stopped(rt, cid)


def test_exec_tty_in_user_namespace(rt, console):
    from test_namespaces import userns_bundle
    import shutil
    b = userns_bundle(rt, ["sleep", "1000"])
    try:
        cid, _ = start(rt, bundle=b)
        p = rt.cmd("exec", "-t", cid, "sh", "-c", "tty; id -u; stat -c %u $(tty)")
        lines = p.stdout.replace("\r\n", "\n").split()
        assert lines[0].startswith("/dev/pts/")
        assert lines[1:] == ["0", "0"]  # the pty belongs to the container's root
    finally:
        rt.cleanup()
        for d in getattr(rt, "cleanup_paths", []):
            shutil.rmtree(d, ignore_errors=True)


def test_run_terminal_from_a_real_tty(rt):
    """`run` with terminal: true on a tty: window size copied to the container's pty, our terminal put in raw
    mode while it runs and restored afterwards."""
    import fcntl
    import pty
    import struct
    import subprocess
    import termios
    from berth_build import RUNTIME
    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
        before = termios.tcgetattr(slave)
        b = tty_bundle(rt, ["sh", "-c", "stty size; tty"])  # first thing: the size must already be there
        p = subprocess.Popen([str(RUNTIME), "--root", str(rt.root), "run", "--bundle", str(b), rt.new_id()],
                             stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        out = ""
        deadline = time.time() + 15
        while p.poll() is None and time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                out += os.read(master, 4096).decode(errors="replace")
        assert p.wait(timeout=5) == 0
        while select.select([master], [], [], 0.1)[0]:
            try:
                out += os.read(master, 4096).decode(errors="replace")
            except OSError:
                break
        lines = out.replace("\r", "").split("\n")
        assert "33 77" in lines
        assert any(l.startswith("/dev/pts/") or l == "/dev/console" for l in lines)
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)


def test_exec_terminal_from_a_real_tty(rt):
    import fcntl
    import pty
    import struct
    import subprocess
    import termios
    from berth_build import RUNTIME
    cid, _ = start(rt)
    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 21, 55, 0, 0))
        p = subprocess.Popen([str(RUNTIME), "--root", str(rt.root), "exec", "-t", cid, "stty", "size"],
                             stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        out = ""
        deadline = time.time() + 15
        while p.poll() is None and time.time() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                out += os.read(master, 4096).decode(errors="replace")
        assert p.wait(timeout=5) == 0
        while select.select([master], [], [], 0.1)[0]:
            out += os.read(master, 4096).decode(errors="replace")
        assert "21 55" in out.replace("\r", "").split("\n")
    finally:
        os.close(master)
        os.close(slave)
