"""A small OCI distribution client for the conformance suite.

RegistryClient wraps requests.Session and answers auth challenges the way
docker and containerd do: on a 401 carrying `WWW-Authenticate: Basic` it
retries with the configured credentials; on `Bearer realm=..,service=..,
scope=..` it fetches a token from the realm (GET, service and scope as
query parameters, Basic credentials if it has any) and retries with
`Authorization: Bearer <token>`. The last authorization is kept and sent
up front, so a run of requests pays for one challenge, not one per call.

The module-level helpers build content (random layers, configs, manifests
of each media type) and push it with the upload flows the spec defines, so
tests can state what they check instead of how to get there.
"""
import hashlib
import json
import os
import re
from urllib.parse import urljoin

import requests

# Manifest media types.
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
# The empty descriptor's content is the two bytes "{}" (image-spec, "Guidance for an Empty Descriptor").
EMPTY_JSON = b"{}"

# What a real client accepts, so registries that convert or pick a platform
# for clients that do not list a type (distribution does both) serve the
# manifest exactly as pushed.
ACCEPT_ALL_MANIFESTS = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])

_AUTH_PARAM = re.compile(r'\s*([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_challenge(header: str):
    """Splits a WWW-Authenticate value into (scheme, {param: value}).
    Values may be quoted and hold commas (scope="repository:a:pull,push")."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    pos = 0
    while pos < len(rest):
        m = _AUTH_PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return scheme.lower(), params


class RegistryClient:
    def __init__(self, base_url: str, username: str = None, password: str = None):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.session = requests.Session()
        self.authorization = None  # the header value that last got past a challenge
        self.token_requests = []  # (realm, params) of every token fetch, for auth tests

    def url(self, path_or_url: str) -> str:
        """Absolute URL for a path ("/v2/..."), or a Location header value
        (absolute, or relative to the registry, as the spec allows)."""
        return urljoin(self.base_url + "/", path_or_url)

    def request(self, method, path_or_url, headers=None, **kwargs):
        headers = dict(headers or {})
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", 30)
        if self.authorization:
            headers["Authorization"] = self.authorization
        url = self.url(path_or_url)
        resp = self.session.request(method, url, headers=headers, **kwargs)
        if resp.status_code == 401 and "WWW-Authenticate" in resp.headers:
            authorization = self._answer(resp.headers["WWW-Authenticate"])
            if authorization:
                self.authorization = authorization
                headers["Authorization"] = authorization
                resp = self.session.request(method, url, headers=headers, **kwargs)
        return resp

    def _answer(self, challenge: str):
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.username is None:
                return None
            return requests.auth._basic_auth_str(self.username, self.password)
        if scheme == "bearer":
            query = {k: params[k] for k in ("service", "scope") if k in params}
            self.token_requests.append((params["realm"], query))
            auth = (self.username, self.password) if self.username is not None else None
            r = self.session.get(params["realm"], params=query, auth=auth, timeout=30)
            r.raise_for_status()
            body = r.json()
            token = body.get("token") or body.get("access_token")
            return f"Bearer {token}" if token else None
        return None

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def error_codes(resp) -> list:
    """The `code` of every error in an error body; asserts the body has the
    spec's shape ({"errors": [{"code", "message", "detail"?}]})."""
    assert resp.headers.get("Content-Type", "").startswith("application/json"), \
        f"error body is not JSON: {resp.status_code} {resp.headers.get('Content-Type')!r} {resp.text[:200]!r}"
    body = resp.json()
    assert isinstance(body.get("errors"), list) and body["errors"], f"no errors list: {body}"
    for e in body["errors"]:
        assert isinstance(e.get("code"), str) and re.fullmatch(r"[A-Z_]+", e["code"]), f"bad error code: {e}"
        assert "message" not in e or isinstance(e["message"], str), f"bad error message: {e}"
    return [e["code"] for e in body["errors"]]


def with_digest(location: str, digest: str) -> str:
    """The upload URL with ?digest= added, keeping the registry's own query
    parameters (the spec lets Location carry state the registry needs)."""
    return location + ("&" if "?" in location else "?") + "digest=" + digest


# --- content -------------------------------------------------------------

def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


def random_config(media_type=OCI_CONFIG) -> bytes:
    """A small image config, unique per call (its digest must not collide with other tests')."""
    return json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": [f"NONCE={os.urandom(8).hex()}"]},
        "rootfs": {"type": "layers", "diff_ids": []},
    }, sort_keys=True).encode()


def dumps(obj) -> bytes:
    # Indented on purpose: registries must keep the exact bytes, and a
    # non-canonical form catches any that re-serialize the JSON.
    return json.dumps(obj, indent=3).encode()


class Image:
    """Blobs plus a manifest body; `push` uploads the blobs then the manifest."""

    def __init__(self, manifest: bytes, media_type: str, blobs=()):
        self.manifest = manifest
        self.media_type = media_type
        self.blobs = list(blobs)  # raw bytes of every blob the manifest references
        self.digest = sha256(manifest)

    def descriptor(self, **extra):
        return descriptor(self.media_type, self.manifest, **extra)

    def push_blobs(self, client, repo):
        for b in self.blobs:
            push_blob(client, repo, b)

    def push(self, client, repo, reference=None):
        self.push_blobs(client, repo)
        resp = push_manifest(client, repo, reference or self.digest, self.manifest, self.media_type)
        assert resp.status_code == 201, f"manifest push failed: {resp.status_code} {resp.text}"
        return resp


