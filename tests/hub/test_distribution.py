"""OCI distribution-spec conformance: pull, push, content discovery and
content management, run against every registry implementation in
conftest.IMPLS (tests of optional features only where claimed).

Every test works in a repository of its own (the `repo` fixture) with
random content, so the tests share one server per implementation and can
run in any order.
"""
import json
import re
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from registry_client import (
    ACCEPT_ALL_MANIFESTS, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, EMPTY_JSON, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, RegistryClient,
    descriptor, docker_image, error_codes, get_manifest, index, next_link, oci_artifact, oci_image,
    patch_chunk, push_blob, push_blob_chunked, push_blob_single_post, push_manifest, random_bytes, sha256,
    parse_challenge, start_upload, with_digest)
from registry_server import Registry, htpasswd_auth

RANGE = re.compile(r"0-(\d+)")  # the upload-progress Range header: "0-<end-of-range>"


def blob_url(repo, digest):
    return f"/v2/{repo}/blobs/{digest}"


def assert_blob(client, repo, data):
    """The blob is served with the exact bytes and the spec's headers."""
    digest = sha256(data)
    r = client.get(blob_url(repo, digest))
    assert r.status_code == 200, f"GET blob: {r.status_code} {r.text[:200]}"
    assert r.content == data
    assert r.headers["Docker-Content-Digest"] == digest
    assert int(r.headers["Content-Length"]) == len(data)


def assert_no_blob(client, repo, digest):
    r = client.get(blob_url(repo, digest))
    assert r.status_code == 404, f"GET blob: {r.status_code}"
    assert "BLOB_UNKNOWN" in error_codes(r)
    assert client.head(blob_url(repo, digest)).status_code == 404


def upload_range_end(resp):
    m = RANGE.fullmatch(resp.headers.get("Range", ""))
    assert m, f"Range header {resp.headers.get('Range')!r} is not 0-<end>"
    return int(m.group(1))


# --- the API root ---------------------------------------------------------

def test_v2_root_answers_200_with_api_version(client):
    r = client.get("/v2/")
    assert r.status_code == 200
    assert r.headers.get("Docker-Distribution-Api-Version") == "registry/2.0"


# --- pull -----------------------------------------------------------------

def test_manifest_get_and_head_by_tag_and_digest(client, repo):
    img = oci_image(layers=2)
    img.push(client, repo, "v1")
    for ref in ("v1", img.digest):
        r = get_manifest(client, repo, ref)
        assert r.status_code == 200, r.text
        assert r.content == img.manifest, "manifest not served byte for byte as pushed"
        assert r.headers["Content-Type"] == OCI_MANIFEST
        assert r.headers["Docker-Content-Digest"] == img.digest
        assert int(r.headers["Content-Length"]) == len(img.manifest)
        h = get_manifest(client, repo, ref, method="HEAD")
        assert h.status_code == 200
        assert h.content == b""
        assert h.headers["Content-Type"] == OCI_MANIFEST
        assert h.headers["Docker-Content-Digest"] == img.digest
        assert int(h.headers["Content-Length"]) == len(img.manifest)


def test_blob_get_and_head(client, repo):
    data = random_bytes(3000)
    push_blob(client, repo, data)
    assert_blob(client, repo, data)
    h = client.head(blob_url(repo, sha256(data)))
    assert h.status_code == 200
    assert h.content == b""
    assert int(h.headers["Content-Length"]) == len(data)
    assert h.headers["Docker-Content-Digest"] == sha256(data)


@pytest.mark.parametrize("first,last", [(0, 0), (10, 19), (2990, 2999)])
def test_blob_range_request_gives_206_and_exact_bytes(client, repo, first, last):
    data = random_bytes(3000)
    push_blob(client, repo, data)
    r = client.get(blob_url(repo, sha256(data)), headers={"Range": f"bytes={first}-{last}"})
    assert r.status_code == 206, r.text
    assert r.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
    assert int(r.headers["Content-Length"]) == last - first + 1
    assert r.content == data[first:last + 1]


def test_unknown_manifest_is_404_manifest_unknown(client, repo):
    img = oci_image()
    img.push(client, repo, "exists")  # the repository exists; only the references do not
    for ref in ("no-such-tag", sha256(b"no such manifest")):
        r = get_manifest(client, repo, ref)
        assert r.status_code == 404
        assert error_codes(r) == ["MANIFEST_UNKNOWN"]
        assert get_manifest(client, repo, ref, method="HEAD").status_code == 404


def test_unknown_blob_is_404_blob_unknown(client, repo):
    push_blob(client, repo, random_bytes(10))
    assert_no_blob(client, repo, sha256(b"no such blob"))


