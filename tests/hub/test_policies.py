"""berth-hub's storage management end to end: garbage collection (HTTP and
CLI), namespace quotas, immutable tags and tag retention (on demand and on
the --gc-interval schedule), against a running `berth-hub serve --open`
(where every caller is a site admin).

GC tests get a server of their own: a collection sweeps the whole store.
They use a grace period of 1 s and wait 2.5 s, so what was pushed before
the wait is old and what is pushed right before the collection is not.
"""
import subprocess
import threading
import time
import uuid

import pytest

from berth_build import BUILD
from registry_client import (
    RegistryClient, error_codes, get_manifest, index, oci_image, push_blob, push_manifest, random_bytes, sha256)
from registry_server import Hub

GRACE = 1
AGE = 2.5  # seconds that make a blob older than GRACE, whatever the clock's second boundaries


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("hub"), "--open")
    yield h
    h.stop()


@pytest.fixture
def own_hub(tmp_path):
    h = Hub(tmp_path, "--open")
    yield h
    h.stop()


def api(h, method, path, body=None):
    c = RegistryClient(f"http://{h.host}")
    return c.request(method, path, json=body)


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def gc(h, **options):
    r = api(h, "POST", "/api/v1/gc", options)
    assert r.status_code == 200, r.text
    return r.json()


def pullable(client, repo, image, reference):
    r = get_manifest(client, repo, reference)
    if r.status_code != 200 or r.content != image.manifest:
        return False
    return all(client.get(f"/v2/{repo}/blobs/{sha256(b)}").content == b for b in image.blobs)


# --- garbage collection ----------------------------------------------------

def test_gc_frees_exactly_the_unreferenced_blobs_and_spares_concurrent_pushes(own_hub):
    h = own_hub
    client = RegistryClient(f"http://{h.host}")
    kept = oci_image(layers=2)
    kept.push(client, "acme/app", "v1")
    dropped = oci_image(layers=2, layer_size=700)
    dropped.push(client, "acme/app", "old")
    assert client.delete(f"/v2/acme/app/manifests/{dropped.digest}").status_code == 202
    orphan = random_bytes(333)
    push_blob(client, "acme/other", orphan)
    untagged = oci_image(layers=1, layer_size=400)
    untagged.push(client, "acme/app")  # by digest only
    garbage = {sha256(orphan), dropped.digest, *(sha256(b) for b in dropped.blobs)}
    garbage_bytes = len(orphan) + len(dropped.manifest) + sum(len(b) for b in dropped.blobs)
    time.sleep(AGE)

    # A push in progress: its layer is uploaded, its manifest not yet sent.
    pending = oci_image(layers=1)
    pending.push_blobs(client, "acme/pending")

    report = gc(h, dry_run=True, grace_seconds=GRACE)
    assert set(report["freed"]) == garbage
    assert report["bytes_freed"] == garbage_bytes
    assert all(h.blob_path(d).exists() for d in garbage), "a dry run deletes nothing"

    # Images pushed while the collection runs must come through whole.
    pushed, stop = [], threading.Event()

    def pusher():
        c = RegistryClient(f"http://{h.host}")
        while not stop.is_set() or not pushed:
            img = oci_image(layers=2)
            img.push(c, "acme/busy", f"t{len(pushed)}")
            pushed.append(img)

    t = threading.Thread(target=pusher)
    t.start()
    try:
        report = gc(h, grace_seconds=GRACE)
    finally:
        stop.set()
        t.join()
    assert set(report["freed"]) == garbage
    assert report["blobs_freed"] == len(garbage)
    assert report["bytes_freed"] == garbage_bytes
    assert report["manifests_deleted"] == 0
    assert not any(h.blob_path(d).exists() for d in garbage)
    assert client.get(f"/v2/acme/other/blobs/{sha256(orphan)}").status_code == 404

    assert pullable(client, "acme/app", kept, "v1")
    assert pullable(client, "acme/app", untagged, untagged.digest)
    for i, img in enumerate(pushed):
        assert pullable(client, "acme/busy", img, f"t{i}")
    # The pending push completes: its layer survived, linked.
    assert push_manifest(client, "acme/pending", "latest", pending.manifest, pending.media_type).status_code == 201
    assert pullable(client, "acme/pending", pending, "latest")

    # delete_untagged takes the manifest pushed by digest, and its blobs.
    time.sleep(AGE)
    report = gc(h, grace_seconds=GRACE, delete_untagged=True)
    assert report["manifests_deleted"] == 1
    assert set(report["freed"]) == {untagged.digest, *(sha256(b) for b in untagged.blobs)}
    assert get_manifest(client, "acme/app", untagged.digest).status_code == 404
    assert pullable(client, "acme/app", kept, "v1")
    assert pullable(client, "acme/pending", pending, "latest")


