"""berth-hub's automated builds end to end: a git repository in tmp, a
private berthd with busybox imported, and berth-hub --open --berthd
unix://<that socket> --build-poll 1. Builds are started through the API and
by a commit the poller notices; the result is pulled back from the hub by
berthd and run.

    BERTH_BUILD_DIR=... /usr/bin/python3 -m pytest tests/hub/test_automated_builds.py
"""
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from registry_server import Hub

sys.path.append(str(Path(__file__).resolve().parent.parent / "engine"))
from berthd_daemon import BERTHD, CLIS, daemon_with_image  # noqa: E402

BASE = "hubbase:latest"


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path, files):
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "t")
    commit(path, files, "initial")
    return path


def commit(path, files, message):
    for name, content in files.items():
        (path / name).write_text(content)
    git(path, "add", "-A")
    git(path, "commit", "-qm", message)
    return git(path, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def env(tmp_path_factory, rootfs_tar):
    if not BERTHD.exists() or not CLIS:
        pytest.skip("berthd or docker CLI missing")
    tmp = tmp_path_factory.mktemp("builds")
    (tmp / "d").mkdir()
    (tmp / "hub").mkdir()
    with daemon_with_image(tmp / "d", rootfs_tar, BASE) as d:
        hub = Hub(tmp / "hub", "--open", "--berthd", d.host, "--build-poll", "1")
        try:
            yield tmp, d, hub
        finally:
            hub.stop()


def url(hub, repo, suffix):
    return f"http://{hub.host}/api/v1/repositories/{repo}/{suffix}"


def set_rules(hub, repo, source, rules):
    r = requests.put(url(hub, repo, "build-rules"), json={"source": str(source), "rules": rules}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_build(hub, repo, build_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = requests.get(url(hub, repo, f"builds/{build_id}"), timeout=10).json()
        if b["status"] in ("success", "failure"):
            return b
        time.sleep(0.2)
    raise AssertionError(f"build did not finish: {b}")


def test_build_via_api_then_git_push_then_pull_and_run(env):
    tmp, d, hub = env
    repo = "team/app"
    src = make_repo(tmp / "app-src", {
        "Dockerfile": f"FROM {BASE}\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n",
        "msg": "hello one\n",
    })
    saved = set_rules(hub, repo, src, [
        {"source_type": "branch", "source_name": "main", "tag": "latest"},
        {"source_type": "tag", "source_name": "/^v([0-9.]+)$/", "tag": "{\\1}"},
    ])
    assert saved["rules"][0]["dockerfile"] == "Dockerfile"
    assert saved["trigger_url"].startswith(f"http://{hub.host}/api/v1/repositories/{repo}/-/builds/trigger/")
    assert requests.get(url(hub, repo, "build-rules"), timeout=10).json() == saved

    # The button: build main now.
    r = requests.post(url(hub, repo, "builds"), json={"ref": "main"}, timeout=30)
    assert r.status_code == 202, r.text
    (queued,) = r.json()["builds"]
    assert (queued["ref"], queued["tag"], queued["reason"]) == ("main", "latest", "API")
    b = wait_build(hub, repo, queued["id"])
    assert b["status"] == "success", b["log"]
    assert b["commit"] == git(src, "rev-parse", "HEAD")
    assert b["digest"].startswith("sha256:")
    assert "Step 1/3 : FROM" in b["log"]
    head = requests.head(f"http://{hub.host}/v2/{repo}/manifests/latest",
                         headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                                            "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == b["digest"]
    # The build daemon does not keep the tag it pushed.
    assert d.docker(CLIS[0], "image", "inspect", f"{hub.host}/{repo}:latest").returncode != 0

    # A git push: a new commit on main and a release tag, found by polling.
    new = commit(src, {"msg": "hello two\n"}, "second")
    git(src, "tag", "v1.2")
    deadline = time.monotonic() + 30
    pushed = []
    while time.monotonic() < deadline:
        builds = requests.get(url(hub, repo, "builds"), timeout=10).json()
        pushed = [x for x in builds if x["reason"] == "git push"]
        if len(pushed) == 2 and all(x["status"] in ("success", "failure") for x in pushed):
            break
        time.sleep(0.3)
    assert sorted((x["ref"], x["tag"], x["commit"], x["status"]) for x in pushed) == [
        ("main", "latest", new, "success"), ("v1.2", "1.2", new, "success")], pushed

    # Pull what the hub serves and run it.
    image = f"{hub.host}/{repo}:1.2"
    p = d.docker(CLIS[0], "pull", image)
    assert p.returncode == 0, p.stderr
    p = d.docker(CLIS[0], "run", "--rm", image)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hello two\n"


def test_failing_dockerfile_records_failure_and_log(env):
    tmp, d, hub = env
    repo = "team/broken"
    src = make_repo(tmp / "broken-src", {"Dockerfile": f"FROM {BASE}\nCOPY no-such-file /x\n"})
    set_rules(hub, repo, src, [{"source_type": "branch", "source_name": "main", "tag": "latest"}])
    r = requests.post(url(hub, repo, "builds"), timeout=30)
    assert r.status_code == 202, r.text
    b = wait_build(hub, repo, r.json()["builds"][0]["id"])
    assert b["status"] == "failure"
    assert b["digest"] == ""
    assert "no-such-file" in b["error"], b
    assert "no-such-file" in b["log"], b["log"]
    assert requests.get(f"http://{hub.host}/v2/{repo}/tags/list", timeout=10).status_code == 404


def test_rules_need_a_reachable_git_repository(env):
    tmp, _, hub = env
    r = requests.put(url(hub, "team/x", "build-rules"),
                     json={"source": str(tmp / "missing"), "rules": [{"source_name": "main"}]}, timeout=30)
    assert r.status_code == 400
    assert "git ls-remote" in r.json()["message"]
    r = requests.put(url(hub, "team/x", "build-rules"), json={"source": "ext::sh -c id", "rules": []}, timeout=30)
    assert r.status_code == 400
    r = requests.post(url(hub, "team/x", "builds"), timeout=30)
    assert r.status_code == 400


def test_build_with_accounts_pushes_as_the_namespace_robot(tmp_path, rootfs_tar):
    """Outside --open: the build pushes into a private repository with a
    short-lived token of the namespace's autobuild robot."""
    from registry_client import RegistryClient
    from registry_server import AuthHub, hub_api
    (tmp_path / "d").mkdir()
    (tmp_path / "hub").mkdir(exist_ok=True)
    with daemon_with_image(tmp_path / "d", rootfs_tar, BASE) as d:
        hub = AuthHub(tmp_path / "hub", "alice", "alice-password", orgs=["team"])
        hub.stop()
        hub = Hub(tmp_path / "hub", "--berthd", d.host, "--build-poll", "0", "--build-local-sources")
        try:
            alice = ("alice", "alice-password")
            assert hub_api(hub, "POST", "/api/v1/repositories", *alice, {"name": "team/private", "is_private": True})[0] == 201
            src = make_repo(tmp_path / "src", {"Dockerfile": f"FROM {BASE}\nCMD [\"echo\", \"built\"]\n"})
            r = requests.put(url(hub, "team/private", "build-rules"), auth=alice, timeout=30,
                             json={"source": str(src), "rules": [{"source_type": "branch", "source_name": "main",
                                                                   "tag": "latest"}]})
            assert r.status_code == 200, r.text
            # Anonymous callers do not see the repository's builds.
            assert requests.post(url(hub, "team/private", "builds"), timeout=30).status_code in (401, 404)
            r = requests.post(url(hub, "team/private", "builds"), auth=alice, timeout=30)
            assert r.status_code == 202, r.text
            build_id = r.json()["builds"][0]["id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                b = requests.get(url(hub, "team/private", f"builds/{build_id}"), auth=alice, timeout=10).json()
                if b["status"] in ("success", "failure"):
                    break
                time.sleep(0.2)
            assert b["status"] == "success", b["log"]
            owner = RegistryClient(f"http://{hub.host}", *alice)
            m = owner.head("/v2/team/private/manifests/latest",
                           headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
            assert m.status_code == 200 and m.headers["Docker-Content-Digest"] == b["digest"]
            grants = hub_api(hub, "GET", "/api/v1/repositories/team/private/collaborators", *alice)[1]
            assert {"name": "team+autobuild", "permission": "write"} in grants["collaborators"]
            assert RegistryClient(f"http://{hub.host}").head("/v2/team/private/manifests/latest").status_code == 401
        finally:
            hub.stop()