def test_error_bodies_have_the_spec_shape(client, repo):
    r = get_manifest(client, repo, "missing")
    body = r.json()
    assert set(body) == {"errors"}
    for e in body["errors"]:
        assert set(e) <= {"code", "message", "detail"}
        assert isinstance(e["message"], str) and e["message"]


def test_repositories_do_not_see_each_others_content(client, repo):
    img = oci_image()
    img.push(client, repo, "v1")
    other = repo + "-other"
    oci_image().push(client, other, "v1")  # the other repository exists, with other content
    assert get_manifest(client, other, img.digest).status_code == 404
    assert_no_blob(client, other, sha256(img.blobs[1]))


# --- push: blobs ----------------------------------------------------------

def test_monolithic_post_then_put(client, repo):
    data = random_bytes(2048)
    r = start_upload(client, repo)
    assert r.headers.get("Docker-Upload-UUID"), "POST without Docker-Upload-UUID (docker clients log it)"
    r = client.put(with_digest(r.headers["Location"], sha256(data)), data=data,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    # Location is a pullable blob URL.
    pulled = client.get(r.headers["Location"])
    assert pulled.status_code == 200 and pulled.content == data
    assert_blob(client, repo, data)


def test_empty_blob(client, repo):
    push_blob(client, repo, b"")
    assert_blob(client, repo, b"")


def test_large_blob_monolithic_and_ranged(client, repo):
    data = random_bytes(8 * 1024 * 1024 + 3)  # not a power of two: catches off-by-one buffering
    push_blob(client, repo, data)
    assert_blob(client, repo, data)
    r = client.get(blob_url(repo, sha256(data)), headers={"Range": f"bytes={len(data) - 100}-{len(data) - 1}"})
    assert r.status_code == 206
    assert r.content == data[-100:]


def test_finished_upload_session_is_closed(client, repo):
    data = random_bytes(100)
    loc = start_upload(client, repo).headers["Location"]
    assert client.put(with_digest(loc, sha256(data)), data=data,
                      headers={"Content-Type": "application/octet-stream"}).status_code == 201
    r = client.get(loc)
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_single_post_with_digest_stores_the_blob_or_opens_a_session(client, repo):
    """Single-POST is a MAY: 201 means stored, 202 means "PUT it to Location"."""
    data = random_bytes(777)
    r = push_blob_single_post(client, repo, data)
    assert r.status_code in (201, 202), r.text
    assert r.headers.get("Location")
    if r.status_code == 202:
        r = client.put(with_digest(r.headers["Location"], sha256(data)), data=data,
                       headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
    assert_blob(client, repo, data)


@pytest.mark.requires("single-post-upload")
def test_single_post_with_digest_is_201_without_a_put(client, repo):
    data = random_bytes(777)
    r = push_blob_single_post(client, repo, data)
    assert r.status_code == 201, r.text
    assert client.get(r.headers["Location"]).content == data
    assert_blob(client, repo, data)


@pytest.mark.requires("single-post-upload")
def test_single_post_with_wrong_digest_is_rejected(client, repo):
    data = random_bytes(100)
    wrong = sha256(b"something else")
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": wrong}, data=data,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400
    assert "DIGEST_INVALID" in error_codes(r)
    assert_no_blob(client, repo, wrong)


def test_chunked_upload_reports_progress_and_assembles_the_blob(client, repo):
    data = random_bytes(2500)
    loc = start_upload(client, repo).headers["Location"]
    for start in (0, 1000, 2000):
        chunk = data[start:start + 1000]
        r = patch_chunk(client, loc, chunk, start)
        assert r.status_code == 202, r.text
        assert r.headers.get("Location")
        assert r.headers.get("Docker-Upload-UUID")
        assert upload_range_end(r) == start + len(chunk) - 1
        loc = r.headers["Location"]
        # The status of the session: 204, same progress, a usable Location.
        s = client.get(loc)
        assert s.status_code == 204, s.text
        assert upload_range_end(s) == start + len(chunk) - 1
        assert s.headers.get("Location")
        loc = s.headers["Location"]
    r = client.put(with_digest(loc, sha256(data)))
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert_blob(client, repo, data)


def test_chunked_upload_with_final_chunk_in_the_put(client, repo):
    data = random_bytes(1500)
    loc = start_upload(client, repo).headers["Location"]
    r = patch_chunk(client, loc, data[:1000], 0)
    assert r.status_code == 202, r.text
    r = client.put(with_digest(r.headers["Location"], sha256(data)), data=data[1000:], headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"1000-{len(data) - 1}"})
    assert r.status_code == 201, r.text
    assert_blob(client, repo, data)


def test_chunked_helper_round_trip_with_uneven_chunks(client, repo):
    data = random_bytes(10_001)
    push_blob_chunked(client, repo, data, chunk_size=4096)
    assert_blob(client, repo, data)


def test_docker_style_streamed_patch_without_content_range(client, repo):
    """docker push sends the whole layer in one PATCH with no Content-Range,
    as a chunked transfer-encoded stream (its size is not known up front),
    then closes with an empty PUT."""
    data = random_bytes(70_000)
    loc = start_upload(client, repo).headers["Location"]

    def stream():
        for i in range(0, len(data), 16_384):
            yield data[i:i + 16_384]
    r = client.patch(loc, data=stream(), headers={"Content-Type": "application/octet-stream"})
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 202, r.text
    assert upload_range_end(r) == len(data) - 1
    r = client.put(with_digest(r.headers["Location"], sha256(data)))
    assert r.status_code == 201, r.text
    assert_blob(client, repo, data)


@pytest.mark.requires("chunk-range-check")
def test_out_of_order_chunk_is_416_and_the_session_survives(client, repo):
    data = random_bytes(300)
    r = patch_chunk(client, start_upload(client, repo).headers["Location"], data[:100], 0)
    assert r.status_code == 202
    loc = r.headers["Location"]
    gap = patch_chunk(client, loc, data[200:], 200)  # skips bytes 100-199
    assert gap.status_code == 416, gap.text
    overlap = patch_chunk(client, loc, data[50:150], 50)  # resends bytes 50-99
    assert overlap.status_code == 416, overlap.text
    # Nothing was appended: the status still ends at byte 99, and the right chunk continues.
    s = client.get(loc)
    assert s.status_code == 204
    assert upload_range_end(s) == 99
    r = patch_chunk(client, s.headers["Location"], data[100:], 100)
    assert r.status_code == 202, r.text
    r = client.put(with_digest(r.headers["Location"], sha256(data)))
    assert r.status_code == 201, r.text
    assert_blob(client, repo, data)


def test_put_with_wrong_digest_is_400_digest_invalid_and_stores_nothing(client, repo):
    data = random_bytes(512)
    wrong = sha256(b"not this content")
    loc = start_upload(client, repo).headers["Location"]
    r = client.put(with_digest(loc, wrong), data=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 400, r.text
    assert "DIGEST_INVALID" in error_codes(r)
    assert_no_blob(client, repo, wrong)
    assert_no_blob(client, repo, sha256(data))


def test_cancelled_upload_is_gone(client, repo):
    loc = start_upload(client, repo).headers["Location"]
    r = patch_chunk(client, loc, random_bytes(100), 0)
    assert r.status_code == 202
    loc = r.headers["Location"]
    r = client.delete(loc)
    assert r.status_code == 204, r.text
    for r in (client.get(loc),
              patch_chunk(client, loc, b"x", 100),
              client.put(with_digest(loc, sha256(b"x")), data=b"x",
                         headers={"Content-Type": "application/octet-stream"})):
        assert r.status_code == 404, f"{r.request.method} after cancel: {r.status_code}"
        assert error_codes(r) == ["BLOB_UPLOAD_UNKNOWN"]


def test_made_up_upload_session_is_404(client, repo):
    """Upload URLs are opaque, so a made-up one is either unknown or (to a
    registry that signs its session state, like distribution) invalid."""
    push_blob(client, repo, random_bytes(10))
    r = client.get(f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}")
    assert r.status_code == 404
    assert error_codes(r)[0] in ("BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID")


def test_cross_repository_mount(client, repo):
    data = random_bytes(1024)
    push_blob(client, repo, data)
    target = repo + "-mounted"
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": sha256(data), "from": repo})
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == sha256(data)
    assert client.get(r.headers["Location"]).content == data
    assert_blob(client, target, data)


def test_mount_of_a_missing_blob_falls_back_to_an_upload_session(client, repo):
    push_blob(client, repo, random_bytes(10))
    data = random_bytes(64)
    target = repo + "-target"
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": sha256(data), "from": repo})
    assert r.status_code == 202, r.text
    # The session is real: the client uploads into it as the spec says it MAY.
    r = client.put(with_digest(r.headers["Location"], sha256(data)), data=data,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    assert_blob(client, target, data)
    assert_no_blob(client, repo, sha256(data))


def test_mount_from_a_repository_without_the_blob_does_not_leak_it(client, repo):
    """A blob in repo A cannot be mounted into C by naming B as the source."""
    data = random_bytes(64)
    push_blob(client, repo, data)
    unrelated = repo + "-unrelated"
    push_blob(client, unrelated, random_bytes(10))
    target = repo + "-target"
    r = client.post(f"/v2/{target}/blobs/uploads/", params={"mount": sha256(data), "from": unrelated})
    assert r.status_code == 202, r.text
    client.delete(r.headers["Location"])
    assert_no_blob(client, target, sha256(data))


# --- push: manifests ------------------------------------------------------

def build_docker_manifest(client, repo):
    return docker_image(layers=2)


def build_docker_manifest_list(client, repo):
    children = [docker_image(), docker_image()]
    for c in children:
        c.push(client, repo)
    return index(children, DOCKER_MANIFEST_LIST)


def build_oci_manifest(client, repo):
    return oci_image(layers=2, annotations={"org.opencontainers.image.title": "conformance"})


def build_oci_index(client, repo):
    children = [oci_image(), oci_image()]
    for c in children:
        c.push(client, repo)
    return index(children, OCI_INDEX, annotations={"com.example.kind": "multi-arch"})


def build_oci_artifact(client, repo):
    return oci_artifact("application/vnd.example.report.v1+json", annotations={"com.example.k": "v"})


MANIFEST_KINDS = {
    "docker-v2s2": (build_docker_manifest, DOCKER_MANIFEST),
    "docker-manifest-list": (build_docker_manifest_list, DOCKER_MANIFEST_LIST),
    "oci-manifest": (build_oci_manifest, OCI_MANIFEST),
    "oci-index": (build_oci_index, OCI_INDEX),
    "oci-artifact": (build_oci_artifact, OCI_MANIFEST),
}


@pytest.mark.parametrize("kind", MANIFEST_KINDS)
def test_push_and_pull_manifest_of_each_media_type(client, repo, kind):
    build, media_type = MANIFEST_KINDS[kind]
    img = build(client, repo)
    img.push_blobs(client, repo)
    r = push_manifest(client, repo, "v1", img.manifest, media_type)
    assert r.status_code == 201, r.text
    assert r.headers["Docker-Content-Digest"] == img.digest
    pulled = get_manifest(client, repo, "v1")
    assert pulled.status_code == 200
    assert pulled.content == img.manifest
    assert pulled.headers["Content-Type"] == media_type
    by_digest = get_manifest(client, repo, img.digest)
    assert by_digest.content == img.manifest
    assert by_digest.headers["Content-Type"] == media_type


def test_manifest_put_location_is_pullable(client, repo):
    img = oci_image()
    r = img.push(client, repo, "v1")
    pulled = client.get(r.headers["Location"], headers={"Accept": ACCEPT_ALL_MANIFESTS})
    assert pulled.status_code == 200
    assert pulled.content == img.manifest


def test_artifact_with_empty_config_keeps_artifact_type(client, repo):
    art = oci_artifact("application/vnd.example.sbom.v1")
    art.push(client, repo, "sbom")
    body = json.loads(get_manifest(client, repo, "sbom").content)
    assert body["artifactType"] == "application/vnd.example.sbom.v1"
    assert body["config"] == descriptor(OCI_EMPTY, EMPTY_JSON)
    assert_blob(client, repo, EMPTY_JSON)


def test_put_manifest_by_digest_creates_no_tag(client, repo):
    tagged = oci_image()
    tagged.push(client, repo, "tagged")
    img = oci_image()
    r = img.push(client, repo, img.digest)
    assert r.headers["Docker-Content-Digest"] == img.digest
    assert get_manifest(client, repo, img.digest).content == img.manifest
    tags = client.get(f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["tagged"]


def test_manifest_referencing_a_missing_blob_is_400_manifest_blob_unknown(client, repo):
    img = oci_image(layers=1)
    push_blob(client, repo, img.blobs[0])  # the config is there, the layer is not
    r = push_manifest(client, repo, "v1", img.manifest, OCI_MANIFEST)
    assert r.status_code == 400, r.text
    assert set(error_codes(r)) == {"MANIFEST_BLOB_UNKNOWN"}
    assert get_manifest(client, repo, "v1").status_code == 404


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_MANIFEST_LIST])
def test_index_referencing_a_missing_manifest_is_400_manifest_blob_unknown(client, repo, media_type):
    """The spec: a registry MAY reject descriptors (other than subject) naming
    content it lacks, and then MUST answer MANIFEST_BLOB_UNKNOWN ("manifest
    references a manifest or blob unknown to registry"); distribution does."""
    present = docker_image() if media_type == DOCKER_MANIFEST_LIST else oci_image()
    present.push(client, repo)
    missing = docker_image() if media_type == DOCKER_MANIFEST_LIST else oci_image()
    idx = index([present, missing], media_type)
    r = push_manifest(client, repo, "multi", idx.manifest, media_type)
    assert r.status_code == 400, r.text
    assert set(error_codes(r)) == {"MANIFEST_BLOB_UNKNOWN"}
    assert get_manifest(client, repo, "multi").status_code == 404


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]"], ids=["garbage", "empty", "array"])
def test_invalid_manifest_is_400_manifest_invalid(client, repo, body):
    r = push_manifest(client, repo, "bad", body, OCI_MANIFEST)
    assert r.status_code == 400, r.text
    assert "MANIFEST_INVALID" in error_codes(r)
    assert get_manifest(client, repo, "bad").status_code == 404


def test_manifest_digest_in_url_must_match_body(client, repo):
    img = oci_image()
    img.push_blobs(client, repo)
    other = sha256(img.manifest + b" ")
    r = push_manifest(client, repo, other, img.manifest, OCI_MANIFEST)
    assert r.status_code == 400, r.text
    assert "DIGEST_INVALID" in error_codes(r)
    assert get_manifest(client, repo, other).status_code == 404


def test_invalid_repository_name(client, registry):
    status, code = registry.impl.invalid_name
    img = oci_image()
    for r in (push_manifest(client, "Conformance/UPPER", "v1", img.manifest, OCI_MANIFEST),
              get_manifest(client, "Conformance/UPPER", "v1"),
              client.post("/v2/Conformance/UPPER/blobs/uploads/")):
        assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:200]}"
        if code:
            assert code in error_codes(r)


