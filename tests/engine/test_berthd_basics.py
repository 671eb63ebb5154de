"""berthd end to end: start the daemon on a private socket and drive it with
the real docker CLIs (28.2 in /usr/local/bin, Debian's 20.10 in /usr/bin) and
the Python docker SDK."""
import json
import os
import signal
import socket
import subprocess

import pytest

from berthd_daemon import BERTHD, CLIS, PY, Daemon


def raw_request(sock, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(sock))
        s.sendall(request)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def test_start_writes_pidfile_and_socket(berthd):
    assert int(berthd.pidfile.read_text()) == berthd.proc.pid
    assert oct(berthd.sock.stat().st_mode & 0o777) == oct(0o660)
    assert berthd.data.is_dir() and berthd.exec_root.is_dir()


@pytest.mark.parametrize("cli", CLIS)
def test_docker_version(berthd, cli):
    p = berthd.docker(cli, "version")
    assert p.returncode == 0, p.stderr
    assert "Server:" in p.stdout
    assert "Engine:" in p.stdout
    assert "0.1.0" in p.stdout
    assert "1.41" in p.stdout
    p = berthd.docker(cli, "version", "--format", "{{json .Server}}")
    assert p.returncode == 0, p.stderr
    server = json.loads(p.stdout)
    assert server["ApiVersion"] == "1.41"
    assert server["Os"] == "linux"
    assert server["KernelVersion"] == os.uname().release


@pytest.mark.parametrize("cli", CLIS)
def test_docker_info(berthd, cli):
    p = berthd.docker(cli, "info")
    assert p.returncode == 0, p.stderr
    assert "Server Version: 0.1.0" in p.stdout
    assert f"Kernel Version: {os.uname().release}" in p.stdout
    assert f"Docker Root Dir: {berthd.data}" in p.stdout
    assert "berth-runtime" in p.stdout
    p = berthd.docker(cli, "info", "--format", "{{json .}}")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["OSType"] == "linux"
    assert info["DefaultRuntime"] == "berth-runtime"
    assert info["Swarm"]["LocalNodeState"] == "inactive"


def test_engine_id_is_stable(berthd, tmp_path):
    first = json.loads(berthd.docker(CLIS[0], "info", "--format", "{{json .ID}}").stdout)
    berthd.stop()
    berthd.start()
    assert json.loads(berthd.docker(CLIS[0], "info", "--format", "{{json .ID}}").stdout) == first


def test_python_sdk(berthd):
    code = (
        "import docker, json\n"
        f"c = docker.DockerClient(base_url='{berthd.host}', version='auto')\n"
        "assert c.ping() is True\n"
        "v = c.version()\n"
        "print(json.dumps({'Version': v['Version'], 'ApiVersion': v['ApiVersion'], 'Name': c.info()['Name']}))\n"
    )
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["ApiVersion"] == "1.41"
    assert out["Version"] == "0.1.0"
    assert out["Name"] == socket.gethostname()


def test_ping_headers_and_unknown_route(berthd):
    resp = raw_request(berthd.sock, b"HEAD /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
    head = resp.decode()
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    for h in ("Api-Version: 1.41", "Builder-Version: 1", "Docker-Experimental: false", "Ostype: linux",
              "Cache-Control: no-cache, no-store, must-revalidate", "Pragma: no-cache"):
        assert h + "\r\n" in head, head
    resp = raw_request(berthd.sock, b"GET /v1.41/no/such/thing HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
    status, _, body = resp.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 404")
    assert json.loads(body) == {"message": "page not found"}


def test_sigterm_removes_socket_and_pidfile(berthd):
    berthd.proc.send_signal(signal.SIGTERM)
    assert berthd.proc.wait(timeout=10) == 0
    assert not berthd.sock.exists()
    assert not berthd.pidfile.exists()


def test_stale_socket_is_replaced(tmp_path):
    if not BERTHD.exists():
        pytest.skip("build/berthd not built")
    d = Daemon(tmp_path)
    d.sockdir.mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(d.sock))  # left behind, nobody listening
    d.start()
    try:
        assert d.docker(CLIS[0], "version").returncode == 0
    finally:
        d.stop()


def test_second_daemon_with_same_pidfile_refuses(berthd, tmp_path):
    other = Daemon(tmp_path)
    other.pidfile = berthd.pidfile
    p = subprocess.run([str(BERTHD), "-H", other.host, "--data-root", str(tmp_path / "d2"), "--exec-root",
                        str(tmp_path / "e2"), "--pidfile", str(other.pidfile)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert "pid file found" in p.stderr
    assert int(berthd.pidfile.read_text()) == berthd.proc.pid


def test_config_file_and_add_runtime(tmp_path):
    if not BERTHD.exists():
        pytest.skip("build/berthd not built")
    d = Daemon(tmp_path)
    cfg = tmp_path / "daemon.json"
    cfg.write_text(json.dumps({"runtimes": {"crun": {"path": "/usr/bin/crun"}}, "default-runtime": "crun"}))
    d.start("--config-file", str(cfg), "--add-runtime", "other=/opt/other")
    try:
        info = json.loads(d.docker(CLIS[0], "info", "--format", "{{json .}}").stdout)
        assert info["DefaultRuntime"] == "crun"
        assert info["Runtimes"]["crun"]["path"] == "/usr/bin/crun"
        assert info["Runtimes"]["other"]["path"] == "/opt/other"
    finally:
        d.stop()
    # A directive given both ways is refused, as dockerd does.
    p = subprocess.run([str(BERTHD), "-H", d.host, "--data-root", str(d.data), "--exec-root", str(d.exec_root),
                        "--pidfile", str(d.pidfile), "--config-file", str(cfg), "--default-runtime", "runc"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode != 0
    assert "both as a flag and in the configuration file" in p.stderr
