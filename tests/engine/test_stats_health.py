"""docker stats and healthchecks against berthd: both docker CLIs and the
Python SDK read dockerd's stats shapes; health probes move State.Health
through starting/healthy/unhealthy and publish health_status events."""
import json
import shutil
import subprocess
import time
import uuid

import pytest

from berthd_daemon import CLIS, PY, Daemon, wait_until




def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def host_mem_total():
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


@pytest.mark.parametrize("cli", CLIS)
def test_stats_no_stream_shows_memory_limit_and_pids(engine, cli):
    d = lambda *a: engine.docker(cli, *a)
    n = unique("mem")
    assert d("run", "-d", "--name", n, "-m", "64m", "busybox", "sleep", "60").returncode == 0
    try:
        p = d("stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.PIDs}}", n)
        assert p.returncode == 0, p.stderr
        name, cpu, mem, mem_perc, pids = p.stdout.strip().split("|")
        assert name == n
        assert cpu.endswith("%") and float(cpu[:-1]) < 50
        usage, limit = mem.split(" / ")
        assert limit == "64MiB"
        assert usage.endswith(("B", "KiB", "MiB")) and not usage.startswith("0B")
        assert 0 < float(mem_perc[:-1]) < 100
        assert pids == "1"
        # The table form too.
        p = d("stats", "--no-stream", n)
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("CONTAINER ID")
        assert n in p.stdout
    finally:
        d("rm", "-f", n)


@pytest.mark.parametrize("cli", CLIS)
def test_stats_cpu_burner_shows_high_cpu(engine, cli):
    d = lambda *a: engine.docker(cli, *a)
    n = unique("burn")
    assert d("run", "-d", "--name", n, "busybox", "sh", "-c", "while :; do :; done").returncode == 0
    try:
        p = d("stats", "--no-stream", "--format", "{{.CPUPerc}}", n)
        assert p.returncode == 0, p.stderr
        assert float(p.stdout.strip().rstrip("%")) > 50, p.stdout
    finally:
        d("rm", "-f", n)