def test_tag_overwrite_moves_the_tag(client, repo):
    first, second = oci_image(), oci_image()
    first.push(client, repo, "latest")
    second.push(client, repo, "latest")
    r = get_manifest(client, repo, "latest")
    assert r.headers["Docker-Content-Digest"] == second.digest
    assert r.content == second.manifest
    # The old manifest is untagged, not deleted.
    assert get_manifest(client, repo, first.digest).content == first.manifest
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["latest"]


def test_names_and_tags_at_the_edges_of_their_grammar(client, repo):
    """<name> components may hold . _ __ and runs of -; tags are
    [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}: mixed case and up to 128 characters."""
    name = repo + "/a.b/c_d/e__f/g---h/9"
    img = oci_image()
    long_tag = "T" + "x._-" * 31 + "end"
    assert len(long_tag) == 128
    for tag in ("V1.0_rc-1", "_leading_underscore", long_tag):
        img.push(client, name, tag)
        r = get_manifest(client, name, tag)
        assert r.status_code == 200, f"{tag}: {r.status_code}"
        assert r.content == img.manifest
    assert sorted(client.get(f"/v2/{name}/tags/list").json()["tags"]) == sorted(
        ["V1.0_rc-1", "_leading_underscore", long_tag])


def test_one_manifest_under_many_tags(client, repo):
    img = oci_image()
    img.push(client, repo, "a")
    for tag in ("b", "c"):
        assert push_manifest(client, repo, tag, img.manifest, OCI_MANIFEST).status_code == 201
    for tag in ("a", "b", "c"):
        assert get_manifest(client, repo, tag).headers["Docker-Content-Digest"] == img.digest


