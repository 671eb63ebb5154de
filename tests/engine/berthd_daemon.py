"""A berthd on a private socket and data root, for end-to-end tests, and
the `engine` fixture berthd test modules share (conftest files import it;
rootfs_tar comes from tests/conftest.py)."""
import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest


# berthd finds its shim, runtime and init beside itself in BUILD.
from berth_build import BUILD  # noqa: E402
BERTHD = BUILD / "berthd"
BERTH = BUILD / "berth"
CLIS = [c for c in ("/usr/local/bin/docker", "/usr/bin/docker") if os.path.exists(c)]
PY = "/usr/bin/python3"


class NetNs:
    """A network namespace of the test's own (`ip netns add`), with lo up:
    a daemon run inside it has its own bridges, nftables tables and ports,
    so tests neither touch the host's networking nor collide."""

    def __init__(self, prefix="berth-t"):
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)

    @property
    def path(self):
        return f"/run/netns/{self.name}"

    def argv(self, *argv):
        return ["nsenter", f"--net={self.path}", *argv]

    def run(self, *argv, timeout=30, check=False):
        return subprocess.run(self.argv(*argv), capture_output=True, text=True, timeout=timeout, check=check)

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Daemon:
    """berthd on a private socket and data root. Without a NetNs it runs in
    the host's namespace with no default bridge and no firewall rules
    (containers get an isolated namespace, as with --network none); with
    one, it runs inside it with docker's full networking."""

    def __init__(self, tmp, netns=None):
        self.netns = netns
        # Unix socket paths are limited to 108 bytes; pytest's tmp_path can be
        # longer, so the socket lives in a short directory of its own.
        self.sockdir = Path("/tmp") / f"berthd-{uuid.uuid4().hex[:10]}"
        self.sock = self.sockdir / "berth.sock"
        self.data = tmp / "data"
        self.exec_root = tmp / "exec"
        self.pidfile = tmp / "berthd.pid"
        self.proc = None
        # A file, not a pipe: nobody drains a pipe while the daemon runs.
        self.log_path = tmp / f"berthd-{uuid.uuid4().hex[:6]}.log"
        self.log = None

    @property
    def host(self):
        return f"unix://{self.sock}"

    def start(self, *extra):
        self.log = open(self.log_path, "ab")
        argv = [str(BERTHD), "-H", self.host, "--data-root", str(self.data), "--exec-root", str(self.exec_root),
                "--pidfile", str(self.pidfile)]
        if self.netns:
            argv = self.netns.argv(*argv)
        elif not any(a.startswith(("-b", "--bridge")) for a in extra):
            argv += ["--bridge", "none", "--iptables=false"]
        self.proc = subprocess.Popen([*argv, *extra], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"berthd exited {self.proc.returncode}: {self.log_path.read_text()}")
            if self.sock.exists():
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(str(self.sock))
                    return self
                except OSError:
                    pass
            time.sleep(0.01)
        raise AssertionError("berthd did not start listening")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None
        try:
            self.sockdir.rmdir()
        except OSError:
            pass

    def docker(self, cli, *args):
        env = dict(os.environ, DOCKER_HOST=self.host)
        env.pop("DOCKER_CONTEXT", None)
        return subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=30)


def wait_until(pred, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def daemon_with_image(tmp, rootfs_tar, tag="busybox:latest"):
    """A started daemon with rootfs_tar imported as `tag`. Containers outlive
    the daemon by design: they are removed before it stops."""
    d = Daemon(tmp).start()
    try:
        p = d.docker(CLIS[0], "import", str(rootfs_tar), tag)
        assert p.returncode == 0, p.stderr
        yield d
        ids = d.docker(CLIS[0], "ps", "-aq").stdout.split()
        if ids:
            d.docker(CLIS[0], "rm", "-f", *ids)
    finally:
        d.stop()


def classic_build(d, ctx, *args):
    """`docker build` with the classic builder (DOCKER_BUILDKIT=0) against d."""
    env = dict(os.environ, DOCKER_HOST=d.host, DOCKER_BUILDKIT="0")
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run([CLIS[0], "build", *args, "."], cwd=ctx, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def engine(tmp_path_factory, rootfs_tar):
    """One daemon per test module with busybox:latest imported."""
    if not BERTHD.exists():
        pytest.skip("berthd not built")
    with daemon_with_image(tmp_path_factory.mktemp("berthd"), rootfs_tar) as d:
        yield d


@pytest.fixture
def bb_daemon(tmp_path, rootfs_tar):
    """A daemon of its own per test with busybox imported as bb:latest (the build tests' base)."""
    if not BERTHD.exists() or not CLIS:
        pytest.skip("berthd or docker CLI missing")
    (tmp_path / "d").mkdir()
    with daemon_with_image(tmp_path / "d", rootfs_tar, "bb:latest") as d:
        yield d
