"""docker search through berthd: /images/search asks the index the term
names (here the Docker Hub stand-in in token_server.py) and filters."""
import os
import subprocess

import pytest

from berthd_daemon import CLIS
from token_server import TokenServer

INDEX = [
    {"name": "team/app", "description": "the app", "star_count": 12, "is_official": False, "is_automated": True},
    {"name": "library/appbase", "description": "base image", "star_count": 500, "is_official": True,
     "is_automated": False},
    {"name": "bob/app-tools", "description": "tools", "star_count": 1, "is_official": False, "is_automated": False},
    {"name": "other/thing", "description": "unrelated", "star_count": 99, "is_official": False,
     "is_automated": False},
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    s = TokenServer(tmp_path_factory.mktemp("index"), {}, INDEX)
    yield s
    s.stop()


def search(engine, *args, cli=CLIS[0]):
    env = dict(os.environ, DOCKER_HOST=engine.host)
    return subprocess.run([cli, "search", *args], env=env, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("cli", CLIS)
def test_search_lists_matches_with_filters_and_limit(engine, index, cli):
    host = f"127.0.0.1:{index.port}"
    p = search(engine, "--format", "{{.Name}} {{.StarCount}} {{.Description}}", f"{host}/app", cli=cli)
    assert p.returncode == 0, p.stderr
    # docker 20.10's CLI sorts by stars itself; 28 keeps the daemon's order.
    assert sorted(p.stdout.splitlines()) == ["bob/app-tools 1 tools", "library/appbase 500 base image",
                                             "team/app 12 the app"]
    p = search(engine, "--format", "{{.Name}}", "--filter", "is-official=true", f"{host}/app", cli=cli)
    assert p.stdout.splitlines() == ["library/appbase"], p.stderr
    assert index.searches[-1] == "q=app&n=25"
    p = search(engine, "--format", "{{.Name}}", "--filter", "stars=10", "--filter", "is-official=false",
               f"{host}/app", cli=cli)
    assert p.stdout.splitlines() == ["team/app"], p.stderr
    p = search(engine, "--format", "{{.Name}}", "--limit", "1", f"{host}/app", cli=cli)
    assert p.stdout.splitlines() == ["team/app"], p.stderr
    assert index.searches[-1] == "q=app&n=1"


def test_search_errors(engine, index):
    host = f"127.0.0.1:{index.port}"
    p = search(engine, "--limit", "101", f"{host}/app")
    assert p.returncode == 1
    assert "limit 101 is outside the range of [1, 100]" in p.stderr
    p = search(engine, "--filter", "color=blue", f"{host}/app")
    assert p.returncode == 1
    assert "invalid filter" in p.stderr
    # Nothing listens there: the error names the index.
    p = search(engine, "127.0.0.1:1/app")
    assert p.returncode == 1
    assert "127.0.0.1:1" in p.stderr


def test_search_berth_hub_lists_public_repositories_only(engine, tmp_path):
    """docker search against berth-hub's /v1/search: names, descriptions,
    stars; private repositories never show to anonymous searchers."""
    import sys
    from pathlib import Path
    sys.path.append(str(Path(__file__).resolve().parent.parent / "hub"))
    from registry_client import RegistryClient, oci_image
    from registry_server import AuthHub, create_hub_user, hub_api

    hub = AuthHub(tmp_path, "alice", "alice-password")
    try:
        alice = RegistryClient(f"http://{hub.host}", "alice", "alice-password")
        for repo, private, desc in [("alice/app", False, "the app"), ("alice/app-secret", True, "hidden")]:
            oci_image().push(alice, repo, "1")
            assert hub_api(hub, "PATCH", f"/api/v1/repositories/{repo}", "alice", "alice-password",
                           {"is_private": private, "description": desc})[0] == 200
        create_hub_user(tmp_path, "bob", "bob-password")
        assert hub_api(hub, "PUT", "/api/v1/repositories/alice/app/star", "bob", "bob-password")[0] == 200
        for cli in CLIS:
            p = search(engine, "--format", "{{.Name}}|{{.StarCount}}|{{.Description}}", f"{hub.host}/app", cli=cli)
            assert p.returncode == 0, p.stderr
            assert p.stdout.splitlines() == ["alice/app|1|the app"], (cli, p.stdout)
    finally:
        hub.stop()
