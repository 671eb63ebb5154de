"""pull, push, login and logout end to end: a real registry (Debian's
docker-registry, distribution 2.8, and berth-hub) on 127.0.0.1, plain or behind htpasswd
Basic auth, driven by the berth CLI and the real docker CLIs against the
daemons of conftest.py (berthd, and dockerd for comparison: 127.0.0.0/8 is
an insecure registry there by default, so plain HTTP works for both).

Every test gets its own registry (a fresh port, so image names never
collide across tests on the session's daemon) and its own DOCKER_CONFIG."""
import base64
import io
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest

from registry_server import REGISTRY_KINDS, AuthHub, Registry, htpasswd_auth

DOCKER28 = "/usr/local/bin/docker"
DOCKER20 = "/usr/bin/docker"

pytestmark = pytest.mark.skipif(not shutil.which("docker-registry"), reason="docker-registry not installed")


# Every plain-registry scenario runs against Debian's docker-registry and
# against berth-hub: both must give the same results.
@pytest.fixture(params=sorted(REGISTRY_KINDS))
def registry(tmp_path, request):
    (tmp_path / "reg").mkdir()
    r = REGISTRY_KINDS[request.param](tmp_path / "reg")
    yield r
    r.stop()


# docker-registry behind htpasswd Basic auth, and berth-hub with an account
# and Docker Hub's token auth: the same logins, pushes and pulls work on both.
@pytest.fixture(params=["distribution", "berth-hub"])
def auth_registry(tmp_path, request):
    (tmp_path / "areg").mkdir()
    if request.param == "berth-hub":
        r = AuthHub(tmp_path / "areg", "alice", "wonderland", orgs=["team"])
    else:
        r = Registry(tmp_path / "areg", htpasswd_auth(tmp_path / "areg", "alice", "wonderland"))
    yield r
    r.stop()


def clis():
    out = ["berth"]
    out += [c for c in (DOCKER28, DOCKER20) if os.path.exists(c)]
    return out


def cli_id(c):
    return {"berth": "berth", DOCKER28: "docker28", DOCKER20: "docker20"}[c]


