"""A daemon for the berth CLI's end-to-end tests, and both CLIs pointed at it.

Every test runs against both daemons: "dockerd" (a private containerd +
dockerd, so berth is compared with the real docker CLI against the real
engine) and "berthd" (<build>/berthd); BERTH_TEST_DAEMON=dockerd|berthd picks one. BERTH_BUILD_DIR
names the build (default build/); BERTH_CLI overrides the berth binary (default <build>/berth).
"""
import shutil
import subprocess
from pathlib import Path

import pytest

from cli_daemon import Daemon, daemon_kinds, make_rootfs_tar


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
