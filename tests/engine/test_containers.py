"""Containers through berthd with the real docker CLIs: run, logs, exec,
stop, rm, inspect, ps, restart policies, live restore."""
import os
import signal
import subprocess
import time

import pytest

from berthd_daemon import BERTH, CLIS, PY, Daemon, wait_until




@pytest.mark.parametrize("cli", CLIS)
def test_run_prints_output_and_returns_exit_code(engine, cli):
    p = engine.docker(cli, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert p.returncode == 3, p.stderr
    assert p.stdout == "out\n"
    assert p.stderr == "err\n"


@pytest.mark.parametrize("cli", CLIS)
def test_run_rm_leaves_nothing(engine, cli):
    p = engine.docker(cli, "run", "--rm", "--name", "gone", "busybox", "true")
    assert p.returncode == 0, p.stderr
    wait_until(lambda: "gone" not in engine.docker(cli, "ps", "-a", "--format", "{{.Names}}").stdout.split(),
               what="--rm removal")


def test_stdin_reaches_the_container(engine):
    p = subprocess.run([CLIS[0], "run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done"],
                       input="piped\n", capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, DOCKER_HOST=engine.host))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "piped\ndone\n"


def test_detached_logs_exec_stop_rm(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    p = d("run", "-d", "--name", "ticker", "-e", "GREETING=hi", "busybox", "sh", "-c",
          "echo $GREETING; echo to-err >&2; trap 'echo term; exit 7' TERM; while true; do sleep 0.1; done")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    assert len(cid) == 64
    wait_until(lambda: "to-err" in d("logs", "ticker").stderr, what="logs")
    logs = d("logs", "ticker")
    assert logs.stdout == "hi\n" and logs.stderr == "to-err\n"
    assert d("logs", "-t", "ticker").stdout.split(" ", 1)[1] == "hi\n"
    assert d("logs", "--tail", "1", "ticker").stdout in ("hi\n", "")
    # exec: output, env, exit status, working dir and user.
    p = d("exec", "-e", "X=1", "-w", "/tmp", "-u", "1000", "ticker", "sh", "-c", "echo $X $(pwd) $(id -u); exit 4")
    assert p.returncode == 4
    assert p.stdout == "1 /tmp 1000\n"
    # ps and inspect formats
    assert d("ps", "--format", "{{.Names}} {{.Status}}").stdout.startswith("ticker Up")
    assert d("inspect", "-f", "{{.State.Running}} {{.Config.Env}}", "ticker").stdout.startswith("true [")
    assert "GREETING=hi" in d("inspect", "-f", "{{json .Config.Env}}", "ticker").stdout
    # stop delivers SIGTERM; the trap's exit code is recorded
    p = d("stop", "ticker")
    assert p.returncode == 0, p.stderr
    assert d("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ticker").stdout.strip() == "exited 7"
    assert d("logs", "ticker").stdout == "hi\nterm\n"
    assert d("rm", "ticker").returncode == 0
    p = d("inspect", "ticker")
    assert p.returncode == 1 and "No such" in p.stderr


def test_logs_follow_ends_when_container_exits(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    cid = d("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done").stdout.strip()
    p = d("logs", "-f", cid)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "line1\nline2\nline3\n"
    assert d("wait", cid).stdout.strip() == "0"
    d("rm", cid)


def test_exec_with_tty(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    cid = d("run", "-d", "busybox", "sleep", "30").stdout.strip()
    p = d("exec", "-t", cid, "sh", "-c", "tty; stty size")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("/dev/pts/")
    d("rm", "-f", cid)


def test_errors_match_docker(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    p = d("run", "--rm", "nosuchimage:1", "true")
    assert p.returncode == 125
    assert "No such image" in p.stderr or "Unable to find image" in p.stderr
    d("create", "--name", "dup", "busybox", "true")
    p = d("create", "--name", "dup", "busybox", "true")
    assert p.returncode != 0 and 'The container name "/dup" is already in use' in p.stderr
    d("rm", "dup")
    cid = d("run", "-d", "busybox", "sleep", "30").stdout.strip()
    p = d("rm", cid)
    assert p.returncode != 0 and "container is running" in p.stderr
    assert d("rm", "-f", cid).returncode == 0
    p = d("run", "--rm", "busybox", "/no/such/binary")
    assert p.returncode == 127, (p.returncode, p.stderr)
    p = d("exec", "nonexistent", "true")
    assert p.returncode != 0 and "No such container" in p.stderr


@pytest.mark.parametrize("cli", CLIS + [str(BERTH)])
def test_attach_to_created_container_fails_like_docker(engine, cli):
    # The CLI refuses before it calls attach: the daemon would otherwise hold
    # the session open until someone starts the container (docker run's flow).
    if not os.path.exists(cli):
        pytest.skip(f"{cli} not built")
    cid = engine.docker(CLIS[0], "create", "busybox", "echo", "never").stdout.strip()
    try:
        p = engine.docker(cli, "attach", cid)
        assert (p.returncode, p.stdout) == (1, ""), p.stderr
        assert p.stderr.strip().endswith("You cannot attach to a stopped container, start it first"), p.stderr
        state = engine.docker(CLIS[0], "inspect", "-f", "{{.State.Status}}", cid).stdout.strip()
        assert state == "created"
    finally:
        engine.docker(CLIS[0], "rm", "-f", cid)


def test_restart_policy_on_failure(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    cid = d("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1").stdout.strip()
    wait_until(lambda: d("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", cid).stdout.strip() == "exited 2",
               timeout=20, what="two restarts")
    assert d("logs", cid).stdout == "run\nrun\nrun\n"
    d("rm", cid)


def test_pause_unpause_and_top(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    cid = d("run", "-d", "busybox", "sleep", "30").stdout.strip()
    assert d("pause", cid).returncode == 0
    assert d("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "paused"
    assert d("unpause", cid).returncode == 0
    top = d("top", cid)
    assert top.returncode == 0, top.stderr
    assert "sleep 30" in top.stdout
    d("rm", "-f", cid)


def test_events_since_until(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    since = str(int(time.time()) - 1)
    assert d("run", "--name", "evt", "busybox", "true").returncode == 0
    until = str(int(time.time()) + 1)
    d("rm", "evt")
    p = d("events", "--since", since, "--until", until, "--filter", "container=evt", "--format", "{{.Action}}")
    assert p.returncode == 0, p.stderr
    actions = p.stdout.split()
    for a in ("create", "start", "die", "destroy"):
        assert a in actions, actions


def test_python_sdk_containers(engine):
    code = f"""
import docker
c = docker.DockerClient(base_url={engine.host!r})
out = c.containers.run("busybox", ["sh", "-c", "echo sdk"], remove=True)
assert out == b"sdk\\n", out
ct = c.containers.run("busybox", ["sleep", "30"], detach=True, name="sdk1")
rc, out = ct.exec_run(["sh", "-c", "echo in-exec"])
assert rc == 0 and out == b"in-exec\\n", (rc, out)
ct.reload()
assert ct.status == "running"
assert [x.name for x in c.containers.list()] == ["sdk1"]
ct.kill()
assert ct.wait()["StatusCode"] == 137
ct.remove()
print("ok")
"""
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


def test_save_and_load_round_trip(engine, tmp_path):
    d = lambda *a: engine.docker(CLIS[0], *a)
    tar = tmp_path / "img.tar"
    assert d("tag", "busybox", "copy:1").returncode == 0
    p = d("save", "-o", str(tar), "copy:1")
    assert p.returncode == 0, p.stderr
    assert d("rmi", "copy:1").returncode == 0
    p = d("load", "-i", str(tar))
    assert p.returncode == 0, p.stderr
    assert "Loaded image: copy:1" in p.stdout
    assert d("run", "--rm", "copy:1", "echo", "from-loaded").stdout == "from-loaded\n"


def test_kill_9_daemon_keeps_containers(tmp_path, rootfs_tar):
    dm = Daemon(tmp_path).start()
    try:
        d = lambda *a: dm.docker(CLIS[0], *a)
        assert d("import", str(rootfs_tar), "busybox").returncode == 0
        cid = d("run", "-d", "busybox", "sh", "-c", "echo before; sleep 2; echo after; sleep 30").stdout.strip()
        wait_until(lambda: "before" in d("logs", cid).stdout, what="first output")
        dm.proc.send_signal(signal.SIGKILL)
        dm.proc.wait()
        dm.start()
        assert d("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
        wait_until(lambda: "after" in d("logs", cid).stdout, what="output after restart")
        assert d("exec", cid, "echo", "still").stdout == "still\n"
        assert d("stop", "-t", "1", cid).returncode == 0
        assert d("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "exited"
        d("rm", cid)
    finally:
        dm.stop()


def test_python_sdk_logs_and_images(engine, tmp_path):
    code = f"""
import docker, io
c = docker.DockerClient(base_url={engine.host!r})
img = c.images.get("busybox")
assert "busybox:latest" in img.tags, img.tags
img.tag("sdk/copy", "v1")
assert "sdk/copy:v1" in c.images.get("sdk/copy:v1").tags
names = sorted(t for i in c.images.list() for t in i.tags)
assert "sdk/copy:v1" in names and "busybox:latest" in names, names
data = b"".join(c.images.get("sdk/copy:v1").save(named="sdk/copy:v1"))
c.images.remove("sdk/copy:v1")
loaded = c.images.load(data)
assert "sdk/copy:v1" in [t for i in loaded for t in i.tags], loaded
ct = c.containers.run("busybox", ["sh", "-c", "echo a; echo b >&2; echo c"], detach=True)
assert ct.wait()["StatusCode"] == 0
assert ct.logs() == b"a\\nb\\nc\\n" or sorted(ct.logs().split()) == [b"a", b"b", b"c"]
assert ct.logs(stderr=False) == b"a\\nc\\n"
assert list(ct.logs(stream=True, stdout=True, stderr=False)) != []
ct.remove()
c.images.remove("sdk/copy:v1")
print("ok")
"""
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


@pytest.mark.parametrize("cli", CLIS)
def test_image_listing_history_and_rmi_rules(engine, cli):
    d = lambda *a: engine.docker(cli, *a)
    assert d("tag", "busybox", "two:1").returncode == 0
    out = d("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout.split("\n")
    ids = {line.split()[0]: line.split()[1] for line in out if line}
    assert ids["two:1"] == ids["busybox:latest"]
    # Deleting by ID with two tags needs -f; deleting a tag just untags.
    p = d("rmi", ids["two:1"])
    assert p.returncode != 0 and "must be forced" in p.stderr
    p = d("rmi", "two:1")
    assert p.returncode == 0 and "Untagged: two:1" in p.stdout
    h = d("history", "busybox")
    assert h.returncode == 0 and "IMAGE" in h.stdout.split("\n")[0]
    p = d("image", "inspect", "-f", "{{.Os}} {{.RootFS.Type}} {{len .RootFS.Layers}}", "busybox")
    assert p.stdout.strip() == "linux layers 1"


def test_json_file_log_rotation(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    cid = d("run", "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
            "i=0; while [ $i -lt 200 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done").stdout.strip()
    assert d("wait", cid).stdout.strip() == "0"
    log_path = d("inspect", "-f", "{{.LogPath}}", cid).stdout.strip()
    assert os.path.getsize(log_path) <= 2048 + 200
    assert os.path.exists(log_path + ".1") and not os.path.exists(log_path + ".2")
    lines = d("logs", cid).stdout.split()
    # Older lines rotated away; the newest survive, in order, without gaps.
    assert lines[-1] == "line-199-padding-padding-padding"
    nums = [int(l.split("-")[1]) for l in lines]
    assert nums == list(range(nums[0], 200)) and nums[0] > 0
    d("rm", cid)