@pytest.mark.requires("manifest-size-4mb")
def test_large_manifest_is_accepted(client, repo):
    """Clients and registries "SHOULD expect to be able to support manifest
    pushes of at least 4 megabytes"; stay just under 4 MiB."""
    img = oci_image(annotations={"com.example.padding": "x" * (4 * 1024 * 1024 - 4096)})
    assert len(img.manifest) < 4 * 1024 * 1024
    img.push(client, repo, "big")
    assert get_manifest(client, repo, "big").content == img.manifest


# --- content discovery ----------------------------------------------------

TAGS = ["alpha", "beta", "delta", "epsilon", "gamma"]


def push_tags(client, repo, tags):
    img = oci_image()
    img.push(client, repo, tags[0])
    for t in tags[1:]:
        assert push_manifest(client, repo, t, img.manifest, OCI_MANIFEST).status_code == 201


def test_tags_list_names_every_tag(client, repo):
    push_tags(client, repo, ["gamma", "alpha", "epsilon", "beta", "delta"])
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == repo
    assert sorted(body["tags"]) == TAGS


@pytest.mark.requires("tags-sorted")
def test_tags_list_is_sorted(client, repo):
    push_tags(client, repo, ["gamma", "alpha", "epsilon", "beta", "delta"])
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == TAGS


