"""Real peers for berth-runtime: a private containerd + dockerd, podman, ctr."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from berth_build import RUNTIME
from local_server import stop_process


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Dockerd:
    def __init__(self, base):
        self.base = base
        self.sock = base / "docker.sock"
        self.ctrd_sock = base / "containerd.sock"
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")
        self.procs = []

    def start(self):
        b = self.base
        logc = open(b / "containerd.log", "w")
        self.procs.append(subprocess.Popen(
            ["containerd", "--address", str(self.ctrd_sock), "--root", str(b / "ctrd-root"),
             "--state", str(b / "ctrd-state")], stdout=logc, stderr=logc))
        wait_for(self.ctrd_sock.exists, 20, "containerd socket")
        logd = open(b / "dockerd.log", "w")
        self.procs.append(subprocess.Popen(
            ["dockerd", "--host", f"unix://{self.sock}", "--data-root", str(b / "data"),
             "--exec-root", str(b / "exec"), "--pidfile", str(b / "docker.pid"),
             "--containerd", str(self.ctrd_sock), "--bridge", "none", "--iptables=false",
             "--ip-masq=false", "--add-runtime", f"berth={RUNTIME}"], stdout=logd, stderr=logd))
        wait_for(lambda: self.docker("version", check=False).returncode == 0, 60, "dockerd")

    def docker(self, *args, check=True, cli="docker", timeout=60, **kw):
        p = subprocess.run([cli, *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"{cli} {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def stop(self):
        for p in reversed(self.procs):
            stop_process(p, 20)


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory, rootfs_tar):
    if not shutil.which("dockerd") or not shutil.which("containerd"):
        pytest.skip("docker.io/containerd not installed")
    # A short path: unix socket paths are limited to 108 bytes.
    base = Path(subprocess.run(["mktemp", "-d", "/tmp/berth-dk.XXXXXX"], capture_output=True, text=True,
                               check=True).stdout.strip())
    d = Dockerd(base)
    d.start()
    d.docker("import", str(rootfs_tar), "bb:latest")
    yield d
    d.docker("rm", "-f", *d.docker("ps", "-aq").stdout.split(), check=False)
    d.stop()
    subprocess.run(["umount", "-R", str(base)], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)
