"""berth-hub scaled out: two replicas sharing one real PostgreSQL (Debian's
postgresql) and one real S3-compatible server (s3rver), with no coordination
beyond the database, behind a round-robin TCP load balancer.

    /usr/bin/python3 -m pytest tests/hub/test_scale_out.py

Needs berth-hub in BERTH_BUILD_DIR (default build/), the postgresql package
and s3rver (scripts/install-deps); a missing one FAILS the tests with the
reason rather than skipping them.
"""
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
import requests

from postgres_server import PostgresServer
from registry_server import BUILD, Hub
from s3_server import S3Server

MiB = 1 << 20


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RoundRobin:
    """A TCP load balancer on 127.0.0.1: each new connection goes to the next
    backend in turn (keep-alive requests stay on their connection, as behind
    a layer-4 balancer). Counts connections per backend."""

    def __init__(self, backends):
        self.backends = backends
        self.counts = [0] * len(backends)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.host = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self._next = 0
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stopped:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            i = self._next % len(self.backends)
            self._next += 1
            self.counts[i] += 1
            host, port = self.backends[i].rsplit(":", 1)
            try:
                upstream = socket.create_connection((host, int(port)))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(1 << 16):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self._stopped = True
        self.sock.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scale-out")
    started = []
    try:
        pg = PostgresServer()
        started.append(pg)
        s3 = S3Server(tmp)
        started.append(s3)
        db = pg.create_database()
        storage = s3.storage_url("hub")
        replicas = []
        for name in ("a", "b"):
            d = tmp / name
            d.mkdir()
            h = Hub(d, "--open", "--database", db, "--storage", storage)
            started.append(h)
            replicas.append(h)
        lb = RoundRobin([h.host for h in replicas])
        started.append(lb)
        yield {"a": f"http://{replicas[0].host}", "b": f"http://{replicas[1].host}", "lb": lb, "s3": s3,
               "db": db, "tmp": tmp, "replicas": replicas, "pg": pg}
    finally:
        for s in reversed(started):
            s.stop()


