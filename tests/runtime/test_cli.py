"""Command-line behaviour: features, spec, kill signal names, list, logging, version, errors."""
import json
import os
import subprocess

import pytest

from berth_build import RUNTIME
from helpers import start, wait_stopped, wait_until


def raw(*args, **kw):
    return subprocess.run([str(RUNTIME), *args], capture_output=True, text=True, timeout=30, **kw)


def test_version():
    p = raw("--version")
    assert p.returncode == 0
    assert p.stdout.startswith("berth-runtime version ")
    assert "spec: 1." in p.stdout


def test_unknown_command():
    p = raw("frobnicate")
    assert p.returncode != 0
    assert "frobnicate" in p.stderr
    p = raw()
    assert p.returncode != 0 and "subcommand" in p.stderr


def test_unknown_flag(rt):
    p = rt.cmd("state", "--no-such-flag", "x", check=False)
    assert p.returncode != 0 and "--no-such-flag" in p.stderr


def test_features():
    p = raw("features")
    assert p.returncode == 0
    f = json.loads(p.stdout)
    assert f["ociVersionMin"] == "1.0.0"
    assert f["ociVersionMax"].startswith("1.")
    assert set(f["hooks"]) == {"prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                               "poststop"}
    assert {"bind", "rbind", "ro", "rro", "rshared", "nosuid"} <= set(f["mountOptions"])
    lx = f["linux"]
    assert {"pid", "network", "ipc", "uts", "mount", "user", "cgroup"} <= set(lx["namespaces"])
    assert "CAP_SYS_ADMIN" in lx["capabilities"] and "CAP_CHOWN" in lx["capabilities"]
    assert lx["seccomp"]["enabled"] is True
    assert "SCMP_ACT_ERRNO" in lx["seccomp"]["actions"]
    assert "SCMP_CMP_MASKED_EQ" in lx["seccomp"]["operators"]
    assert lx["cgroup"]["v1"] is True and lx["cgroup"]["v2"] is True


def test_spec_writes_runc_default(tmp_path):
    p = raw("spec", "--bundle", str(tmp_path))
    assert p.returncode == 0, p.stderr
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["terminal"] is True
    assert cfg["process"]["args"] == ["sh"]
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    assert {n["type"] for n in cfg["linux"]["namespaces"]} == {"pid", "network", "ipc", "uts", "mount"}
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"]
    assert "/proc/sys" in cfg["linux"]["readonlyPaths"]
    assert cfg["process"]["noNewPrivileges"] is True


def test_spec_in_current_directory(tmp_path):
    p = raw("spec", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "config.json").read_text())["ociVersion"]


def test_spec_refuses_to_overwrite(tmp_path):
    (tmp_path / "config.json").write_text("keep me")
    p = raw("spec", "--bundle", str(tmp_path))
    assert p.returncode != 0
    assert "exists" in p.stderr
    assert (tmp_path / "config.json").read_text() == "keep me"


def test_spec_rootless(tmp_path):
    p = raw("spec", "--rootless", "--bundle", str(tmp_path))
    assert p.returncode == 0, p.stderr
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert "user" in {n["type"] for n in cfg["linux"]["namespaces"]}
    assert "network" not in {n["type"] for n in cfg["linux"]["namespaces"]}
    assert cfg["linux"]["uidMappings"] and cfg["linux"]["gidMappings"]
    assert "resources" not in cfg["linux"]


@pytest.mark.parametrize("sig,num", [("KILL", 9), ("SIGKILL", 9), ("9", 9), ("kill", 9), ("TERM", 15),
                                     ("SIGUSR1", 10), ("USR2", 12), ("HUP", 1), ("SIGRTMIN+2", 36)])
def test_kill_signal_names_and_numbers(rt, sig, num):
    # The init records every signal it can trap; SIGKILL ends it.
    traps = " ".join(f"trap 'echo {n} >> /dev/shm/sigs' {n};" for n in (1, 10, 12, 15, 36))
    cid, pid = start(rt, ["sh", "-c", f"{traps} echo ready > /dev/shm/ready; while true; do sleep 0.02; done"])
    ready = f"/proc/{pid}/root/dev/shm/ready"
    assert wait_until(lambda: os.path.exists(ready))
    rt.cmd("kill", cid, sig)
    if num == 9:
        wait_stopped(rt, cid)
        return
    sigs = f"/proc/{pid}/root/dev/shm/sigs"
    assert wait_until(lambda: os.path.exists(sigs) and open(sigs).read().split() == [str(num)])


@pytest.mark.parametrize("bad", ["NOTASIG", "0", "-3", "99999", "SIGRTMAX+5"])
def test_kill_bad_signal_is_refused(rt, bad):
    cid, pid = start(rt)
    p = rt.cmd("kill", cid, bad, check=False)
    assert p.returncode != 0 and "signal" in p.stderr
    assert rt.state(cid)["status"] == "running"


def test_kill_stopped_container_is_refused(rt):
    cid = rt.new_id()
    rt.cmd("run", "--keep", "--bundle", str(rt.bundle(["true"])), cid)
    p = rt.cmd("kill", cid, "KILL", check=False)
    assert p.returncode != 0 and "not running" in p.stderr


