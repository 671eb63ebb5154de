"""pull and push through berthd against real registries, driven by the real
docker CLIs, skopeo and the Python SDK."""
import json
import os
import subprocess

import pytest

from berthd_daemon import CLIS, Daemon
from registry_server import write_auth

DOCKER = CLIS[0]


def run(d, *args, cli=DOCKER, config=None, stdin=None):
    env = dict(os.environ, DOCKER_HOST=d.host)
    env.pop("DOCKER_CONTEXT", None)
    if config:
        env["DOCKER_CONFIG"] = str(config)
    return subprocess.run([cli, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin)


def ok(p):
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.mark.parametrize("cli", CLIS)
def test_push_rmi_pull_run_round_trip(engine, registry, cli):
    short = "cli28" if cli == CLIS[0] else "cli20"
    name = f"{registry.host}/team/bb-{short}:1"
    ok(run(engine, "tag", "busybox:latest", name, cli=cli))
    out = ok(run(engine, "push", name, cli=cli))
    assert f"The push refers to repository [{name[:-2]}]" in out
    # The first push uploads; the second CLI's push mounts from the first repository.
    assert "Pushed" in out or "Mounted from team/bb-cli28" in out
    pushed_digest = [l for l in out.splitlines() if l.startswith("1: digest: ")][0].split()[2]
    ok(run(engine, "rmi", name, cli=cli))
    out = ok(run(engine, "pull", name, cli=cli))
    assert f"1: Pulling from team/bb-{short}" in out
    assert f"Digest: {pushed_digest}" in out
    assert f"Status: Downloaded newer image for {name}" in out
    # Pulling again changes nothing.
    assert f"Status: Image is up to date for {name}" in ok(run(engine, "pull", name, cli=cli))
    assert ok(run(engine, "run", "--rm", name, "echo", "hi", cli=cli)) == "hi\n"
    inspect = json.loads(ok(run(engine, "image", "inspect", name, cli=cli)))[0]
    assert f"{name[:-2]}@{pushed_digest}" in inspect["RepoDigests"]


def test_unknown_tag_and_repository_fail_like_docker(engine, registry):
    p = run(engine, "pull", f"{registry.host}/team/nothing:nope")
    assert p.returncode == 1
    assert f"manifest for {registry.host}/team/nothing:nope not found" in p.stderr
    p = run(engine, "push", f"{registry.host}/team/not-local:1")
    assert p.returncode == 1
    assert "An image does not exist locally with the tag" in p.stderr or "No such image" in p.stderr


def test_corrupt_blob_in_registry_is_rejected_and_not_stored(engine, tmp_path, tmp_path_factory):
    from registry_server import Registry
    registry = Registry(tmp_path_factory.mktemp("corrupt-registry"))  # its blobs get damaged
    name = f"{registry.host}/team/corrupt:1"
    ok(run(engine, "tag", "busybox:latest", name))
    ok(run(engine, "push", name))
    manifest = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{name}"],
        check=True, capture_output=True, text=True).stdout)
    layer = manifest["layers"][0]["digest"]
    blob = registry.blob_path(layer)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x55
    blob.write_bytes(bytes(data))
    # A fresh daemon: nothing of this image is local.
    fresh = Daemon(tmp_path).start()
    try:
        p = run(fresh, "pull", name)
        assert p.returncode == 1
        assert layer in p.stdout + p.stderr
        assert "digest mismatch" in p.stdout + p.stderr
        assert ok(run(fresh, "images", "-q")) == ""
        blobs = list((tmp_path / "data" / "content" / "blobs" / "sha256").iterdir())
        assert layer.split(":")[1] not in [b.name for b in blobs]
    finally:
        fresh.stop()
        registry.stop()