def test_stats_stopped_container_is_zeros(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    n = unique("stopped")
    assert d("create", "--name", n, "busybox", "true").returncode == 0
    try:
        p = d("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", n)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split()[0] == n
        assert "0.00%" in p.stdout
    finally:
        d("rm", "-f", n)


def test_stats_python_sdk(engine):
    code = f"""
import json, docker
c = docker.DockerClient(base_url={engine.host!r})
ct = c.containers.run("busybox", ["sleep", "60"], detach=True, network_mode="none")
try:
    s = ct.stats(stream=False)
    assert s["id"] == ct.id and s["name"] == "/" + ct.name, s
    assert s["read"] != "0001-01-01T00:00:00Z" and s["preread"] != "0001-01-01T00:00:00Z", s
    cpu, pre = s["cpu_stats"], s["precpu_stats"]
    assert cpu["online_cpus"] >= 1 and cpu["system_cpu_usage"] > pre["system_cpu_usage"] > 0, s
    assert cpu["cpu_usage"]["total_usage"] >= pre["cpu_usage"]["total_usage"] > 0, s
    assert set(cpu["throttling_data"]) == {{"periods", "throttled_periods", "throttled_time"}}
    m = s["memory_stats"]
    assert m["usage"] > 0 and m["limit"] == {host_mem_total()} and isinstance(m["stats"], dict), m
    assert s["pids_stats"]["current"] == 1, s
    assert "networks" not in s, s
    assert s["num_procs"] == 0 and s["storage_stats"] == {{}}
    assert "io_service_bytes_recursive" in s["blkio_stats"]
    # This SDK has no one_shot argument: the raw call.
    r = c.api._get(c.api._url("/containers/{{0}}/stats", ct.id), params={{"stream": "0", "one-shot": "1"}})
    one = c.api._result(r, json=True)
    assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0 and one["preread"] == "0001-01-01T00:00:00Z"
    it = ct.stats(decode=True)
    first, second = next(it), next(it)
    assert second["precpu_stats"] == first["cpu_stats"] and second["preread"] == first["read"]
finally:
    ct.remove(force=True)
ct = c.containers.create("busybox", ["true"])
s = ct.stats(stream=False)
assert s["read"] == "0001-01-01T00:00:00Z" and s["memory_stats"] == {{}} and s["pids_stats"] == {{}}, s
assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 0
ct.remove()
print("ok")
"""
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


def test_stats_with_runc(engine):
    if not shutil.which("runc"):
        pytest.skip("runc not installed")
    d = lambda *a: engine.docker(CLIS[0], *a)
    p = d("run", "-d", "--runtime", "runc", "-m", "32m", "busybox", "sleep", "60")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    try:
        p = d("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", cid)
        assert p.returncode == 0, p.stderr
        mem, pids = p.stdout.strip().split("|")
        assert mem.split(" / ")[1] == "32MiB", p.stdout
        assert not mem.startswith("0B"), p.stdout
        assert pids == "1"
    finally:
        d("rm", "-f", cid)


def health(d, n):
    p = d("inspect", "-f", "{{json .State.Health}}", n)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("cli", CLIS)
def test_health_starting_healthy_unhealthy(engine, cli):
    d = lambda *a: engine.docker(cli, *a)
    n = unique("health")
    since = str(time.time() - 1)
    p = d("run", "-d", "--name", n, "--health-cmd", "test -f /tmp/ok && echo fine", "--health-interval", "200ms",
          "--health-retries", "2", "--health-start-period", "10s", "busybox", "sh", "-c",
          "sleep 1; touch /tmp/ok; sleep 60")
    assert p.returncode == 0, p.stderr
    try:
        assert health(d, n)["Status"] == "starting"
        assert "(health: starting)" in d("ps", "--filter", f"name={n}", "--format", "{{.Status}}").stdout
        wait_until(lambda: health(d, n)["Status"] == "healthy", what="healthy")
        assert "(healthy)" in d("ps", "--filter", f"name={n}", "--format", "{{.Status}}").stdout
        assert d("ps", "-q", "--filter", "health=healthy", "--filter", f"name={n}").stdout.strip()
        h = health(d, n)
        assert set(h) == {"Status", "FailingStreak", "Log"}
        assert h["FailingStreak"] == 0
        assert 1 <= len(h["Log"]) <= 5
        last = h["Log"][-1]
        assert set(last) == {"Start", "End", "ExitCode", "Output"}
        assert last["ExitCode"] == 0 and last["Output"] == "fine\n"
        assert d("exec", n, "rm", "/tmp/ok").returncode == 0
        wait_until(lambda: health(d, n)["Status"] == "unhealthy", what="unhealthy")
        h = health(d, n)
        assert h["FailingStreak"] >= 2 and h["Log"][-1]["ExitCode"] == 1
        wait_until(lambda: len(health(d, n)["Log"]) == 5, what="a full log")
        time.sleep(0.5)
        assert len(health(d, n)["Log"]) == 5
        until = str(time.time() + 1)
        p = d("events", "--since", since, "--until", until, "--filter", f"container={n}", "--format", "{{.Action}}")
        actions = p.stdout.splitlines()
        health_events = [a for a in actions if a.startswith("health_status")]
        assert health_events[:2] == ["health_status: healthy", "health_status: unhealthy"], actions
    finally:
        d("rm", "-f", n)


def test_health_timeout_and_exit(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    n = unique("slow")
    p = d("run", "-d", "--name", n, "--health-cmd", "sleep 5", "--health-interval", "100ms",
          "--health-timeout", "300ms", "--health-retries", "1", "busybox", "sleep", "60")
    assert p.returncode == 0, p.stderr
    try:
        wait_until(lambda: health(d, n)["Status"] == "unhealthy", what="unhealthy by timeout")
        last = health(d, n)["Log"][-1]
        assert last["ExitCode"] == -1 and last["Output"] == "Health check exceeded timeout (300ms)", last
        # Timed-out probes are killed, not left behind in the container.
        time.sleep(0.5)
        top = d("top", n).stdout
        assert top.count("sleep 5") <= 1, top
        t0 = time.monotonic()
        assert d("stop", "-t", "1", n).returncode == 0
        assert time.monotonic() - t0 < 5
        assert health(d, n)["Status"] == "unhealthy"
        # A restart starts probing over.
        assert d("start", n).returncode == 0
        assert health(d, n)["Status"] == "starting"
    finally:
        d("rm", "-f", n)


def test_image_healthcheck_and_no_healthcheck(engine, rootfs_tar):
    d = lambda *a: engine.docker(CLIS[0], *a)
    n = unique("imghc")
    img = unique("hcimg")
    p = d("import", "--change", 'HEALTHCHECK --interval=100ms --retries=1 CMD ["true"]', str(rootfs_tar), img)
    assert p.returncode == 0, p.stderr
    try:
        assert d("run", "-d", "--name", n, img, "sleep", "60").returncode == 0
        wait_until(lambda: health(d, n)["Status"] == "healthy", what="image healthcheck")
        d("rm", "-f", n)
        assert d("run", "-d", "--name", n, "--no-healthcheck", img, "sleep", "60").returncode == 0
        assert d("inspect", "-f", "{{json .State.Health}}", n).stdout.strip() == "null"
        assert "(" not in d("ps", "--filter", f"name={n}", "--format", "{{.Status}}").stdout
    finally:
        d("rm", "-f", n)
        d("rmi", img)


def test_health_survives_daemon_restart(tmp_path, rootfs_tar):
    dm = Daemon(tmp_path).start()
    try:
        d = lambda *a: dm.docker(CLIS[0], *a)
        assert d("import", str(rootfs_tar), "busybox").returncode == 0
        p = d("run", "-d", "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms", "--health-retries", "1",
              "busybox", "sh", "-c", "touch /tmp/ok; sleep 60")
        assert p.returncode == 0, p.stderr
        cid = p.stdout.strip()
        wait_until(lambda: health(d, cid)["Status"] == "healthy", what="healthy")
        dm.stop()
        dm.start()
        wait_until(lambda: health(d, cid)["Status"] == "healthy", what="healthy after restart")
        assert d("exec", cid, "rm", "/tmp/ok").returncode == 0
        wait_until(lambda: health(d, cid)["Status"] == "unhealthy", what="probing after restart")
        d("rm", "-f", cid)
    finally:
        dm.stop()
