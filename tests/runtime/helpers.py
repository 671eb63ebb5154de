"""Helpers shared by the runtime end-to-end tests (the `rt` fixture is in tests/conftest.py)."""
import json
import os
import time

import pytest


def run(rt, args, edit=None, check=False, **kw):
    """`berth-runtime run` of a fresh bundle; returns the CompletedProcess."""
    b = rt.bundle(args, edit=edit)
    return rt.cmd("run", "--bundle", str(b), rt.new_id(), check=check, **kw)


def run_ok(rt, args, edit=None, **kw):
    p = run(rt, args, edit=edit, **kw)
    assert p.returncode == 0, f"exit {p.returncode}: stdout={p.stdout!r} stderr={p.stderr!r}"
    return p.stdout


def start(rt, args=("sleep", "1000"), edit=None, bundle=None):
    """create + start; returns (id, init pid)."""
    b = bundle or rt.bundle(list(args), edit=edit)
    cid = rt.new_id()
    rt.cmd("create", "--bundle", str(b), cid)
    rt.cmd("start", cid)
    return cid, rt.state(cid)["pid"]


def wait_until(fn, timeout=5.0, interval=0.02):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            return v
        time.sleep(interval)


def wait_stopped(rt, cid, timeout=5.0):
    assert wait_until(lambda: rt.state(cid)["status"] == "stopped", timeout), rt.state(cid)


def ns_inode(pid, kind):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def status_field(text, name):
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(name)


def remove_namespace(cfg, kind):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != kind]


def set_namespace(cfg, kind, path=None):
    remove_namespace(cfg, kind)
    ns = {"type": kind}
    if path:
        ns["path"] = path
    cfg["linux"]["namespaces"].append(ns)