def test_delete_untagged_keeps_index_children_and_signatures_of_tagged_images(own_hub):
    h = own_hub
    client = RegistryClient(f"http://{h.host}")
    children = [oci_image(), oci_image()]
    for c in children:
        c.push(client, "acme/multi")
    idx = index(children)
    idx.push(client, "acme/multi", "v1")
    signed = oci_image()
    signed.push(client, "acme/multi", "signed")
    signature = oci_image(artifact_type="application/vnd.example.sig", subject=signed.descriptor())
    signature.push(client, "acme/multi")
    time.sleep(AGE)
    report = gc(h, grace_seconds=GRACE, delete_untagged=True)
    assert report["manifests_deleted"] == 0
    assert report["blobs_freed"] == 0
    for img in (*children, idx, signed, signature):
        assert pullable(client, "acme/multi", img, img.digest)
    # Untagging the index makes it and its children garbage.
    assert client.delete("/v2/acme/multi/manifests/v1").status_code == 202
    report = gc(h, grace_seconds=GRACE, delete_untagged=True)
    assert report["manifests_deleted"] == 3
    assert get_manifest(client, "acme/multi", children[0].digest).status_code == 404
    assert pullable(client, "acme/multi", signature, signature.digest)


def test_gc_cli_and_recent_blobs(own_hub):
    h = own_hub
    client = RegistryClient(f"http://{h.host}")
    old = random_bytes(100)
    push_blob(client, "acme/cli", old)
    time.sleep(AGE)
    fresh = random_bytes(100)
    push_blob(client, "acme/cli", fresh)
    base = [str(BUILD / "berth-hub"), "gc", "--root", str(h.dir / "root"), "--grace-seconds", str(GRACE)]
    out = subprocess.run(base + ["--dry-run"], check=True, capture_output=True, text=True).stdout
    assert f"would free {sha256(old)}" in out
    assert sha256(fresh) not in out
    assert "1 blobs (100 bytes) freed" in out
    assert h.blob_path(sha256(old)).exists()
    # With the default grace period (1 h) nothing here is old enough.
    out = subprocess.run(base[:-2], check=True, capture_output=True, text=True).stdout
    assert "0 blobs (0 bytes) freed" in out
    out = subprocess.run(base, check=True, capture_output=True, text=True).stdout
    assert f"freed {sha256(old)}" in out
    assert not h.blob_path(sha256(old)).exists()
    assert client.get(f"/v2/acme/cli/blobs/{sha256(fresh)}").status_code == 200


def test_gc_api_validates_its_input(hub):
    assert api(hub, "GET", "/api/v1/gc").status_code == 405
    r = api(hub, "POST", "/api/v1/gc", {"grace_seconds": -1})
    assert r.status_code == 400 and "grace_seconds" in r.json()["message"]
    assert api(hub, "POST", "/api/v1/gc", {"dry_run": "yes"}).status_code == 400


# --- quotas ------------------------------------------------------------------

