"""The CLIs' signal handling against berthd: --sig-proxy forwards what the
CLI receives to the container's process, and a tty session follows the
terminal's size on SIGWINCH (berth and the real docker CLI alike)."""
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from berthd_daemon import BERTH, CLIS

CLI_CHOICES = [str(BERTH)] + CLIS[:1]


def env_for(engine):
    e = dict(os.environ, DOCKER_HOST=engine.host, BERTH_HOST=engine.host)
    e.pop("DOCKER_CONTEXT", None)
    return e


def read_until(fd, needle, timeout=10):
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


# docker CLI 23+ also cancels its own context on SIGTERM, which races with (and
# sometimes stops) its signal forwarder: a client-side flake, so docker 20.10 here.
SIG_PROXY_CLIS = [str(BERTH)] + [c for c in CLIS if c == "/usr/bin/docker"]


@pytest.mark.parametrize("cli", SIG_PROXY_CLIS)
def test_sig_proxy_forwards_signals_to_the_container(engine, cli):
    script = 'trap "echo got TERM; exit 3" TERM; echo ready; while :; do sleep 0.1; done'
    p = subprocess.Popen([cli, "run", "--rm", "busybox", "sh", "-c", script], env=env_for(engine),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert read_until(p.stdout.fileno(), b"ready") == b"ready\n"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert b"got TERM" in out, err
    assert p.returncode == 3


# docker CLI 23+ catches SIGTERM itself (a cancelled context that an
# attached `run` does not act on), so only berth and docker 20.10 die of it.
@pytest.mark.parametrize("cli", SIG_PROXY_CLIS)
def test_without_sig_proxy_the_cli_dies_and_the_container_lives(engine, cli):
    name = f"nosig-{os.path.basename(cli)}"
    p = subprocess.Popen([cli, "run", "--name", name, "--sig-proxy=false", "busybox", "sh", "-c",
                          "echo ready; while :; do sleep 0.1; done"],
                         env=env_for(engine), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(p.stdout.fileno(), b"ready")
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        assert p.returncode != 0
        state = subprocess.run([cli, "inspect", "-f", "{{.State.Running}}", name], env=env_for(engine),
                               capture_output=True, text=True, timeout=20)
        assert state.stdout.strip() == "true", state.stderr
    finally:
        subprocess.run([cli, "rm", "-f", name], env=env_for(engine), capture_output=True, timeout=30)


@pytest.mark.parametrize("cli", CLI_CHOICES)
def test_tty_session_follows_window_size_changes(engine, cli):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    p = subprocess.Popen([cli, "run", "--rm", "-it", "busybox", "sh"], env=env_for(engine),
                         stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    try:
        os.write(master, b"stty size\n")
        read_until(master, b"24 80")
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))
        p.send_signal(signal.SIGWINCH)
        time.sleep(0.3)  # the resize travels CLI -> daemon -> pty asynchronously
        os.write(master, b"stty size\n")
        read_until(master, b"40 132")
        os.write(master, b"exit 0\n")
        p.wait(timeout=20)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
