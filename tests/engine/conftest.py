"""Fixtures for berthd end-to-end tests: a daemon on a private socket and
data root, driven by the real docker CLIs and the Python SDK."""
import subprocess

import pytest

from berthd_daemon import BERTHD, CLIS, ROOT, Daemon


@pytest.fixture
def berthd(tmp_path):
    if not BERTHD.exists():
        pytest.skip("build/berthd not built")
    d = Daemon(tmp_path).start()
    yield d
    d.stop()




@pytest.fixture(scope="session")
def rootfs_tar(tmp_path_factory):
    """A busybox-static root file system as a tar, for `docker import`."""
    d = tmp_path_factory.mktemp("img")
    subprocess.run([str(ROOT / "tests" / "make-busybox-bundle"), str(d / "b")], check=True, capture_output=True)
    tar = d / "rootfs.tar"
    subprocess.run(["tar", "-C", str(d / "b" / "rootfs"), "-cf", str(tar), "."], check=True)
    return tar


@pytest.fixture(scope="module")
def engine(tmp_path_factory, rootfs_tar):
    """One daemon per test module with busybox:latest imported."""
    if not BERTHD.exists():
        pytest.skip("build/berthd not built")
    d = Daemon(tmp_path_factory.mktemp("berthd")).start()
    p = d.docker(CLIS[0], "import", str(rootfs_tar), "busybox:latest")
    assert p.returncode == 0, p.stderr
    yield d
    # Containers outlive the daemon by design: remove them before it stops.
    ids = d.docker(CLIS[0], "ps", "-aq").stdout.split()
    if ids:
        d.docker(CLIS[0], "rm", "-f", *ids)
    d.stop()
