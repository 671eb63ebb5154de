"""The private daemons (dockerd or berthd) the berth CLI tests run against,
shared by tests/cli/conftest.py and test modules that need their own daemon."""
import os
import shutil
import subprocess
import time

import pytest

from berth_build import BUILD  # noqa: E402
from local_server import stop_process  # noqa: E402


def berth_binary():
    if os.environ.get("BERTH_CLI"):
        return os.environ["BERTH_CLI"]
    p = BUILD / "berth"
    if p.exists():
        return str(p)
    pytest.skip("berth CLI not built")


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def make_rootfs_tar(d):
    """A busybox-static root file system as a tar (what `import` takes)."""
    root = d / "rootfs"
    for sub in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "etc", "tmp", "root", "var"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    applets = subprocess.run([str(root / "bin" / "busybox"), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for a in applets:
        if not (root / "bin" / a).exists():
            os.symlink("busybox", root / "bin" / a)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    os.chmod(root / "tmp", 0o1777)
    tar = d / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    return tar


class Daemon:
    """One private daemon; run(cli, *args) runs berth or docker against it.

    own_netns: the daemon runs in a network namespace of its own (`unshare
    --net`), for tests that create networks; its socket is a file, so the
    CLIs reach it from here. Otherwise it shares the host's namespace
    without a default bridge or firewall rules (dockerd and berthd alike).
    checked: run() fails on a non-zero exit unless told otherwise."""

    def __init__(self, base, kind, own_netns=False, checked=True):
        self.base = base
        self.kind = kind
        self.own_netns = own_netns
        self.checked = checked
        self.sock = base / "d.sock"
        self.host = f"unix://{self.sock}"
        self.env = dict(os.environ, DOCKER_HOST=self.host, BERTH_HOST=self.host)
        self.procs = []
        self.berth = berth_binary()

    def _spawn(self, argv, log, daemon=False):
        if daemon and self.own_netns:
            argv = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]
        f = open(self.base / log, "w")
        self.procs.append(subprocess.Popen(argv, stdout=f, stderr=f))

    def start(self):
        b = self.base
        if self.kind == "dockerd":
            ctrd = b / "containerd.sock"
            self._spawn(["containerd", "--address", str(ctrd), "--root", str(b / "ctrd-root"),
                         "--state", str(b / "ctrd-state")], "containerd.log")
            wait_for(ctrd.exists, 20, "containerd socket")
            self._spawn(["dockerd", "--host", self.host, "--data-root", str(b / "data"),
                         "--exec-root", str(b / "exec"), "--pidfile", str(b / "d.pid"),
                         "--containerd", str(ctrd), "--bridge", "none", "--iptables=false",
                         "--ip-masq=false"], "dockerd.log", daemon=True)
        else:
            net = [] if self.own_netns else ["--bridge", "none", "--iptables=false"]
            self._spawn([str(BUILD / "berthd"), "-H", self.host, "--data-root", str(b / "data"),
                         "--exec-root", str(b / "exec"), "--pidfile", str(b / "d.pid"), *net], "berthd.log", daemon=True)
        wait_for(lambda: self.run("berth", "version", check=False).returncode == 0, 60, self.kind)

    def run(self, cli, *args, check=None, input=None, timeout=60, binary_output=False):
        check = self.checked if check is None else check
        exe = self.berth if cli == "berth" else "docker"
        p = subprocess.run([exe, *args], env=self.env, capture_output=True, text=not binary_output,
                           input=input, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{cli} {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def stop(self):
        for p in reversed(self.procs):
            stop_process(p, 20)


def daemon_kinds():
    only = os.environ.get("BERTH_TEST_DAEMON")
    return [only] if only else ["berthd", "dockerd"]


