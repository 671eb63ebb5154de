"""Shared fixtures for Berth's end-to-end tests."""
import json
import shutil
import subprocess
import tempfile
import uuid

import pytest

from berth_build import ROOT, RUNTIME


@pytest.fixture
def docker_config(tmp_path):
    """An empty DOCKER_CONFIG directory for one test's client credentials."""
    d = tmp_path / "docker-config"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def rootfs_tar(tmp_path_factory):
    """A busybox-static root file system as a tar, for `import`."""
    d = tmp_path_factory.mktemp("img")
    subprocess.run([str(ROOT / "tests" / "make-busybox-bundle"), str(d / "b")], check=True, capture_output=True)
    tar = d / "rootfs.tar"
    subprocess.run(["tar", "-C", str(d / "b" / "rootfs"), "-cf", str(tar), "."], check=True)
    return tar


@pytest.fixture(scope="session")
def busybox_template(tmp_path_factory):
    """A busybox-static bundle made once; tests copy it."""
    d = tmp_path_factory.mktemp("template") / "bundle"
    subprocess.run([str(ROOT / "tests" / "make-busybox-bundle"), str(d)], check=True, capture_output=True)
    return d


class Runtime:
    """berth-runtime with a private --root, and helpers to make bundles."""

    def __init__(self, tmp_path, template):
        self.root = tmp_path / "state"
        self.tmp = tmp_path
        self.template = template
        self.created = []

    def cmd(self, *args, check=True, input=None, timeout=60, global_args=()):
        # Files, not pipes: a created container inherits our stdio, so a pipe
        # would not reach EOF until the container exits.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            rc = subprocess.run([str(RUNTIME), "--root", str(self.root), *global_args, *args],
                                stdout=out, stderr=err, text=True, input=input, timeout=timeout).returncode
            out.seek(0)
            err.seek(0)
            p = subprocess.CompletedProcess(args, rc, out.read(), err.read())
        if check and p.returncode != 0:
            raise AssertionError(f"berth-runtime {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def bundle(self, args=None, edit=None, name=None):
        """Copies the template bundle; args sets process.args; edit(config) may change the rest."""
        d = self.tmp / (name or f"bundle-{uuid.uuid4().hex[:8]}")
        shutil.copytree(self.template, d, symlinks=True)
        cfg = json.loads((d / "config.json").read_text())
        cfg["process"]["terminal"] = False
        if args is not None:
            cfg["process"]["args"] = args
        if edit:
            edit(cfg)
        (d / "config.json").write_text(json.dumps(cfg))
        return d

    def new_id(self):
        cid = "t" + uuid.uuid4().hex[:12]
        self.created.append(cid)
        return cid

    def state(self, cid):
        return json.loads(self.cmd("state", cid).stdout)

    def cleanup(self):
        for cid in self.created:
            self.cmd("delete", "--force", cid, check=False)


@pytest.fixture
def rt(tmp_path, busybox_template):
    r = Runtime(tmp_path, busybox_template)
    yield r
    r.cleanup()
