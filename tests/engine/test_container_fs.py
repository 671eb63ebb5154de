"""Container file systems through berthd with the real docker CLIs: docker cp
both ways (running and stopped containers), uploads that try to escape,
export, diff and commit."""
import base64
import http.client
import io
import json
import os
import socket
import subprocess
import tarfile
import time
import uuid

import pytest

from berthd_daemon import CLIS


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def api(engine, method, url, body=None):
    c = UnixHTTP(str(engine.sock))
    c.request(method, url, body=body, headers={"Content-Type": "application/x-tar"} if body is not None else {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def make_tar(members):
    """members: (name, kind, payload) with kind "file" (payload: bytes) or "symlink" (payload: target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
                t.addfile(info)
            else:
                info.size = len(payload)
                t.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def name():
    return "fs-" + uuid.uuid4().hex[:8]


@pytest.mark.parametrize("cli", CLIS)
def test_cp_both_ways_running(engine, cli, tmp_path):
    d = lambda *a: engine.docker(cli, *a)
    n = name()
    assert d("run", "-d", "--name", n, "busybox", "sleep", "300").returncode == 0
    src = tmp_path / "hello.txt"
    src.write_text("hello cp\n")
    assert d("cp", str(src), f"{n}:/tmp/").returncode == 0
    assert d("cp", str(src), f"{n}:/tmp/renamed.txt").returncode == 0
    assert d("exec", n, "cat", "/tmp/hello.txt", "/tmp/renamed.txt").stdout == "hello cp\n" * 2
    tree = tmp_path / "dir"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("deep\n")
    assert d("cp", str(tree), f"{n}:/tmp/copied").returncode == 0
    assert d("cp", str(tree) + "/.", f"{n}:/tmp/").returncode == 0  # SRC/. copies the contents
    assert d("exec", n, "cat", "/tmp/copied/sub/f", "/tmp/sub/f").stdout == "deep\n" * 2
    out = tmp_path / "back"
    out.mkdir()
    assert d("cp", f"{n}:/tmp/hello.txt", str(out)).returncode == 0
    assert d("cp", f"{n}:/tmp/copied", str(out / "tree")).returncode == 0
    assert (out / "hello.txt").read_text() == "hello cp\n"
    assert (out / "tree" / "sub" / "f").read_text() == "deep\n"
    # /etc/hostname is the container's (a bind mount), not the empty mountpoint.
    p = d("cp", f"{n}:/etc/hostname", str(out))
    assert p.returncode == 0, p.stderr
    assert (out / "hostname").read_text().strip() == d("inspect", "-f", "{{.Config.Hostname}}", n).stdout.strip()
    p = d("cp", f"{n}:/nope", str(out))
    # docker 20.10 words a HEAD 404 itself ("No such container:path: ...").
    assert p.returncode != 0
    assert f"Could not find the file /nope in container {n}" in p.stderr or f"{n}:/nope" in p.stderr
    d("rm", "-f", n)


@pytest.mark.parametrize("cli", CLIS)
def test_cp_stopped_container(engine, cli, tmp_path):
    d = lambda *a: engine.docker(cli, *a)
    n = name()
    assert d("create", "--name", n, "busybox", "cat", "/tmp/in.txt").returncode == 0
    src = tmp_path / "in.txt"
    src.write_text("into a created container\n")
    p = d("cp", str(src), f"{n}:/tmp/in.txt")
    assert p.returncode == 0, p.stderr
    p = d("start", "-a", n)
    assert p.stdout == "into a created container\n", p.stderr
    out = tmp_path / "out.txt"
    p = d("cp", f"{n}:/tmp/in.txt", str(out))  # exited now
    assert p.returncode == 0, p.stderr
    assert out.read_text() == "into a created container\n"
    d("rm", n)


def test_path_stat_header_and_errors(engine):
    cid = engine.docker(CLIS[0], "run", "-d", "busybox", "sleep", "300").stdout.strip()
    status, headers, _ = api(engine, "HEAD", f"/containers/{cid}/archive?path=/bin/sh")
    assert status == 200
    st = json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))
    assert list(st) == ["name", "size", "mode", "mtime", "linkTarget"]
    assert st["name"] == "sh" and st["mode"] & (1 << 27) and st["linkTarget"] == "/bin/busybox"
    status, headers, _ = api(engine, "HEAD", f"/containers/{cid}/archive?path=/tmp/")
    st = json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))
    assert st["name"] == "tmp" and st["mode"] == (1 << 31) | (1 << 20) | 0o777
    status, _, body = api(engine, "GET", f"/containers/{cid}/archive?path=/nope")
    assert status == 404 and json.loads(body)["message"] == f"Could not find the file /nope in container {cid}"
    status, _, body = api(engine, "PUT", f"/containers/{cid}/archive?path=/etc/passwd", make_tar([("x", "file", b"")]))
    assert status == 400 and json.loads(body)["message"] == "extraction point is not a directory"
    status, _, _ = api(engine, "PUT", f"/containers/{cid}/archive?path=/missing", make_tar([("x", "file", b"")]))
    assert status == 404
    engine.docker(CLIS[0], "rm", "-f", cid)


def test_cp_upload_cannot_escape(engine):
    cid = engine.docker(CLIS[0], "run", "-d", "busybox", "sleep", "300").stdout.strip()
    marker = "berth-evil-" + uuid.uuid4().hex[:8]
    # ".." entries that climb out of the destination are refused.
    status, _, body = api(engine, "PUT", f"/containers/{cid}/archive?path=/tmp",
                          make_tar([(f"../../../../../../etc/{marker}", "file", b"evil")]))
    assert status >= 400, body
    assert not os.path.exists(f"/etc/{marker}")
    # A symlink to "/" and a file written through it lands in the container's
    # /tmp (the destination is the root of the upload), never on the host.
    status, _, body = api(engine, "PUT", f"/containers/{cid}/archive?path=/tmp",
                          make_tar([("rootlink", "symlink", "/"), (f"rootlink/{marker}", "file", b"evil")]))
    assert status == 200, body
    assert not os.path.exists(f"/{marker}")
    assert engine.docker(CLIS[0], "exec", cid, "cat", f"/tmp/{marker}").stdout == "evil"
    # An extraction point that climbs with ".." or goes through a symlink to
    # "/" stays in the container too.
    engine.docker(CLIS[0], "exec", cid, "ln", "-s", "/", "/tmp/up")
    status, _, body = api(engine, "PUT", f"/containers/{cid}/archive?path=/tmp/up/../../../../etc",
                          make_tar([(marker, "file", b"evil")]))
    assert status == 200, body
    assert not os.path.exists(f"/etc/{marker}")
    assert engine.docker(CLIS[0], "exec", cid, "cat", f"/etc/{marker}").stdout == "evil"
    # Relative symlinks that climb out are refused.
    status, _, _ = api(engine, "PUT", f"/containers/{cid}/archive?path=/tmp",
                       make_tar([("out", "symlink", "../../../../../.."), (f"out/{marker}", "file", b"x")]))
    assert status >= 400
    assert not os.path.exists(f"/{marker}")
    engine.docker(CLIS[0], "rm", "-f", cid)


def test_export(engine, tmp_path):
    d = lambda *a: engine.docker(CLIS[0], *a)
    n = name()
    d("run", "--name", n, "busybox", "sh", "-c", "echo exported > /marker")
    out = tmp_path / "fs.tar"
    p = d("export", "-o", str(out), n)
    assert p.returncode == 0, p.stderr
    listing = subprocess.run(["tar", "tf", str(out)], capture_output=True, text=True, check=True).stdout.split()
    assert "marker" in listing and "bin/busybox" in listing and "etc/passwd" in listing
    with tarfile.open(out) as t:
        assert t.extractfile("marker").read() == b"exported\n"
    d("rm", n)


@pytest.mark.parametrize("cli", CLIS)
def test_diff(engine, cli):
    d = lambda *a: engine.docker(cli, *a)
    n = name()
    d("run", "--name", n, "busybox", "sh", "-c",
      "echo x > /tmp/new; rm /etc/group; echo >> /etc/passwd; mkdir -p /root/a/b")
    p = d("diff", n)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["C /etc", "D /etc/group", "C /etc/passwd", "C /root", "A /root/a",
                                     "A /root/a/b", "C /tmp", "A /tmp/new"]
    fresh = d("create", "busybox", "true").stdout.strip()
    assert d("diff", fresh).stdout == ""
    d("rm", n, fresh)


@pytest.mark.parametrize("cli", CLIS)
def test_commit_and_run(engine, cli):
    d = lambda *a: engine.docker(cli, *a)
    n = name()
    tag = f"committed-{n}:v1"
    d("run", "-d", "--name", n, "busybox", "sleep", "300")
    d("exec", n, "sh", "-c", "echo committed > /marker; rm /etc/group")
    p = d("commit", "-m", "a message", "-a", "me", "--change", 'CMD ["cat", "/marker"]', n, tag)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().startswith("sha256:")
    assert d("inspect", "-f", "{{.State.Running}}", n).stdout.strip() == "true"  # unpaused again
    p = d("run", "--rm", tag)
    assert p.stdout == "committed\n", p.stderr
    assert d("run", "--rm", tag, "sh", "-c", "test -e /etc/group || echo gone").stdout == "gone\n"
    info = json.loads(d("image", "inspect", tag).stdout)[0]
    assert info["Comment"] == "a message" and info["Author"] == "me"
    assert info["Config"]["Cmd"] == ["cat", "/marker"]
    assert len(info["RootFS"]["Layers"]) == 2
    until = str(int(time.time()) + 1)
    time.sleep(1.1)
    events = d("events", "--since", "0", "--until", until, "--filter", f"container={n}", "--format", "{{.Action}}")
    assert {"pause", "commit", "unpause"} <= set(events.stdout.split())
    d("rm", "-f", n)
    assert d("rmi", tag).returncode == 0
