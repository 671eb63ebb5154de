"""Fixtures for pull/push end-to-end tests: berthd (as in tests/engine) and
real registries (registry_server.py, token_server.py)."""
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# berthd_daemon lives with the engine tests. Appended, not prepended: a
# directory early on sys.path would shadow tests/conftest.py, which the
# runtime tests import by name.
sys.path.append(str(HERE.parent / "engine"))

from berthd_daemon import engine  # noqa: E402,F401 (shared fixture)
from registry_server import REGISTRY_KINDS, Registry  # noqa: E402
from token_server import TokenServer  # noqa: E402


# Scenarios on a plain registry run against Debian's docker-registry and
# against berth-hub: both must give the same results.
@pytest.fixture(scope="module", params=sorted(REGISTRY_KINDS))
def registry(tmp_path_factory, request):
    r = REGISTRY_KINDS[request.param](tmp_path_factory.mktemp("registry"))
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