def test_skopeo_reads_what_berthd_pushed_and_berthd_pulls_what_skopeo_pushed(engine, registry, tmp_path):
    name = f"{registry.host}/interop/from-berth:1"
    ok(run(engine, "tag", "busybox:latest", name))
    digest = [l for l in ok(run(engine, "push", name)).splitlines() if "digest:" in l][0].split()[2]
    info = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{name}"],
                                     check=True, capture_output=True, text=True).stdout)
    assert info["Digest"] == digest
    # skopeo re-publishes it as an OCI image with zstd layers; berthd pulls that.
    other = f"{registry.host}/interop/from-skopeo:zstd"
    p = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "oci",
                        "--dest-compress-format", "zstd", f"docker://{name}", f"docker://{other}"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    ok(run(engine, "pull", other))
    layers = json.loads(ok(run(engine, "image", "inspect", other)))[0]["RootFS"]["Layers"]
    assert layers == json.loads(ok(run(engine, "image", "inspect", name)))[0]["RootFS"]["Layers"]
    assert ok(run(engine, "run", "--rm", other, "echo", "zstd")) == "zstd\n"


def test_token_auth_like_docker_hub(engine, token_registry, docker_config):
    host = token_registry.host
    private = f"{host}/alice/app:1"
    public = f"{host}/public/app:1"
    ok(run(engine, "tag", "busybox:latest", private))
    ok(run(engine, "tag", "busybox:latest", public))
    # Anonymous: the token server grants nothing for pushes.
    p = run(engine, "push", private, config=docker_config)
    assert p.returncode == 1
    assert "unauthorized" in (p.stdout + p.stderr).lower() or "denied" in (p.stdout + p.stderr).lower()
    # docker login through berthd: wrong password refused, right one stored.
    p = run(engine, "login", host, "-u", "alice", "--password-stdin", config=docker_config, stdin="wrong\n")
    assert p.returncode == 1
    ok(run(engine, "login", host, "-u", "alice", "--password-stdin", config=docker_config, stdin="wonderland\n"))
    # The token server issued a refresh token at login: the CLI keeps it as an identity token
    # instead of the password, and berthd later trades it for access tokens (OAuth2 POST).
    stored = json.loads((docker_config / "config.json").read_text())["auths"][host]
    assert stored.get("identitytoken", "").startswith("rt-"), stored
    ok(run(engine, "push", private, config=docker_config))
    assert "refresh_token" in token_registry.tokens.grants
    ok(run(engine, "push", public, config=docker_config))
    assert any(acct == "alice" for acct, _ in token_registry.tokens.requests)
    # Anonymous pulls: public yes, private no.
    anon = docker_config.parent / "anon"
    anon.mkdir()
    ok(run(engine, "rmi", private, public))
    ok(run(engine, "pull", public, config=anon))
    p = run(engine, "pull", private, config=anon)
    assert p.returncode == 1
    assert "unauthorized" in p.stderr.lower() or "authentication required" in p.stderr.lower()
    ok(run(engine, "pull", private, config=docker_config))


def test_basic_auth_registry_with_credentials_from_config_json(engine, tmp_path_factory, docker_config):
    from registry_server import Registry, htpasswd_auth
    tmp = tmp_path_factory.mktemp("basic")
    reg = Registry(tmp, htpasswd_auth(tmp, "bob", "builder"))
    try:
        name = f"{reg.host}/bob/app:1"
        ok(run(engine, "tag", "busybox:latest", name))
        p = run(engine, "push", name, config=docker_config)
        assert p.returncode == 1
        write_auth(docker_config, reg.host, "bob", "builder")
        ok(run(engine, "push", name, config=docker_config))
        ok(run(engine, "rmi", name))
        ok(run(engine, "pull", name, config=docker_config))
    finally:
        reg.stop()


def test_registry_mirror_serves_docker_hub_names(rootfs_tar, registry, tmp_path):
    # The mirror holds library/hello-mirror; berthd pulls "hello-mirror" (docker.io) from it.
    d = Daemon(tmp_path).start("--registry-mirror", f"http://{registry.host}")
    try:
        ok(run(d, "import", str(rootfs_tar), f"{registry.host}/library/hello-mirror:latest"))
        ok(run(d, "push", f"{registry.host}/library/hello-mirror:latest"))
        out = ok(run(d, "pull", "hello-mirror"))
        assert "Status: Downloaded newer image for hello-mirror:latest" in out
        assert "docker.io/library/hello-mirror:latest" in out
        assert ok(run(d, "run", "--rm", "hello-mirror", "echo", "mirrored")) == "mirrored\n"
    finally:
        d.stop()