def test_tags_list_of_unknown_repository_is_404_name_unknown(client, repo):
    r = client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]


@pytest.mark.requires("tags-pagination", "tags-sorted")
def test_tags_list_pages_with_n_and_link(client, repo):
    push_tags(client, repo, TAGS)
    seen, url, pages = [], f"/v2/{repo}/tags/list?n=2", 0
    while url:
        r = client.get(url)
        assert r.status_code == 200
        page = r.json()["tags"]
        pages += 1
        url = next_link(r)
        if url:
            # Fewer than n only when a Link says there is more; here there is no reason to.
            assert len(page) == 2, f"page {pages}: {page}"
            q = parse_qs(urlparse(url).query)
            assert q["n"] == ["2"] and q["last"] == [page[-1]]
        seen += page
        assert pages <= len(TAGS), "pagination does not end"
    assert seen == TAGS
    assert pages == 3


TAG_QUERIES = [
    ("n=0", []),
    ("n=2&last=beta", ["delta", "epsilon"]),
    ("last=beta", ["delta", "epsilon", "gamma"]),  # n is optional with last
    ("n=10&last=delta", ["epsilon", "gamma"]),
    ("n=2&last=gamma", []),
    ("n=2&last=charlie", ["delta", "epsilon"]),  # last need not be an existing tag: lexical position
    ("n=100", TAGS),
]


