"""docker-compose 1.29 (Debian's) against berthd: two services on a user
network sharing a named volume, one reaching the other by service name,
with a published port; up -d, ps, logs, exec, down -v."""
import json
import os
import shutil
import subprocess

import pytest

from berthd_daemon import BERTHD, CLIS, Daemon, NetNs, wait_until

COMPOSE = shutil.which("docker-compose")

COMPOSE_FILE = """\
version: "3.8"
services:
  web:
    image: busybox:latest
    command: sh -c "echo web starting; exec httpd -f -v -p 80 -h /data"
    volumes:
      - shared:/data
    networks: [backend]
    ports: ["8088:80"]
    stop_grace_period: 1s
  client:
    image: busybox:latest
    command: sh -c "echo hello-compose > /data/index.html; echo client ready; exec sleep 300"
    volumes:
      - shared:/data
    networks: [backend]
    depends_on: [web]
    stop_grace_period: 1s
volumes:
  shared:
networks:
  backend:
"""


@pytest.fixture
def project(tmp_path, rootfs_tar):
    if not BERTHD.exists() or not COMPOSE or not CLIS:
        pytest.skip("berthd, docker-compose or docker CLI missing")
    ns = NetNs()
    (tmp_path / "d").mkdir()
    d = Daemon(tmp_path / "d", netns=ns)
    try:
        d.start()
        p = d.docker(CLIS[0], "import", str(rootfs_tar), "busybox:latest")
        assert p.returncode == 0, p.stderr
        (tmp_path / "proj").mkdir()
        (tmp_path / "proj" / "docker-compose.yml").write_text(COMPOSE_FILE)
        yield d, tmp_path / "proj"
        ids = d.docker(CLIS[0], "ps", "-aq").stdout.split()
        if ids:
            d.docker(CLIS[0], "rm", "-f", *ids)
    finally:
        d.stop()
        ns.delete()


def compose(d, proj, *args, check=True):
    env = dict(os.environ, DOCKER_HOST=d.host)
    env.pop("DOCKER_CONTEXT", None)
    p = subprocess.run([COMPOSE, "--no-ansi", "-p", "demo", *args], cwd=proj, env=env, capture_output=True, text=True,
                       timeout=120)
    if check:
        assert p.returncode == 0, f"docker-compose {' '.join(args)}: {p.stdout}\n{p.stderr}"
    return p


def test_compose_up_ps_logs_exec_down(project):
    d, proj = project
    compose(d, proj, "up", "-d")
    ps = compose(d, proj, "ps").stdout
    assert "demo_web_1" in ps and "demo_client_1" in ps and ps.count("Up") == 2, ps
    assert "0.0.0.0:8088->80/tcp" in ps

    # The client reaches the web service by its name over the project network,
    # and both see the same named volume.
    def served():
        p = compose(d, proj, "exec", "-T", "client", "wget", "-qO-", "http://web/index.html", check=False)
        return p.stdout.strip() == "hello-compose"
    wait_until(served, 20, "web serving the client's file")
    # The published port answers from the daemon's host namespace.
    out = d.netns.run("curl", "-s", "--max-time", "5", "http://127.0.0.1:8088/index.html").stdout
    assert out.strip() == "hello-compose"

    logs = compose(d, proj, "logs", "--no-color").stdout
    assert "web starting" in logs and "client ready" in logs

    docker = CLIS[0]
    nets = json.loads(d.docker(docker, "network", "inspect", "demo_backend").stdout)[0]
    assert nets["Labels"]["com.docker.compose.network"] == "backend"
    assert len(nets["Containers"]) == 2
    assert d.docker(docker, "volume", "inspect", "demo_shared").returncode == 0

    compose(d, proj, "down", "-v")
    assert d.docker(docker, "ps", "-aq").stdout.split() == []
    assert "demo_backend" not in d.docker(docker, "network", "ls", "--format", "{{.Name}}").stdout
    assert "demo_shared" not in d.docker(docker, "volume", "ls", "-q").stdout