def test_list_shows_every_status(rt):
    a = rt.new_id()
    rt.cmd("create", "--bundle", str(rt.bundle(["sleep", "1000"])), a)
    b, _ = start(rt)
    c, _ = start(rt)
    rt.cmd("pause", c)
    d = rt.new_id()
    rt.cmd("run", "--keep", "--bundle", str(rt.bundle(["true"])), d)
    try:
        js = {x["id"]: x for x in json.loads(rt.cmd("list", "--format", "json").stdout)}
        assert {k: v["status"] for k, v in js.items()} == {a: "created", b: "running", c: "paused", d: "stopped"}
        assert js[d]["pid"] == 0
        assert js[b]["pid"] == rt.state(b)["pid"]
        table = {l.split()[0]: l.split()[2] for l in rt.cmd("list").stdout.splitlines()[1:]}
        assert table == {a: "created", b: "running", c: "paused", d: "stopped"}
        assert rt.cmd("list", "-q").stdout.split() == sorted([a, b, c, d])
    finally:
        rt.cmd("resume", c)


def test_list_empty(rt):
    assert rt.cmd("list", "--format", "json").stdout.strip() == "null"
    assert rt.cmd("list").stdout.split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


def test_state_of_unknown_container(rt):
    p = rt.cmd("state", "nosuch", check=False)
    assert p.returncode != 0 and "nosuch" in p.stderr and "does not exist" in p.stderr


@pytest.mark.parametrize("bad_id", ["a/b", "..", "has space", "x" * 1025])
def test_invalid_container_id_is_refused(rt, bad_id):
    p = rt.cmd("create", "--bundle", str(rt.bundle(["true"])), bad_id, check=False)
    assert p.returncode != 0 and "container id" in p.stderr
    assert not any(rt.root.glob("*")) if rt.root.exists() else True


def test_log_json_on_error(rt):
    log = rt.tmp / "log.json"
    p = rt.cmd("state", "nosuch", check=False, global_args=("--log", str(log), "--log-format", "json"))
    assert p.returncode != 0
    lines = [json.loads(l) for l in log.read_text().splitlines()]
    assert lines, "nothing logged"
    err = lines[-1]
    assert set(err) >= {"level", "msg", "time"}
    assert err["level"] == "error"
    assert "nosuch" in err["msg"]
    assert err["time"].endswith("Z") and "T" in err["time"]
    # The error still reaches a human on stderr.
    assert "nosuch" in p.stderr


def test_log_text_file(rt):
    log = rt.tmp / "log.txt"
    p = rt.cmd("create", "--bundle", str(rt.bundle(["/no/such/bin"])), rt.new_id(), check=False,
               global_args=("--log", str(log)))
    assert p.returncode != 0
    assert "/no/such/bin" in log.read_text()
    assert "error" in log.read_text()


def test_log_json_create_failure_from_container_side(rt):
    """Errors raised inside the container process (here: a bad mount) still arrive as one JSON line."""
    log = rt.tmp / "log.json"
    b = rt.bundle(["true"], edit=lambda c: c["mounts"].append(
        {"destination": "/x", "type": "bind", "source": "/no/such/source", "options": ["bind"]}))
    p = rt.cmd("create", "--bundle", str(b), rt.new_id(), check=False,
               global_args=("--log", str(log), "--log-format", "json"))
    assert p.returncode != 0
    lines = [json.loads(l) for l in log.read_text().splitlines()]
    assert lines[-1]["level"] == "error" and "/no/such/source" in lines[-1]["msg"]


def test_delete_several_and_force(rt):
    ids = [rt.new_id() for _ in range(2)]
    for i in ids:
        rt.cmd("run", "--keep", "--bundle", str(rt.bundle(["true"])), i)
    rt.cmd("delete", *ids)
    assert rt.cmd("list", "-q").stdout.strip() == ""
    p = rt.cmd("delete", "nosuch", check=False)
    assert p.returncode != 0 and "nosuch" in p.stderr


def test_start_errors(rt):
    p = rt.cmd("start", "nosuch", check=False)
    assert p.returncode != 0 and "does not exist" in p.stderr
    cid = rt.new_id()
    rt.cmd("run", "--keep", "--bundle", str(rt.bundle(["true"])), cid)
    p = rt.cmd("start", cid, check=False)
    assert p.returncode != 0 and "stopped" in p.stderr


def test_run_detach(rt):
    cid = rt.new_id()
    pidfile = rt.tmp / "pid"
    rt.cmd("run", "--detach", "--pid-file", str(pidfile), "--bundle", str(rt.bundle(["sleep", "1000"])), cid)
    st = rt.state(cid)
    assert st["status"] == "running"
    assert st["pid"] == int(pidfile.read_text())


def test_bundle_defaults_to_current_directory(rt):
    b = rt.bundle(["sh", "-c", "echo from-cwd-bundle"])
    cid = rt.new_id()
    p = subprocess.run([str(RUNTIME), "--root", str(rt.root), "run", cid], cwd=b, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "from-cwd-bundle\n"


def test_state_dir_permissions(rt):
    cid, _ = start(rt)
    st = os.stat(rt.root / cid / "state.json")
    assert st.st_mode & 0o077 == 0  # not readable by others: it holds the whole config


def test_delete_created_container_without_force(rt):
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(rt.bundle(["sleep", "1000"])), cid)
    pid = rt.state(cid)["pid"]
    rt.cmd("delete", cid)
    assert rt.cmd("state", cid, check=False).returncode != 0
    assert wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
                      open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z")


def test_pid_file_in_missing_directory_fails_cleanly(rt):
    cid = rt.new_id()
    p = rt.cmd("create", "--pid-file", str(rt.tmp / "no" / "dir" / "pid"), "--bundle",
               str(rt.bundle(["sleep", "1000"])), cid, check=False)
    assert p.returncode != 0 and "pid" in p.stderr
    assert not (rt.root / cid).exists()
    out = subprocess.run(["pgrep", "-f", cid], capture_output=True, text=True).stdout
    assert out.strip() == ""
