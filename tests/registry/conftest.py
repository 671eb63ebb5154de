"""Fixtures for pull/push end-to-end tests: berthd (as in tests/engine) and
real registries (registry_server.py, token_server.py)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "engine"))
sys.path.insert(0, str(HERE))

from berthd_daemon import BERTHD, CLIS, ROOT, Daemon  # noqa: E402
from registry_server import Registry, htpasswd_auth  # noqa: E402
from token_server import TokenServer  # noqa: E402


@pytest.fixture(scope="session")
def rootfs_tar(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    subprocess.run([str(ROOT / "tests" / "make-busybox-bundle"), str(d / "b")], check=True, capture_output=True)
    tar = d / "rootfs.tar"
    subprocess.run(["tar", "-C", str(d / "b" / "rootfs"), "-cf", str(tar), "."], check=True)
    return tar


@pytest.fixture(scope="module")
def engine(tmp_path_factory, rootfs_tar):
    if not BERTHD.exists():
        pytest.skip("berthd not built")
    d = Daemon(tmp_path_factory.mktemp("berthd")).start()
    p = d.docker(CLIS[0], "import", str(rootfs_tar), "busybox:latest")
    assert p.returncode == 0, p.stderr
    yield d
    d.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("registry"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(tmp, {"alice": "wonderland"})
    r = Registry(tmp, tokens.registry_auth_yaml())
    r.tokens = tokens
    yield r
    r.stop()
    tokens.stop()


@pytest.fixture
def docker_config(tmp_path):
    """An empty DOCKER_CONFIG directory; write_auth() adds credentials."""
    d = tmp_path / "docker-config"
    d.mkdir()
    return d


def write_auth(config_dir, host, user, password):
    import base64
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