def oci_image(layers=1, layer_size=512, artifact_type=None, subject=None, annotations=None,
              config=None, config_type=OCI_CONFIG, layer_type=OCI_LAYER) -> Image:
    """An OCI image manifest with random layers. With artifact_type it is
    an artifact; pass config=EMPTY_JSON, config_type=OCI_EMPTY for the
    artifact form with the empty config."""
    config = random_config() if config is None else config
    blobs = [random_bytes(layer_size) for _ in range(layers)]
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
    if artifact_type:
        m["artifactType"] = artifact_type
    m["config"] = descriptor(config_type, config)
    m["layers"] = [descriptor(layer_type, b) for b in blobs]
    if subject:
        m["subject"] = subject
    if annotations:
        m["annotations"] = annotations
    return Image(dumps(m), OCI_MANIFEST, [config, *blobs])


def oci_artifact(artifact_type, subject=None, annotations=None, payload=None) -> Image:
    """An artifact the 1.1 way: image manifest, artifactType, empty config."""
    payload = random_bytes(64) if payload is None else payload
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
         "config": descriptor(OCI_EMPTY, EMPTY_JSON),
         "layers": [descriptor("application/vnd.example.payload", payload)]}
    if subject:
        m["subject"] = subject
    if annotations:
        m["annotations"] = annotations
    return Image(dumps(m), OCI_MANIFEST, [EMPTY_JSON, payload])


def docker_image(layers=1, layer_size=512) -> Image:
    config = random_config(DOCKER_CONFIG)
    blobs = [random_bytes(layer_size) for _ in range(layers)]
    m = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
         "config": descriptor(DOCKER_CONFIG, config),
         "layers": [descriptor(DOCKER_LAYER, b) for b in blobs]}
    return Image(dumps(m), DOCKER_MANIFEST, [config, *blobs])


def index(children, media_type=OCI_INDEX, artifact_type=None, subject=None, annotations=None) -> Image:
    """An OCI index or docker manifest list over already-built children (Image
    objects); the children are not pushed with it."""
    entries = []
    for i, child in enumerate(children):
        entries.append(child.descriptor(platform={"architecture": ["amd64", "arm64", "s390x"][i % 3], "os": "linux"}))
    m = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        m["artifactType"] = artifact_type
    m["manifests"] = entries
    if subject:
        m["subject"] = subject
    if annotations:
        m["annotations"] = annotations
    return Image(dumps(m), media_type)


# --- pushing ---------------------------------------------------------------

def start_upload(client, repo, **params):
    resp = client.post(f"/v2/{repo}/blobs/uploads/", params=params, headers={"Content-Length": "0"})
    assert resp.status_code == 202, f"upload start: {resp.status_code} {resp.text}"
    assert resp.headers.get("Location"), "upload start without Location"
    return resp


def push_blob(client, repo, data: bytes):
    """POST then PUT ?digest= (the monolithic flow every registry supports).
    Returns the PUT response."""
    loc = start_upload(client, repo).headers["Location"]
    resp = client.put(with_digest(loc, sha256(data)), data=data,
                      headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 201, f"blob PUT: {resp.status_code} {resp.text}"
    return resp


def push_blob_single_post(client, repo, data: bytes):
    """POST ?digest= with the body. Returns the POST response; a registry
    without single-POST support answers 202 and the caller must PUT."""
    return client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, data=data,
                       headers={"Content-Type": "application/octet-stream"})


def patch_chunk(client, location, data: bytes, start: int):
    return client.patch(location, data=data, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{start}-{start + len(data) - 1}"})


def push_blob_chunked(client, repo, data: bytes, chunk_size: int):
    """POST, PATCH per chunk, PUT ?digest= without a body."""
    loc = start_upload(client, repo).headers["Location"]
    for start in range(0, len(data), chunk_size):
        resp = patch_chunk(client, loc, data[start:start + chunk_size], start)
        assert resp.status_code == 202, f"PATCH: {resp.status_code} {resp.text}"
        loc = resp.headers["Location"]
    resp = client.put(with_digest(loc, sha256(data)))
    assert resp.status_code == 201, f"closing PUT: {resp.status_code} {resp.text}"
    return resp


def push_manifest(client, repo, reference, body: bytes, media_type):
    return client.put(f"/v2/{repo}/manifests/{reference}", data=body, headers={"Content-Type": media_type})


def get_manifest(client, repo, reference, method="GET"):
    return client.request(method, f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT_ALL_MANIFESTS})


def next_link(resp):
    """The target of a `Link: <url>; rel="next"` header, or None."""
    for part in resp.headers.get("Link", "").split(","):
        m = re.match(r'\s*<([^>]*)>\s*;\s*rel="?next"?', part)
        if m:
            return m.group(1)
    return None
