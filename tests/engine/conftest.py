"""Fixtures for berthd end-to-end tests: a daemon on a private socket and
data root, driven by the real docker CLIs and the Python SDK."""
import pytest

from berthd_daemon import BERTHD, Daemon, engine  # noqa: F401 (shared fixture)
from berthd_daemon import bb_daemon as bd  # noqa: F401 (shared fixture: the build tests' daemon)


@pytest.fixture
def berthd(tmp_path):
    if not BERTHD.exists():
        pytest.skip("build/berthd not built")
    d = Daemon(tmp_path).start()
    yield d
    d.stop()
