"""A daemon for the berth CLI's end-to-end tests, and both CLIs pointed at it.

Every test runs against both daemons: "dockerd" (a private containerd +
dockerd, so berth is compared with the real docker CLI against the real
engine) and "berthd" (<build>/berthd); BERTH_TEST_DAEMON=dockerd|berthd picks one. BERTH_BUILD_DIR
names the build (default build/); BERTH_CLI overrides the berth binary (default <build>/berth).
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from berth_build import BUILD  # noqa: E402


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
    """One private daemon; run(cli, *args) runs berth or docker against it."""

    def __init__(self, base, kind):
        self.base = base
        self.kind = kind
        self.sock = base / "d.sock"
        self.host = f"unix://{self.sock}"
        self.env = dict(os.environ, DOCKER_HOST=self.host, BERTH_HOST=self.host)
        self.procs = []
        self.berth = berth_binary()

    def _spawn(self, argv, log):
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
                         "--ip-masq=false"], "dockerd.log")
        else:
            self._spawn([str(BUILD / "berthd"), "-H", self.host, "--data-root", str(b / "data"),
                         "--exec-root", str(b / "exec"), "--pidfile", str(b / "d.pid")], "berthd.log")
        wait_for(lambda: self.run("berth", "version", check=False).returncode == 0, 60, self.kind)

    def run(self, cli, *args, check=True, input=None, timeout=60, binary_output=False):
        exe = self.berth if cli == "berth" else "docker"
        p = subprocess.run([exe, *args], env=self.env, capture_output=True, text=not binary_output,
                           input=input, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"{cli} {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def daemon_kinds():
    only = os.environ.get("BERTH_TEST_DAEMON")
    return [only] if only else ["berthd", "dockerd"]


@pytest.fixture(scope="session", params=daemon_kinds())
def daemon(request, tmp_path_factory):
    kind = request.param
    if kind == "dockerd" and (not shutil.which("dockerd") or not shutil.which("containerd")):
        pytest.skip("docker.io/containerd not installed")
    if kind == "dockerd" and not shutil.which("docker"):
        pytest.skip("docker CLI not installed")
    base = Path(subprocess.run(["mktemp", "-d", "/tmp/berth-cli.XXXXXX"], capture_output=True, text=True,
                               check=True).stdout.strip())
    d = Daemon(base, kind)
    d.tar = make_rootfs_tar(base)
    try:
        d.start()
        yield d
    finally:
        ids = d.run("berth", "ps", "-aq", check=False).stdout.split()
        if ids:
            d.run("berth", "rm", "-f", *ids, check=False)
        d.stop()
        subprocess.run(["umount", "-R", str(base)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def image(daemon):
    """bb:latest, imported with `berth import`."""
    out = daemon.run("berth", "import", str(daemon.tar), "bb:latest").stdout
    assert out.startswith("sha256:") and len(out.strip()) == 71, out
    return "bb:latest"