def test_quota_refuses_uploads_and_mounts_beyond_the_limit(hub):
    client = RegistryClient(f"http://{hub.host}")
    ns = unique("q")
    r = api(hub, "PUT", f"/api/v1/namespaces/{ns}/quota", {"limit_bytes": 1000})
    assert r.status_code == 200, r.text
    assert r.json() == {"namespace": ns, "limit_bytes": 1000, "used_bytes": 0}

    first = random_bytes(600)
    push_blob(client, f"{ns}/a", first)
    assert api(hub, "GET", f"/api/v1/namespaces/{ns}/quota").json()["used_bytes"] == 600

    # Monolithic upload beyond the limit: refused, and the bytes are discarded.
    second = random_bytes(600)
    loc = client.post(f"/v2/{ns}/a/blobs/uploads/").headers["Location"]
    r = client.put(loc + ("&" if "?" in loc else "?") + "digest=" + sha256(second), data=second,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 403
    assert error_codes(r) == ["DENIED"]
    assert r.json()["errors"][0]["message"] == f"quota exceeded for namespace {ns}: used 600 of 1000 bytes"
    assert not hub.blob_path(sha256(second)).exists()
    assert client.get(f"/v2/{ns}/a/blobs/{sha256(second)}").status_code == 404
    assert client.get(loc).status_code == 404, "the upload session is gone"

    # The same refusal for the single-POST flow.
    r = client.post(f"/v2/{ns}/b/blobs/uploads/", params={"digest": sha256(second)}, data=second)
    assert r.status_code == 403 and error_codes(r) == ["DENIED"]

    # Mounting bytes the namespace already has is free; bytes from elsewhere count.
    r = client.post(f"/v2/{ns}/b/blobs/uploads/", params={"mount": sha256(first), "from": f"{ns}/a"})
    assert r.status_code == 201
    other = random_bytes(500)
    src = unique("elsewhere") + "/x"
    push_blob(client, src, other)
    r = client.post(f"/v2/{ns}/b/blobs/uploads/", params={"mount": sha256(other), "from": src})
    assert r.status_code == 403 and error_codes(r) == ["DENIED"]
    assert "quota exceeded" in r.json()["errors"][0]["message"]

    # Raising the limit lets the push through; null removes the quota.
    assert api(hub, "PUT", f"/api/v1/namespaces/{ns}/quota", {"limit_bytes": 2000}).status_code == 200
    push_blob(client, f"{ns}/a", second)
    r = api(hub, "PUT", f"/api/v1/namespaces/{ns}/quota", {"limit_bytes": None})
    assert r.json() == {"namespace": ns, "limit_bytes": None, "used_bytes": 1200}

    assert api(hub, "PUT", f"/api/v1/namespaces/{ns}/quota", {"limit_bytes": -5}).status_code == 400
    assert api(hub, "PUT", f"/api/v1/namespaces/{ns}/quota", {}).status_code == 400
    assert api(hub, "GET", "/api/v1/namespaces/Bad_NS/quota").status_code == 400


# --- immutable tags ------------------------------------------------------------

def test_immutable_tags_cannot_be_moved_or_deleted(hub):
    client = RegistryClient(f"http://{hub.host}")
    repo = unique("imm") + "/deep/app"  # slashes: the route is parsed from the right
    r = api(hub, "PUT", f"/api/v1/repositories/{repo}/policies", {"immutable_tags": ["v*"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"repository": repo, "immutable_tags": ["v*"], "retention": None}
    assert api(hub, "GET", f"/api/v1/repositories/{repo}/policies").json()["immutable_tags"] == ["v*"]

    a, b = oci_image(), oci_image()
    a.push(client, repo, "v1")
    a.push(client, repo, "v1")  # the same digest again is fine
    b.push_blobs(client, repo)
    r = push_manifest(client, repo, "v1", b.manifest, b.media_type)
    assert r.status_code == 403
    assert error_codes(r) == ["DENIED"]
    assert "tag v1 of" in r.json()["errors"][0]["message"] and "immutable" in r.json()["errors"][0]["message"]
    assert get_manifest(client, repo, "v1").content == a.manifest

    # Mutable tags move freely.
    a.push(client, repo, "latest")
    b.push(client, repo, "latest")
    assert get_manifest(client, repo, "latest").content == b.manifest

    r = client.delete(f"/v2/{repo}/manifests/v1")
    assert r.status_code == 403 and error_codes(r) == ["DENIED"]
    r = client.delete(f"/v2/{repo}/manifests/{a.digest}")
    assert r.status_code == 403 and error_codes(r) == ["DENIED"]
    assert client.delete(f"/v2/{repo}/manifests/latest").status_code == 202

    # Lifting the policy lifts the protection.
    assert api(hub, "PUT", f"/api/v1/repositories/{repo}/policies", {}).status_code == 200
    assert push_manifest(client, repo, "v1", b.manifest, b.media_type).status_code == 201

    r = api(hub, "PUT", f"/api/v1/repositories/{repo}/policies", {"immutable_tags": ["bad/tag"]})
    assert r.status_code == 400 and "immutable_tags" in r.json()["message"]
    assert api(hub, "DELETE", f"/api/v1/repositories/{repo}/policies").status_code == 405


# --- retention -----------------------------------------------------------------

def tags(client, repo):
    return client.get(f"/v2/{repo}/tags/list").json()["tags"]


def test_retention_keeps_the_newest_matching_tags_and_immutable_ones(hub):
    client = RegistryClient(f"http://{hub.host}")
    repo = unique("ret") + "/app"
    policy = {"immutable_tags": ["dev-keep"], "retention": {"keep_last": 2, "pattern": "dev-*"}}
    r = api(hub, "PUT", f"/api/v1/repositories/{repo}/policies", policy)
    assert r.status_code == 200, r.text
    assert r.json()["retention"] == {"keep_last": 2, "older_than_days": None, "pattern": "dev-*"}
    img = oci_image()
    img.push(client, repo, "dev-keep")
    img.push(client, repo, "release")
    for i in (1, 2):
        push_manifest(client, repo, f"dev-{i}", img.manifest, img.media_type)
    time.sleep(1.1)  # tags are ordered by push time (seconds)
    for i in (3, 4):
        push_manifest(client, repo, f"dev-{i}", img.manifest, img.media_type)

    r = api(hub, "POST", f"/api/v1/repositories/{repo}/retention/run", {"dry_run": True})
    assert r.status_code == 200, r.text
    assert r.json()["removed"] == ["dev-1", "dev-2"]
    assert len(tags(client, repo)) == 6
    r = api(hub, "POST", f"/api/v1/repositories/{repo}/retention/run")
    assert r.json()["removed"] == ["dev-1", "dev-2"]
    assert tags(client, repo) == ["dev-3", "dev-4", "dev-keep", "release"]

    r = api(hub, "PUT", f"/api/v1/repositories/{repo}/policies", {"retention": {"pattern": "*"}})
    assert r.status_code == 400 and "keep_last" in r.json()["message"]


def test_retention_runs_on_the_gc_interval(tmp_path):
    h = Hub(tmp_path, "--open", "--gc-interval", "1")
    try:
        client = RegistryClient(f"http://{h.host}")
        repo = "sched/app"
        assert api(h, "PUT", f"/api/v1/repositories/{repo}/policies",
                   {"retention": {"keep_last": 1}}).status_code == 200
        img = oci_image()
        img.push(client, repo, "a")
        img.push(client, repo, "b")
        deadline = time.monotonic() + 10
        while tags(client, repo) != ["b"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tags(client, repo) == ["b"]
    finally:
        h.stop()