@pytest.mark.requires("tags-pagination", "tags-sorted")
@pytest.mark.parametrize("query,expected", TAG_QUERIES, ids=[q for q, _ in TAG_QUERIES])
def test_tags_list_n_and_last(client, repo, query, expected):
    push_tags(client, repo, TAGS)
    r = client.get(f"/v2/{repo}/tags/list?{query}")
    assert r.status_code == 200
    assert r.json()["tags"] == expected
    if query == "n=0" or not expected or expected[-1] == TAGS[-1]:
        # n=0 "MUST NOT include a Link header"; nor may the last page point past the end.
        assert next_link(r) is None, r.headers.get("Link")


def catalog_walk(client, start_url):
    names, url, requests_made = [], start_url, 0
    while url:
        r = client.get(url)
        assert r.status_code == 200, r.text
        names += r.json()["repositories"]
        url = next_link(r)
        requests_made += 1
        assert requests_made < 1000, "catalog pagination does not end"
    return names


def test_catalog_pages_with_n_last_and_link(client):
    prefix = f"catalog-{uuid.uuid4().hex[:10]}"
    mine = [f"{prefix}/a", f"{prefix}/b", f"{prefix}/c"]
    for name in reversed(mine):
        oci_image().push(client, name, "v1")
    # Starting just before our names: the first page is exactly the first two.
    r = client.get("/v2/_catalog", params={"n": 2, "last": prefix})
    assert r.status_code == 200
    assert r.json()["repositories"] == mine[:2]
    link = next_link(r)
    assert link, "a full page without a Link rel=next"
    q = parse_qs(urlparse(link).query)
    assert q["n"] == ["2"] and q["last"] == [mine[1]]
    assert client.get(link).json()["repositories"][:1] == mine[2:]
    # The whole catalog, two at a time: sorted, no duplicates, ours included.
    everything = catalog_walk(client, "/v2/_catalog?n=2")
    assert everything == sorted(set(everything))
    assert set(mine) <= set(everything)


def test_catalog_n_zero_is_empty(client, repo):
    oci_image().push(client, repo, "v1")
    r = client.get("/v2/_catalog?n=0")
    assert r.status_code == 200
    assert r.json()["repositories"] == []
    assert next_link(r) is None


# --- referrers (spec 1.1) -------------------------------------------------

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


def referrers(client, repo, digest, **params):
    r = client.get(f"/v2/{repo}/referrers/{digest}", params=params)
    assert r.status_code == 200, f"referrers: {r.status_code} {r.text[:200]}"
    assert r.headers["Content-Type"] == OCI_INDEX
    body = r.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    return r, {d["digest"]: d for d in body["manifests"]}


@pytest.mark.requires("referrers")
def test_referrers_list_manifests_whose_subject_is_the_digest(client, repo):
    subject = oci_image()
    subject.push(client, repo, "v1")
    sbom = oci_artifact(SBOM, subject=subject.descriptor(), annotations={"org.example.sbom.format": "json"})
    signature = oci_artifact(SIGNATURE, subject=subject.descriptor(), annotations={"org.example.fp": "abcd"})
    # No artifactType: the referrers entry takes the config's mediaType.
    plain = oci_image(subject=subject.descriptor(), config_type="application/vnd.example.config.v1+json")
    # An index with a subject and no artifactType: the entry has no artifactType.
    child = oci_image()
    child.push(client, repo)
    idx = index([child], OCI_INDEX, subject=subject.descriptor(), annotations={"org.example.kind": "bundle"})
    unrelated = oci_artifact(SBOM, subject=oci_image().descriptor())
    for m in (sbom, signature, plain, idx, unrelated):
        r = m.push(client, repo)
        assert r.headers.get("OCI-Subject") == json.loads(m.manifest)["subject"]["digest"]

    _, got = referrers(client, repo, subject.digest)
    assert set(got) == {sbom.digest, signature.digest, plain.digest, idx.digest}
    assert got[sbom.digest] == sbom.descriptor(artifactType=SBOM, annotations={"org.example.sbom.format": "json"})
    assert got[signature.digest] == signature.descriptor(artifactType=SIGNATURE, annotations={"org.example.fp": "abcd"})
    assert got[plain.digest]["artifactType"] == "application/vnd.example.config.v1+json"
    assert got[plain.digest]["mediaType"] == OCI_MANIFEST
    assert got[plain.digest]["size"] == len(plain.manifest)
    assert "annotations" not in got[plain.digest] or got[plain.digest]["annotations"] == {}
    assert got[idx.digest]["mediaType"] == OCI_INDEX
    assert "artifactType" not in got[idx.digest]
    assert got[idx.digest]["annotations"] == {"org.example.kind": "bundle"}


