"""berth-hub's repository webhooks end to end: a real berth-hub (--open), a
real HTTP receiver on 127.0.0.1 and pushes over the registry API.

    BERTH_BUILD_DIR=... /usr/bin/python3 -m pytest tests/hub/test_webhooks.py
"""
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from registry_client import RegistryClient, oci_image
from registry_server import Hub


class Receiver:
    """Records every POST (time, JSON body) and answers each with the next
    status of `statuses` (the last one repeats), after `delay` seconds."""

    def __init__(self, statuses=(200,), delay=0.0):
        self.statuses = list(statuses)
        self.delay = delay
        self.calls = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.calls.append((time.monotonic(), self.headers.get("Content-Type"), json.loads(body)))
                    n = len(receiver.calls)
                time.sleep(receiver.delay)
                status = receiver.statuses[min(n, len(receiver.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.calls) >= n:
                    return list(self.calls)
            time.sleep(0.05)
        raise AssertionError(f"receiver got {len(self.calls)} calls, want {n}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("hub"), "--open")
    yield h
    h.stop()


@pytest.fixture
def receivers():
    made = []

    def make(*args, **kw):
        r = Receiver(*args, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def api(hub, repo, suffix=""):
    return f"http://{hub.host}/api/v1/repositories/{repo}/webhooks{suffix}"


def add_hook(hub, repo, url, name="ci"):
    r = requests.post(api(hub, repo), json={"name": name, "url": url}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def deliveries(hub, repo, hook):
    r = requests.get(api(hub, repo, f"/{hook}/deliveries"), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def wait_delivery(hub, repo, hook, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = deliveries(hub, repo, hook)
        if d and d[0]["finished"] is not None:
            return d
        time.sleep(0.1)
    raise AssertionError(f"delivery not finished: {d}")


def repo_name():
    return f"team/w{uuid.uuid4().hex[:10]}"


def test_push_posts_docker_hub_payload(hub, receivers):
    rx = receivers()
    repo = repo_name()
    hook = add_hook(hub, repo, rx.url)
    img = oci_image()
    img.push(RegistryClient(f"http://{hub.host}"), repo, "v1")

    (_, ctype, p), = rx.wait_for(1)
    assert ctype == "application/json"
    assert p["push_data"]["tag"] == "v1"
    assert p["push_data"]["images"] == [img.digest]
    assert abs(p["push_data"]["pushed_at"] - time.time()) < 60
    assert "pusher" in p["push_data"]
    r = p["repository"]
    ns, name = repo.split("/")
    assert (r["repo_name"], r["name"], r["namespace"], r["owner"]) == (repo, name, ns, ns)
    assert r["is_private"] is False
    assert r["repo_url"] == f"http://{hub.host}/#/r/{repo}"
    page = requests.get(r["repo_url"], timeout=10)  # the web UI, which routes on the fragment
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert r["status"] == "Active"
    assert abs(r["date_created"] - time.time()) < 60
    assert r["star_count"] == 0 and r["description"] == ""
    assert p["callback_url"].startswith(f"http://{hub.host}/api/v1/repositories/{repo}/-/webhooks/{hook}/deliveries/")

    d = wait_delivery(hub, repo, hook)
    assert len(d) == 1
    assert (d[0]["state"], d[0]["attempts"], d[0]["status_code"], d[0]["error"]) == ("success", 1, 200, "")
    assert d[0]["payload"] == p

    # The receiver reports back through the callback URL.
    cb = requests.post(p["callback_url"], json={"state": "success", "description": "deployed"}, timeout=10)
    assert cb.status_code == 200, cb.text
    d = deliveries(hub, repo, hook)
    assert (d[0]["callback_state"], d[0]["callback_description"]) == ("success", "deployed")


def test_retries_with_backoff_until_the_receiver_succeeds(hub, receivers):
    rx = receivers(statuses=(500, 502, 200))
    repo = repo_name()
    hook = add_hook(hub, repo, rx.url)
    oci_image().push(RegistryClient(f"http://{hub.host}"), repo, "latest")
    calls = rx.wait_for(3, timeout=15)
    times = [c[0] for c in calls]
    # Exponential backoff: 1 s, then 2 s.
    assert times[1] - times[0] >= 0.9
    assert times[2] - times[1] >= 1.8
    assert calls[0][2] == calls[2][2]  # the same payload each time
    d = wait_delivery(hub, repo, hook)
    assert (d[0]["state"], d[0]["attempts"], d[0]["status_code"]) == ("success", 3, 200)


def test_failed_delivery_is_logged(hub, receivers):
    rx = receivers(statuses=(500,))
    repo = repo_name()
    hook = add_hook(hub, repo, rx.url)
    oci_image().push(RegistryClient(f"http://{hub.host}"), repo, "latest")
    d = wait_delivery(hub, repo, hook)
    assert (d[0]["state"], d[0]["attempts"], d[0]["status_code"]) == ("failed", 3, 500)
    assert d[0]["error"].startswith("HTTP 500")
    assert len(rx.calls) == 3


def test_manage_webhooks(hub, receivers):
    repo = repo_name()
    for bad in ("ftp://example.com/x", "file:///etc/passwd", "not a url", "http://"):
        r = requests.post(api(hub, repo), json={"name": "x", "url": bad}, timeout=10)
        assert r.status_code == 400, (bad, r.text)
        assert "message" in r.json()
    a = add_hook(hub, repo, "https://ci.example/a", "a")
    b = add_hook(hub, repo, "http://127.0.0.1:9/b", "b")
    listed = requests.get(api(hub, repo), timeout=10).json()
    assert sorted((h["id"], h["name"], h["url"]) for h in listed) == sorted(
        [(a, "a", "https://ci.example/a"), (b, "b", "http://127.0.0.1:9/b")])
    assert requests.delete(api(hub, repo, f"/{a}"), timeout=10).status_code == 204
    assert requests.delete(api(hub, repo, f"/{a}"), timeout=10).status_code == 404
    assert [h["id"] for h in requests.get(api(hub, repo), timeout=10).json()] == [b]
    # Another repository does not see (or delete) it.
    assert requests.delete(api(hub, repo_name(), f"/{b}"), timeout=10).status_code == 404
    # After deleting, pushes deliver nothing to it.
    rx = receivers()
    c = add_hook(hub, repo, rx.url, "c")
    assert requests.delete(api(hub, repo, f"/{c}"), timeout=10).status_code == 204
    oci_image().push(RegistryClient(f"http://{hub.host}"), repo, "latest")
    time.sleep(0.5)
    assert rx.calls == []


def test_slow_receiver_blocks_neither_push_nor_shutdown(tmp_path, receivers):
    h = Hub(tmp_path, "--open")
    try:
        rx = receivers(delay=30)
        repo = repo_name()
        add_hook(h, repo, rx.url)
        t0 = time.monotonic()
        oci_image().push(RegistryClient(f"http://{h.host}"), repo, "latest")
        assert time.monotonic() - t0 < 2
        rx.wait_for(1)
    finally:
        t0 = time.monotonic()
        h.stop()
    assert h.proc.returncode == 0
    assert time.monotonic() - t0 < 3