def oci_layout(path: Path, tag: str, layer_sizes) -> dict:
    """An OCI image layout with gzip layers of random bytes; returns the
    digests of its manifest and blobs."""
    blobs = path / "blobs/sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        d = sha256(data)
        (blobs / d.split(":")[1]).write_bytes(data)
        return d

    layers = []
    for i, size in enumerate(layer_sizes):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo(f"file{i}")
            info.size = size
            tar.addfile(info, io.BytesIO(os.urandom(size)))
        gz = gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(gz),
                       "size": len(gz), "diff_id": sha256(raw.getvalue())})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config), "size": len(config)},
        "layers": [{k: l[k] for k in ("mediaType", "digest", "size")} for l in layers]}).encode()
    md = put(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return {"manifest": md, "blobs": [sha256(config)] + [l["digest"] for l in layers]}


def skopeo(*args):
    r = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"skopeo {' '.join(args)}: {r.stderr}"
    return r.stdout


def test_push_through_balancer_and_pull_back(cluster, tmp_path):
    lb = cluster["lb"]
    src = oci_layout(tmp_path / "src", "v1", [6 * MiB, 300 * 1024, 2 * MiB])
    before = list(lb.counts)
    skopeo("copy", "--dest-tls-verify=false", "--preserve-digests", f"oci:{tmp_path / 'src'}:v1",
           f"docker://{lb.host}/scale/app:v1")
    skopeo("copy", "--src-tls-verify=false", f"docker://{lb.host}/scale/app:v1", f"oci:{tmp_path / 'back'}:v1")
    index = json.loads((tmp_path / "back/index.json").read_text())
    assert index["manifests"][0]["digest"] == src["manifest"]
    for d in src["blobs"]:
        data = (tmp_path / "back/blobs/sha256" / d.split(":")[1]).read_bytes()
        assert sha256(data) == d
        assert data == (tmp_path / "src/blobs/sha256" / d.split(":")[1]).read_bytes()
    # skopeo opened several connections (blobs in parallel): both replicas served some.
    assert all(n > b for n, b in zip(lb.counts, before)), lb.counts
    # Every replica answers for every blob: the bytes are in S3, not on a replica.
    for base in (cluster["a"], cluster["b"]):
        for d in src["blobs"]:
            r = requests.head(f"{base}/v2/scale/app/blobs/{d}")
            assert r.status_code == 200, (base, d, r.status_code)


def test_chunked_upload_started_on_a_finished_on_b(cluster):
    a, b = cluster["a"], cluster["b"]
    # Three chunks over two replicas, 19 MiB: the commit composes several
    # multipart parts in S3.
    data = os.urandom(19 * MiB)
    digest = sha256(data)
    r = requests.post(f"{a}/v2/scale/chunked/blobs/uploads/")
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    r = requests.patch(a + loc, data=data[:9 * MiB], headers={"Content-Range": f"0-{9 * MiB - 1}"})
    assert r.status_code == 202, r.text
    # B sees the progress A made.
    r = requests.get(b + loc)
    assert r.status_code == 204 and r.headers["Range"] == f"0-{9 * MiB - 1}"
    r = requests.patch(b + loc, data=data[9 * MiB:18 * MiB], headers={"Content-Range": f"{9 * MiB}-{18 * MiB - 1}"})
    assert r.status_code == 202, r.text
    assert r.headers["Range"] == f"0-{18 * MiB - 1}"
    # An out-of-order chunk is refused by B as it would be by A.
    r = requests.patch(b + loc, data=b"x", headers={"Content-Range": "5-5"})
    assert r.status_code == 416
    r = requests.put(f"{a}{loc}?digest={digest}", data=data[18 * MiB:])
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == digest
    for base in (a, b):
        r = requests.get(f"{base}/v2/scale/chunked/blobs/{digest}")
        assert r.status_code == 200
        assert int(r.headers["Content-Length"]) == 19 * MiB and "Transfer-Encoding" not in r.headers
        assert sha256(r.content) == digest
        r = requests.head(f"{base}/v2/scale/chunked/blobs/{digest}")
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == 19 * MiB
        r = requests.get(f"{base}/v2/scale/chunked/blobs/{digest}", headers={"Range": "bytes=9437180-9437189"})
        assert r.status_code == 206 and r.content == data[9437180:9437190]
    # The upload is gone on both.
    assert requests.get(b + loc).status_code == 404


def test_wrong_digest_across_replicas_is_refused(cluster):
    a, b = cluster["a"], cluster["b"]
    data = os.urandom(1000)
    r = requests.post(f"{a}/v2/scale/bad/blobs/uploads/")
    loc = r.headers["Location"]
    assert requests.patch(a + loc, data=data[:500]).status_code == 202
    r = requests.put(f"{b}{loc}?digest={sha256(b'something else')}", data=data[500:])
    assert r.status_code == 400 and "DIGEST_INVALID" in r.text
    assert requests.get(f"{a}/v2/scale/bad/blobs/{sha256(b'something else')}").status_code == 404


def test_tags_pushed_via_a_are_visible_via_b(cluster, tmp_path):
    a_host = cluster["replicas"][0].host
    src = oci_layout(tmp_path / "src", "t", [1024])
    for tag in ("one", "two"):
        skopeo("copy", "--dest-tls-verify=false", "--preserve-digests", f"oci:{tmp_path / 'src'}:t",
               f"docker://{a_host}/scale/tags:{tag}")
    b = cluster["b"]
    r = requests.get(f"{b}/v2/scale/tags/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == ["one", "two"]
    r = requests.get(f"{b}/v2/scale/tags/manifests/two",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200 and r.headers["Docker-Content-Digest"] == src["manifest"]
    assert sha256(r.content) == src["manifest"]
    # Deleted via B, gone via A.
    assert requests.delete(f"{b}/v2/scale/tags/manifests/one").status_code == 202
    assert requests.get(f"{cluster['a']}/v2/scale/tags/manifests/one").status_code == 404


def test_redirect_mode_sends_clients_to_presigned_urls(cluster):
    """With redirect=true a blob GET answers 307 to a presigned S3 URL (as
    distribution does on S3); HEAD and the bytes behind the URL stay right."""
    tmp = cluster["tmp"] / "redirect"
    tmp.mkdir()
    s3 = cluster["s3"]
    h = Hub(tmp, "--open", "--database", cluster["db"], "--storage", s3.storage_url("hub") + "&redirect=true")
    try:
        base = f"http://{h.host}"
        data = os.urandom(100_000)
        digest = sha256(data)
        r = requests.post(f"{base}/v2/scale/redirect/blobs/uploads/?digest={digest}", data=data)
        assert r.status_code == 201, r.text
        r = requests.get(f"{base}/v2/scale/redirect/blobs/{digest}", allow_redirects=False)
        assert r.status_code == 307
        url = r.headers["Location"]
        assert url.startswith(s3.endpoint + "/") and "X-Amz-Signature=" in url
        assert requests.get(url).content == data
        r = requests.head(f"{base}/v2/scale/redirect/blobs/{digest}")
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(data)
    finally:
        h.stop()


def test_failed_logins_are_counted_across_replicas(cluster, tmp_path):
    db = cluster["pg"].create_database()
    subprocess.run([str(BUILD / "berth-hub"), "user", "create", "--root", str(tmp_path), "--database", db, "mallory"],
                   input="mallory-password\n", text=True, check=True, capture_output=True)
    replicas = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            replicas.append(Hub(tmp_path / name, "--database", db))
        # A guesser spreads its attempts over both replicas...
        codes = [requests.get(f"http://{replicas[i % 2].host}/token", auth=("mallory", f"guess{i}"),
                              timeout=10).status_code for i in range(10)]
        assert codes == [401] * 10
        # ...and both have seen all ten.
        for h in replicas:
            r = requests.get(f"http://{h.host}/token", auth=("mallory", "mallory-password"), timeout=10)
            assert r.status_code == 429, h.host
    finally:
        for h in replicas:
            h.stop()