@pytest.mark.requires("referrers")
def test_referrers_artifact_type_filter(client, repo):
    subject = oci_image()
    subject.push(client, repo, "v1")
    sbom = oci_artifact(SBOM, subject=subject.descriptor())
    signature = oci_artifact(SIGNATURE, subject=subject.descriptor())
    sbom.push(client, repo)
    signature.push(client, repo)
    r, got = referrers(client, repo, subject.digest, artifactType=SBOM)
    assert set(got) == {sbom.digest}
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    r, got = referrers(client, repo, subject.digest, artifactType="application/vnd.example.none")
    assert got == {}
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    r, got = referrers(client, repo, subject.digest)
    assert set(got) == {sbom.digest, signature.digest}
    assert "OCI-Filters-Applied" not in r.headers


@pytest.mark.requires("referrers")
def test_referrers_of_unknown_digest_is_an_empty_index(client, repo):
    oci_image().push(client, repo, "v1")
    _, got = referrers(client, repo, sha256(b"nothing refers to this"))
    assert got == {}


@pytest.mark.requires("referrers")
def test_referrers_with_invalid_digest_is_400(client, repo):
    oci_image().push(client, repo, "v1")
    r = client.get(f"/v2/{repo}/referrers/sha256:not-hex")
    assert r.status_code == 400


@pytest.mark.requires("referrers")
def test_manifest_with_missing_subject_is_accepted_and_listed(client, repo):
    """The subject may be pushed after its referrers ("MUST accept")."""
    later = oci_image()
    sig = oci_artifact(SIGNATURE, subject=later.descriptor())
    r = sig.push(client, repo, "sig")
    assert r.headers.get("OCI-Subject") == later.digest
    _, got = referrers(client, repo, later.digest)
    assert set(got) == {sig.digest}
    later.push(client, repo, "v1")
    _, got = referrers(client, repo, later.digest)
    assert set(got) == {sig.digest}


@pytest.mark.requires("referrers")
def test_referrers_are_per_repository_and_follow_deletion(client, repo):
    subject = oci_image()
    subject.push(client, repo, "v1")
    sig = oci_artifact(SIGNATURE, subject=subject.descriptor())
    sig.push(client, repo)
    other = repo + "-other"
    subject.push(client, other, "v1")
    _, got = referrers(client, other, subject.digest)
    assert got == {}, "a referrer in another repository was listed"
    assert client.delete(f"/v2/{repo}/manifests/{sig.digest}").status_code == 202
    _, got = referrers(client, repo, subject.digest)
    assert got == {}


@pytest.mark.requires("referrers")
def test_manifest_without_subject_gets_no_oci_subject_header(client, repo):
    r = oci_image().push(client, repo, "v1")
    assert "OCI-Subject" not in r.headers


# --- content management ---------------------------------------------------

def test_delete_manifest_by_digest(client, repo):
    img, keep = oci_image(), oci_image()
    img.push(client, repo, "doomed")
    keep.push(client, repo, "kept")
    r = client.delete(f"/v2/{repo}/manifests/{img.digest}")
    assert r.status_code == 202, r.text
    for ref in (img.digest, "doomed"):  # the tag pointing at it goes too
        r = get_manifest(client, repo, ref)
        assert r.status_code == 404
        assert error_codes(r) == ["MANIFEST_UNKNOWN"]
    assert get_manifest(client, repo, "kept").content == keep.manifest
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["kept"]


def test_delete_unknown_manifest_is_404(client, repo):
    oci_image().push(client, repo, "v1")
    r = client.delete(f"/v2/{repo}/manifests/{sha256(b'never pushed')}")
    assert r.status_code == 404
    assert error_codes(r) == ["MANIFEST_UNKNOWN"]


@pytest.mark.requires("tag-delete")
def test_delete_by_tag_removes_only_the_tag(client, repo):
    img = oci_image()
    img.push(client, repo, "a")
    assert push_manifest(client, repo, "b", img.manifest, OCI_MANIFEST).status_code == 201
    r = client.delete(f"/v2/{repo}/manifests/a")
    assert r.status_code == 202, r.text
    assert get_manifest(client, repo, "a").status_code == 404
    assert get_manifest(client, repo, "b").content == img.manifest
    assert get_manifest(client, repo, img.digest).content == img.manifest
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["b"]
    assert client.delete(f"/v2/{repo}/manifests/a").status_code == 404