def test_python_sdk_push_and_pull(engine, registry):
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=engine.host, version="1.41")
    repo = f"{registry.host}/sdk/app"
    client.images.get("busybox:latest").tag(repo, "v1")
    lines = list(client.images.push(repo, tag="v1", stream=True, decode=True))
    assert any("digest" in l.get("status", "") for l in lines), lines
    client.images.remove(f"{repo}:v1")
    img = client.images.pull(repo, tag="v1")
    assert f"{repo}:v1" in img.tags
    data = client.api.inspect_distribution(f"{repo}:v1")
    assert data["Descriptor"]["digest"].startswith("sha256:")
    assert {"architecture": "amd64", "os": "linux"} in data["Platforms"]


def test_broken_download_is_retried_and_resumed(engine, registry, tmp_path):
    from flaky_proxy import FlakyProxy
    name = f"{registry.host}/flaky/app:1"
    ok(run(engine, "tag", "busybox:latest", name))
    ok(run(engine, "push", name))
    proxy = FlakyProxy(registry.host)
    fresh = Daemon(tmp_path).start()
    try:
        via = f"{proxy.host}/flaky/app:1"
        out = ok(run(fresh, "pull", via))
        assert "Retrying in 1 second" in out
        # Every blob was cut once; the retry asked only for the rest of it.
        resumed = [r for _, r in proxy.ranges if r]
        assert resumed and all(r.startswith("bytes=") and not r.startswith("bytes=0-") for r in resumed), proxy.ranges
        assert ok(run(fresh, "run", "--rm", via, "echo", "resumed")) == "resumed\n"
    finally:
        fresh.stop()
        proxy.stop()


def test_foreign_layer_is_fetched_from_its_urls(engine, tmp_path, tmp_path_factory):
    import shutil
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from registry_server import Registry
    reg = Registry(tmp_path_factory.mktemp("foreign-registry"),
                   "validation:\n  manifests:\n    urls:\n      allow:\n        - ^http://127\\.0\\.0\\.1\n")
    name = f"{reg.host}/far/app"
    ok(run(engine, "tag", "busybox:latest", f"{name}:1"))
    ok(run(engine, "push", f"{name}:1"))
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    req = urllib.request.Request(f"http://{name.replace(reg.host, reg.host + '/v2', 1)}/manifests/1",
                                 headers={"Accept": accept})
    manifest = json.loads(urllib.request.urlopen(req).read())
    layer = manifest["layers"][0]
    blob = urllib.request.urlopen(f"http://{reg.host}/v2/far/app/blobs/{layer['digest']}").read()
    hits = []

    class Serve(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    layer["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    layer["urls"] = [f"http://127.0.0.1:{httpd.server_address[1]}/layers/busybox"]
    put = urllib.request.Request(f"http://{reg.host}/v2/far/app/manifests/foreign", method="PUT",
                                 data=json.dumps(manifest).encode(), headers={"Content-Type": accept})
    urllib.request.urlopen(put)
    # The registry no longer serves the layer for this repository: only the url can.
    shutil.rmtree(reg.dir / "data/docker/registry/v2/repositories/far/app/_layers/sha256" / layer["digest"][7:])
    fresh = Daemon(tmp_path).start()
    try:
        ok(run(fresh, "pull", f"{name}:foreign"))
        assert hits == ["/layers/busybox"]
        assert ok(run(fresh, "run", "--rm", f"{name}:foreign", "echo", "foreign")) == "foreign\n"
        # Pushing it elsewhere leaves the foreign layer where it is.
        ok(run(fresh, "tag", f"{name}:foreign", f"{reg.host}/far/copy:1"))
        assert "Skipped foreign layer" in ok(run(fresh, "push", f"{reg.host}/far/copy:1"))
    finally:
        fresh.stop()
        httpd.shutdown()
        reg.stop()
