"""Parent links between images (what the classic builder records for each
step) as the image API shows and uses them: intermediate images hidden from
the default listing, ParentId/Parent, rmi pruning untagged parents, and
prune sparing images others are built on.

Without a builder at hand the links are made the way the store keeps them:
images are imported through the API, then the daemon is stopped and
"parent" is written into their records (<data-root>/.../images/<hex>.json)."""
import http.client
import io
import json
import socket
import tarfile
import urllib.parse

import pytest

from berthd_daemon import BERTHD, Daemon


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.unix_path)


def api(d, method, path, body=None, **query):
    url = "/v1.41" + path + ("?" + urllib.parse.urlencode(query) if query else "")
    c = UnixHTTPConnection(str(d.sock))
    try:
        c.request(method, url, body=body)
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    return r.status, data


def api_json(d, method, path, **query):
    status, data = api(d, method, path, **query)
    return status, (json.loads(data) if data else None)


def tiny_tar(name):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = name.encode()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def import_image(d, message, repo=None):
    query = {"fromSrc": "-", "message": message}
    if repo:
        query["repo"], query["tag"] = repo.split(":")
    status, data = api(d, "POST", "/images/create", body=tiny_tar("f"), **query)
    assert status == 200, data
    return json.loads(data.splitlines()[-1])["status"]


def set_parents(d, links):
    """links: {child_id: parent_id}; restarts the daemon around the edit."""
    d.stop()
    for child, parent in links.items():
        hexid = child.split(":", 1)[1]
        [path] = [p for p in d.data.rglob(hexid + ".json") if p.parent.name == "images"]
        rec = json.loads(path.read_text())
        rec["parent"] = parent
        path.write_text(json.dumps(rec))
    d.start()


def list_ids(d, **query):
    status, images = api_json(d, "GET", "/images/json", **query)
    assert status == 200
    return {i["Id"]: i for i in images}


@pytest.fixture
def daemon(tmp_path):
    if not BERTHD.exists():
        pytest.skip("berthd not built")
    d = Daemon(tmp_path).start()
    yield d
    d.stop()


@pytest.fixture
def chain(daemon):
    """base:1 <- (untagged) mid <- app:1, as a two-step build leaves them."""
    base = import_image(daemon, "base", "base:1")
    mid = import_image(daemon, "mid")
    app = import_image(daemon, "app", "app:1")
    assert len({base, mid, app}) == 3
    set_parents(daemon, {mid: base, app: mid})
    return base, mid, app


def test_listing_hides_intermediates_and_shows_parents(daemon, chain):
    base, mid, app = chain
    shown = list_ids(daemon)
    assert set(shown) == {base, app}
    assert shown[app]["ParentId"] == mid
    assert shown[base]["ParentId"] == ""
    every = list_ids(daemon, all="1")
    assert set(every) == {base, mid, app}
    assert every[mid]["ParentId"] == base
    # dangling=true lists heads only: mid has a child, so it is no dangling image.
    assert list_ids(daemon, filters=json.dumps({"dangling": ["true"]}), all="1") == {}
    status, inspect = api_json(daemon, "GET", f"/images/{app}/json")
    assert status == 200 and inspect["Parent"] == mid
    status, inspect = api_json(daemon, "GET", "/images/base:1/json")
    assert inspect["Parent"] == ""
    # history walks the parents for the IDs of earlier steps.
    status, hist = api_json(daemon, "GET", "/images/app:1/history")
    assert status == 200 and hist[0]["Id"] == app and hist[0]["Tags"] == ["app:1"]


def test_rmi_deletes_untagged_parents(daemon, chain):
    base, mid, app = chain
    status, out = api_json(daemon, "DELETE", "/images/app:1")
    assert status == 200, out
    assert out == [{"Untagged": "app:1"}, {"Deleted": app}, {"Deleted": mid}]
    assert set(list_ids(daemon, all="1")) == {base}  # tagged: kept, and the walk ends there


def test_rmi_noprune_leaves_the_parent_dangling(daemon, chain):
    base, mid, app = chain
    status, out = api_json(daemon, "DELETE", "/images/app:1", noprune="1")
    assert out == [{"Untagged": "app:1"}, {"Deleted": app}]
    shown = list_ids(daemon)
    assert set(shown) == {base, mid}  # mid has no child left: a dangling image now
    assert set(list_ids(daemon, filters=json.dumps({"dangling": ["true"]}))) == {mid}


def test_parent_with_children_cannot_be_deleted(daemon, chain):
    base, mid, app = chain
    for force in ("0", "1"):
        status, out = api_json(daemon, "DELETE", f"/images/{mid}", force=force)
        assert status == 409, out
        assert out["message"] == (f"conflict: unable to delete {mid[7:19]} (cannot be forced) - "
                                  "image has dependent child images")
    # By tag, an image with children is only untagged.
    status, out = api_json(daemon, "DELETE", "/images/base:1")
    assert status == 200 and out == [{"Untagged": "base:1"}]
    assert set(list_ids(daemon, all="1")) == {base, mid, app}
    assert set(list_ids(daemon)) == {app}


def test_prune_spares_parents_and_takes_their_chain(daemon):
    base = import_image(daemon, "base", "base:1")
    mid = import_image(daemon, "mid")
    kept = import_image(daemon, "kept", "kept:1")   # tagged child of mid
    head = import_image(daemon, "head")             # dangling child of mid
    lone = import_image(daemon, "lone")             # dangling, no parent
    set_parents(daemon, {mid: base, kept: mid, head: mid})
    status, out = api_json(daemon, "POST", "/images/prune")
    assert status == 200, out
    assert sorted(e["Deleted"] for e in out["ImagesDeleted"]) == sorted([head, lone])
    assert set(list_ids(daemon, all="1")) == {base, mid, kept}
    # Without kept, mid goes with it as the untagged parent of a pruned image.
    status, out = api_json(daemon, "DELETE", "/images/kept:1", noprune="1")
    assert status == 200
    status, out = api_json(daemon, "POST", "/images/prune")
    assert [e["Deleted"] for e in out["ImagesDeleted"]] == [mid]
    status, out = api_json(daemon, "POST", "/images/prune", filters=json.dumps({"dangling": ["false"]}))
    assert out["ImagesDeleted"] == [{"Untagged": "base:1"}, {"Deleted": base}]
    assert list_ids(daemon, all="1") == {}