def run(daemon, cli, *args, config=None, input=None, check=False):
    exe = daemon.berth if cli == "berth" else cli
    env = dict(daemon.env)
    env.pop("DOCKER_CONTEXT", None)
    if config is not None:
        env["DOCKER_CONFIG"] = str(config)
    p = subprocess.run([exe, *args], env=env, capture_output=True, text=True, input=input, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError(f"{cli} {' '.join(args)} exited {p.returncode}: {p.stdout}{p.stderr}")
    return p


def auths(config):
    f = config / "config.json"
    return json.loads(f.read_text()).get("auths", {}) if f.exists() else {}


def assert_pull_output(out, repo, tag, fresh):
    lines = out.splitlines()
    assert lines[0] == f"{tag}: Pulling from team/bb", out
    digests = [l for l in lines if l.startswith("Digest: ")]
    assert len(digests) == 1 and re.fullmatch(r"Digest: sha256:[0-9a-f]{64}", digests[0]), out
    status = "Downloaded newer image for" if fresh else "Image is up to date for"
    assert lines[-2] == f"Status: {status} {repo}:{tag}", out
    assert lines[-1] == f"{repo}:{tag}", out
    return digests[0].split(" ")[1]


@pytest.mark.parametrize("cli", clis(), ids=cli_id)
def test_push_rmi_pull_run(daemon, image, registry, docker_config, cli):
    repo = f"{registry.host}/team/bb"
    run(daemon, "berth", "tag", image, f"{repo}:1", check=True)
    p = run(daemon, cli, "push", f"{repo}:1", config=docker_config, check=True)
    assert p.stdout.startswith(f"The push refers to repository [{repo}]\n"), p.stdout
    m = re.search(r"^1: digest: (sha256:[0-9a-f]{64}) size: \d+$", p.stdout, re.M)
    assert m, p.stdout
    pushed = m.group(1)

    run(daemon, "berth", "rmi", f"{repo}:1", check=True)
    p = run(daemon, cli, "pull", f"{repo}:1", config=docker_config, check=True)
    assert assert_pull_output(p.stdout, repo, "1", fresh=True) == pushed
    p = run(daemon, cli, "pull", f"{repo}:1", config=docker_config, check=True)
    assert_pull_output(p.stdout, repo, "1", fresh=False)
    p = run(daemon, cli, "run", "--rm", f"{repo}:1", "echo", "hi", check=True)
    assert p.stdout == "hi\n"

    p = run(daemon, cli, "pull", f"{repo}:nope", config=docker_config)
    assert p.returncode == 1, p
    assert f"manifest for {repo}:nope not found: manifest unknown" in p.stderr
    run(daemon, "berth", "rmi", f"{repo}:1", check=True)


def test_default_tag_quiet_and_digest(daemon, image, registry, docker_config):
    repo = f"{registry.host}/team/bb"
    run(daemon, "berth", "tag", image, repo, check=True)
    p = run(daemon, "berth", "push", repo, config=docker_config, check=True)
    assert p.stdout.startswith(f"Using default tag: latest\nThe push refers to repository [{repo}]\n")
    assert "\nlatest: digest: sha256:" in p.stdout
    run(daemon, "berth", "rmi", repo, check=True)
    p = run(daemon, "berth", "pull", repo, config=docker_config, check=True)
    assert p.stdout.startswith("Using default tag: latest\nlatest: Pulling from team/bb\n")
    assert p.stdout.endswith(f"\n{repo}:latest\n")
    digest = re.search(r"^Digest: (\S+)$", p.stdout, re.M).group(1)

    for cli in [c for c in ("berth", DOCKER28) if c == "berth" or os.path.exists(c)]:
        p = run(daemon, cli, "pull", "-q", repo, config=docker_config, check=True)
        assert p.stdout == f"{repo}:latest\n", cli
        p = run(daemon, cli, "push", "-q", repo, config=docker_config, check=True)
        assert p.stdout == f"{repo}:latest\n", cli
        p = run(daemon, cli, "pull", f"{repo}@{digest}", config=docker_config, check=True)
        assert p.stdout.splitlines()[-1] == f"{repo}@{digest}", cli
        p = run(daemon, cli, "push", f"{repo}@{digest}", config=docker_config)
        assert (p.returncode, p.stderr) == (1, "cannot push a digest reference\n"), cli
        p = run(daemon, cli, "push", "-a", f"{repo}:latest", config=docker_config)
        assert (p.returncode, p.stderr) == (1, "tag can't be used with --all-tags/-a\n"), cli
    run(daemon, "berth", "rmi", f"{repo}:latest", f"{repo}@{digest}", check=False)


@pytest.mark.parametrize("cli", ["berth", DOCKER28], ids=cli_id)
def test_push_and_pull_all_tags(daemon, image, registry, docker_config, cli):
    repo = f"{registry.host}/team/bb"
    for t in ("a", "b"):
        run(daemon, "berth", "tag", image, f"{repo}:{t}", check=True)
    p = run(daemon, cli, "push", "-a", repo, config=docker_config, check=True)
    assert "Using default tag" not in p.stdout
    assert re.search(r"^a: digest: sha256:\S+ size: \d+$", p.stdout, re.M), p.stdout
    assert re.search(r"^b: digest: sha256:\S+ size: \d+$", p.stdout, re.M), p.stdout
    run(daemon, "berth", "rmi", f"{repo}:a", f"{repo}:b", check=True)
    p = run(daemon, cli, "pull", "-a", repo, config=docker_config, check=True)
    assert "a: Pulling from team/bb" in p.stdout and "b: Pulling from team/bb" in p.stdout
    assert p.stdout.splitlines()[-1] == repo, p.stdout
    listed = run(daemon, "berth", "images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert sorted(r for r in listed if r.startswith(repo + ":")) == [f"{repo}:a", f"{repo}:b"]
    run(daemon, "berth", "rmi", f"{repo}:a", f"{repo}:b", check=True)


@pytest.mark.parametrize("cli", ["berth", DOCKER28], ids=cli_id)
def test_login_push_pull_logout(daemon, image, auth_registry, docker_config, cli):
    host = auth_registry.host
    repo = f"{host}/team/bb"
    run(daemon, "berth", "tag", image, f"{repo}:1", check=True)
    p = run(daemon, cli, "push", f"{repo}:1", config=docker_config)
    assert p.returncode == 1
    assert "no basic auth credentials" in p.stderr or "unauthorized" in p.stderr, p.stderr

    p = run(daemon, cli, "login", "-u", "alice", "--password-stdin", host, config=docker_config, input="wrong\n")
    assert p.returncode == 1
    assert p.stderr.startswith("Error response from daemon: "), p.stderr
    assert host not in auths(docker_config)

    p = run(daemon, cli, "login", "-u", "alice", "--password-stdin", host, config=docker_config, input="wonderland\n",
            check=True)
    assert p.stdout == "Login Succeeded\n"
    assert f"WARNING! Your credentials are stored unencrypted in '{docker_config / 'config.json'}'." in p.stderr
    assert auths(docker_config)[host] == {"auth": base64.b64encode(b"alice:wonderland").decode()}
    assert (docker_config / "config.json").stat().st_mode & 0o777 == 0o600

    # Logged in again with the same password: nothing to store, no warning.
    p = run(daemon, cli, "login", "-u", "alice", "-p", "wonderland", host, config=docker_config, check=True)
    assert p.stderr == "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"

    p = run(daemon, cli, "push", f"{repo}:1", config=docker_config, check=True)
    assert re.search(r"^1: digest: sha256:", p.stdout, re.M), p.stdout
    run(daemon, "berth", "rmi", f"{repo}:1", check=True)
    p = run(daemon, cli, "pull", f"{repo}:1", config=docker_config, check=True)
    assert_pull_output(p.stdout, repo, "1", fresh=True)

    p = run(daemon, cli, "logout", host, config=docker_config, check=True)
    assert p.stdout == f"Removing login credentials for {host}\n"
    assert host not in auths(docker_config)
    p = run(daemon, cli, "push", f"{repo}:1", config=docker_config)
    assert p.returncode == 1
    assert "no basic auth credentials" in p.stderr or "unauthorized" in p.stderr, p.stderr
    run(daemon, "berth", "rmi", f"{repo}:1", check=True)


def test_login_stored_credentials_and_flag_errors(daemon, auth_registry, docker_config, tmp_path):
    """Client-side behaviour, compared byte for byte with docker 28."""
    host = auth_registry.host
    other = tmp_path / "docker28-config"
    other.mkdir()
    cases = [
        (["login", "-u", "alice", "-p", "x", "--password-stdin", host], "x\n"),
        (["login", "--password-stdin", host], "x\n"),
        (["login", host], ""),                          # stdin is not a terminal
        (["login", "-u", "alice", host], ""),
        (["logout", host], None),                       # not logged in: docker 28 says the same
    ]
    for args, stdin in cases:
        b = run(daemon, "berth", *args, config=docker_config, input=stdin)
        d = run(daemon, DOCKER28, *args, config=other, input=stdin)
        assert (b.returncode, b.stdout, b.stderr) == (d.returncode, d.stdout, d.stderr), args

    # With a stored login and no flags, login re-checks the stored one.
    run(daemon, "berth", "login", "-u", "alice", "--password-stdin", host, config=docker_config, input="wonderland",
        check=True)
    p = run(daemon, "berth", "login", host, config=docker_config, check=True)
    assert p.stdout == "Login Succeeded\n"
    assert p.stderr.startswith("Authenticating with existing credentials... [Username: alice]\n")
    # A URL as the server is stored under its host name.
    run(daemon, "berth", "logout", f"http://{host}/", config=docker_config, check=True)
    assert auths(docker_config) == {}


def test_logins_are_shared_with_docker(daemon, image, auth_registry, docker_config):
    """docker login, berth push/pull; berth login, docker 20.10 pull."""
    host = auth_registry.host
    repo = f"{host}/team/bb"
    run(daemon, DOCKER28, "login", "-u", "alice", "--password-stdin", host, config=docker_config,
        input="wonderland\n", check=True)
    run(daemon, "berth", "tag", image, f"{repo}:1", check=True)
    run(daemon, "berth", "push", f"{repo}:1", config=docker_config, check=True)
    run(daemon, "berth", "logout", host, config=docker_config, check=True)
    run(daemon, "berth", "login", "-u", "alice", "--password-stdin", host, config=docker_config,
        input="wonderland\n", check=True)
    run(daemon, "berth", "rmi", f"{repo}:1", check=True)
    cli = DOCKER20 if os.path.exists(DOCKER20) else DOCKER28
    p = run(daemon, cli, "pull", f"{repo}:1", config=docker_config, check=True)
    assert_pull_output(p.stdout, repo, "1", fresh=True)
    run(daemon, "berth", "rmi", f"{repo}:1", check=True)


def test_pull_on_a_terminal_draws_progress_lines(daemon, registry, docker_config, tmp_path):
    if not shutil.which("script"):
        pytest.skip("script(1) not installed")
    repo = f"{registry.host}/team/bb"
    # A layer no other image has, so that the pull must fetch it.
    with tarfile.open(tmp_path / "layer.tar", mode="w") as tar:
        data = os.urandom(300000)
        info = tarfile.TarInfo("random.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    run(daemon, "berth", "import", str(tmp_path / "layer.tar"), f"{repo}:1", check=True)
    run(daemon, "berth", "push", f"{repo}:1", config=docker_config, check=True)
    run(daemon, "berth", "rmi", f"{repo}:1", check=True)
    env = dict(daemon.env, DOCKER_CONFIG=str(docker_config))
    # A pty 120 columns wide: wide enough for docker's progress bars.
    cmd = f"stty cols 120; {daemon.berth} pull {repo}:1"
    out = subprocess.run(["script", "-qec", cmd, "/dev/null"], env=env, capture_output=True,
                         timeout=60).stdout.decode()
    assert "1: Pulling from team/bb" in out
    # The layer's line is drawn in place: up to it, erase, text ending in
    # "\r", back down; the transfer shows a bar (wider than 110 columns).
    assert re.search(r"\x1b\[1A\x1b\[2K\r[0-9a-f]{12}: Pull complete \r\x1b\[1B", out), repr(out)
    assert out.endswith(f"{repo}:1\r\n"), repr(out)
    run(daemon, "berth", "rmi", f"{repo}:1", check=True)


@pytest.mark.parametrize("cli", clis(), ids=cli_id)
def test_search_berth_hub(daemon, image, tmp_path, docker_config, cli):
    """docker search against berth-hub through both daemons: public
    repositories for everyone, a private one only for its logged-in owner."""
    (tmp_path / "hub").mkdir()
    hub = AuthHub(tmp_path / "hub", "alice", "wonderland", orgs=["team"])
    try:
        for name in ("team/searchable", "team/hidden"):
            run(daemon, "berth", "tag", image, f"{hub.host}/{name}:1", check=True)
        run(daemon, "berth", "login", "-u", "alice", "--password-stdin", hub.host, config=docker_config,
            input="wonderland\n", check=True)
        for name in ("team/searchable", "team/hidden"):
            run(daemon, "berth", "push", f"{hub.host}/{name}:1", config=docker_config, check=True)
            run(daemon, "berth", "rmi", f"{hub.host}/{name}:1", check=True)
        from registry_server import hub_api
        assert hub_api(hub, "PATCH", "/api/v1/repositories/team/hidden", "alice", "wonderland",
                       {"is_private": True})[0] == 200
        p = run(daemon, cli, "search", "--format", "{{.Name}}", f"{hub.host}/team", config=docker_config, check=True)
        assert p.stdout.splitlines() == ["team/hidden", "team/searchable"]
        anon = tmp_path / "anon"
        anon.mkdir()
        p = run(daemon, cli, "search", "--format", "{{.Name}}", f"{hub.host}/team", config=anon, check=True)
        assert p.stdout.splitlines() == ["team/searchable"]
    finally:
        hub.stop()