@pytest.mark.lacks("tag-delete")
def test_delete_by_tag_refused_leaves_everything(client, repo, registry):
    """Tag deletion is a MAY; a registry without it answers 400 or 405."""
    img = oci_image()
    img.push(client, repo, "a")
    r = client.delete(f"/v2/{repo}/manifests/a")
    assert r.status_code in registry.impl.tag_delete_refused, r.text
    assert get_manifest(client, repo, "a").content == img.manifest


def test_delete_blob(client, repo):
    data, keep = random_bytes(100), random_bytes(100)
    push_blob(client, repo, data)
    push_blob(client, repo, keep)
    r = client.delete(blob_url(repo, sha256(data)))
    assert r.status_code == 202, r.text
    assert_no_blob(client, repo, sha256(data))
    assert_blob(client, repo, keep)
    r = client.delete(blob_url(repo, sha256(data)))
    assert r.status_code == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


def test_deleted_blob_can_be_pushed_again(client, repo):
    data = random_bytes(100)
    push_blob(client, repo, data)
    assert client.delete(blob_url(repo, sha256(data))).status_code == 202
    push_blob(client, repo, data)
    assert_blob(client, repo, data)


# --- the client itself ----------------------------------------------------
# Not parameterized: these check that RegistryClient authenticates the way
# docker does (so the suite can run against a berth-hub that requires
# accounts), against docker-registry behind htpasswd and behind token auth.

def test_client_parses_challenges_like_docker():
    assert parse_challenge('Bearer realm="https://auth.example/token",service="registry.example",'
                           'scope="repository:a/b:pull,push"') == (
        "bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                   "scope": "repository:a/b:pull,push"})
    assert parse_challenge('Basic realm="test"') == ("basic", {"realm": "test"})
    assert parse_challenge("Basic realm=unquoted, charset=\"UTF-8\"") == (
        "basic", {"realm": "unquoted", "charset": "UTF-8"})


def test_client_answers_basic_challenge(tmp_path):
    reg = Registry(tmp_path, htpasswd_auth(tmp_path, "alice", "wonderland"))
    try:
        url = f"http://{reg.host}"
        anonymous = RegistryClient(url)
        r = anonymous.get("/v2/")
        assert r.status_code == 401
        assert parse_challenge(r.headers["WWW-Authenticate"])[0] == "basic"
        assert RegistryClient(url, "alice", "not the password").get("/v2/").status_code == 401
        alice = RegistryClient(url, "alice", "wonderland")
        img = oci_image()
        img.push(alice, "team/app", "v1")
        assert get_manifest(alice, "team/app", "v1").content == img.manifest
        assert alice.authorization.startswith("Basic ")
    finally:
        reg.stop()


def test_client_answers_bearer_challenge_per_scope(tmp_path):
    sys.path.append(str(Path(__file__).resolve().parent.parent / "registry"))
    from token_server import SERVICE, TokenServer
    tokens = TokenServer(tmp_path, {"alice": "wonderland"})
    reg = Registry(tmp_path, tokens.registry_auth_yaml())
    try:
        url = f"http://{reg.host}"
        alice = RegistryClient(url, "alice", "wonderland")
        img = oci_image()
        img.push(alice, "public/app", "v1")
        assert alice.authorization.startswith("Bearer ")
        # distribution lists a challenge's actions in Go map order, so compare them as a set.
        scopes = [(q["scope"].rsplit(":", 1)[0], set(q["scope"].rsplit(":", 1)[1].split(",")))
                  for _, q in alice.token_requests if "scope" in q]
        assert ("repository:public/app", {"pull", "push"}) in scopes
        assert all(realm == tokens.realm and q["service"] == SERVICE for realm, q in alice.token_requests)
        assert set(tokens.grants) == {"basic"}, "credentials were not sent to the token realm"
        # A token is per scope: another repository needs (and gets) a new one.
        before = len(alice.token_requests)
        oci_image().push(alice, "team/other", "v1")
        assert len(alice.token_requests) > before
        # Anonymous: the token server grants pull of public/ and nothing else.
        anonymous = RegistryClient(url)
        assert get_manifest(anonymous, "public/app", "v1").content == img.manifest
        assert "anonymous" in tokens.grants
        r = anonymous.post("/v2/public/app/blobs/uploads/")
        assert r.status_code == 401
        assert get_manifest(anonymous, "team/other", "v1").status_code == 401
    finally:
        reg.stop()
        tokens.stop()
