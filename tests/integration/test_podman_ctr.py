"""podman and containerd's ctr running containers with berth-runtime."""
import shutil
import subprocess
import tempfile

import pytest
from pathlib import Path

from berth_build import RUNTIME


def test_podman_run(rootfs_tar):
    if not shutil.which("podman"):
        pytest.skip("podman not installed")
    tmp_path = Path(tempfile.mkdtemp(prefix="bpm.", dir="/tmp"))  # podman limits runroot to 50 characters
    base = ["podman", "--root", str(tmp_path / "root"), "--runroot", str(tmp_path / "run"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    subprocess.run(base + ["import", str(rootfs_tar), "localhost/bb:latest"], check=True, capture_output=True)
    try:
        # No --ulimit: podman asks for RLIMIT_NOFILE 1048576, above this host's hard
        # limit; berth-runtime clamps instead of failing (runc and crun refuse).
        p = subprocess.run(base + ["--runtime", str(RUNTIME), "run", "--rm", "--network", "none", "localhost/bb",
                                   "sh", "-c", "echo hello-podman; exit 6"], capture_output=True, text=True, timeout=120)
        assert p.stdout == "hello-podman\n", p.stderr
        assert p.returncode == 6
    finally:
        subprocess.run(base + ["system", "reset", "--force"], capture_output=True)
        subprocess.run(["umount", "-R", str(tmp_path / "root")], capture_output=True)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_ctr_run(dockerd, tmp_path):
    # The sleep: once (of many runs, on a loaded machine) ctr printed nothing for
    # a process that exited at once, with exit code 0; ctr attaches its output
    # fifos asynchronously. Seen in this session, not yet explained.
    image = tmp_path / "bb-image.tar"
    with open(image, "wb") as f:
        subprocess.run(["docker", "save", "bb:latest"], env=dockerd.env, stdout=f, check=True)
    ctr = ["ctr", "-a", str(dockerd.ctrd_sock), "-n", "berthtest"]
    subprocess.run(ctr + ["image", "import", str(image)], check=True, capture_output=True)
    p = subprocess.run(ctr + ["run", "--rm", "--runc-binary", str(RUNTIME), "docker.io/library/bb:latest", "ctr1",
                              "sh", "-c", "sleep 0.5; echo hello-ctr; cat /proc/1/cmdline; exit 0"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("hello-ctr\nsh")
    # Detached, to look at the runtime's state record while it runs.
    subprocess.run(ctr + ["run", "-d", "--runc-binary", str(RUNTIME), "docker.io/library/bb:latest", "ctr2",
                          "sleep", "100"], check=True, capture_output=True, timeout=60)
    try:
        state = Path(f"/run/containerd/runc/berthtest/ctr2/state.json")
        assert state.exists() and "new_pid_namespace" in state.read_text()
    finally:
        subprocess.run(ctr + ["task", "kill", "-s", "KILL", "ctr2"], capture_output=True)
        subprocess.run(ctr + ["task", "delete", "ctr2"], capture_output=True)
        subprocess.run(ctr + ["container", "delete", "ctr2"], capture_output=True)
