"""berth-runtime create/start/state/kill/delete/run against a busybox bundle."""
import json
import os
import time

import pytest


def test_run_prints_output_and_returns_exit_code(rt):
    b = rt.bundle(["sh", "-c", "echo hi; exit 7"])
    p = rt.cmd("run", "--bundle", str(b), rt.new_id(), check=False)
    assert p.stdout == "hi\n"
    assert p.returncode == 7


def test_run_removes_container_unless_keep(rt):
    b = rt.bundle(["true"])
    cid = rt.new_id()
    rt.cmd("run", "--bundle", str(b), cid)
    assert rt.cmd("state", cid, check=False).returncode != 0
    rt.cmd("run", "--keep", "--bundle", str(b), cid)
    assert rt.state(cid)["status"] == "stopped"


def test_create_start_state_kill_delete(rt):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    pidfile = rt.tmp / "pid"
    rt.cmd("create", "--bundle", str(b), "--pid-file", str(pidfile), cid)
    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid
    assert st["bundle"] == str(b)
    assert st["pid"] == int(pidfile.read_text())
    assert set(st) >= {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}
    rt.cmd("start", cid)
    assert rt.state(cid)["status"] == "running"
    err = rt.cmd("start", cid, check=False)
    assert err.returncode != 0 and "already running" in err.stderr
    busy = rt.cmd("delete", cid, check=False)
    assert busy.returncode != 0 and "not stopped" in busy.stderr
    rt.cmd("kill", cid, "KILL")
    deadline = time.time() + 5
    while rt.state(cid)["status"] != "stopped" and time.time() < deadline:
        time.sleep(0.02)
    assert rt.state(cid)["status"] == "stopped"
    rt.cmd("delete", cid)
    assert rt.cmd("state", cid, check=False).returncode != 0


def test_existing_id_is_refused_and_original_kept(rt):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0
    assert "exists" in p.stderr
    assert rt.state(cid)["status"] == "created"


def test_missing_rootfs_is_refused_without_leftovers(rt):
    b = rt.bundle(["true"], edit=lambda c: c["root"].update(path="nope"))
    cid = rt.new_id()
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "nope" in p.stderr
    assert not (rt.root / cid).exists()


def test_malformed_config_is_refused(rt):
    b = rt.bundle(["true"])
    (b / "config.json").write_text("{ not json")
    p = rt.cmd("create", "--bundle", str(b), rt.new_id(), check=False)
    assert p.returncode != 0 and "malformed JSON" in p.stderr
    assert "\n" not in p.stderr.strip()


def test_unknown_capability_is_refused(rt):
    def edit(c):
        c["process"]["capabilities"]["bounding"].append("CAP_BOGUS")
    p = rt.cmd("create", "--bundle", str(rt.bundle(["true"], edit=edit)), rt.new_id(), check=False)
    assert p.returncode != 0 and "CAP_BOGUS" in p.stderr


def test_missing_executable_fails_at_create(rt):
    cid = rt.new_id()
    p = rt.cmd("create", "--bundle", str(rt.bundle(["/no/such/binary"])), cid, check=False)
    assert p.returncode != 0 and "/no/such/binary" in p.stderr
    assert not (rt.root / cid).exists()


def test_list_table_and_json(rt):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    table = rt.cmd("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert any(line.split()[0] == cid and line.split()[2] == "created" for line in table[1:])
    js = json.loads(rt.cmd("list", "--format", "json").stdout)
    assert [c["id"] for c in js] == [cid]
    assert rt.cmd("list", "-q").stdout.split() == [cid]
