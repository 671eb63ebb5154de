"""Restart policies when berthd boots, as dockerd's restore applies them:
after a host reboot nothing runs (no daemon, no shims, no containers), and
the daemon starts again what was started before and whose policy wants it
running: "always" (even if the user stopped it), "unless-stopped" unless
the user stopped it, "on-failure" only after a failure."""
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from berthd_daemon import CLIS, Daemon, wait_until

# name -> (run options, command, stopped by the user?, runs after the reboot?)
CASES = {
    "always": (["--restart", "always"], ["sleep", "300"], False, True),
    "always-stopped": (["--restart", "always"], ["sleep", "300"], True, True),
    "unless": (["--restart", "unless-stopped"], ["sleep", "300"], False, True),
    "unless-stopped": (["--restart", "unless-stopped"], ["sleep", "300"], True, False),
    "no-policy": ([], ["sleep", "300"], False, False),
    "on-failure-ok": (["--restart", "on-failure"], ["true"], False, False),
}


def gone(pid):
    """Dead: no such process, or a zombie nobody has reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True




@pytest.mark.parametrize("run_dir", ["kept", "wiped"])
def test_restart_policies_after_reboot(tmp_path, rootfs_tar, run_dir):
    dm = Daemon(tmp_path).start()
    d = lambda *a: dm.docker(CLIS[0], *a)
    status = lambda n: d("inspect", "-f", "{{.State.Status}}", n).stdout.strip()
    ids = {}
    try:
        assert d("import", str(rootfs_tar), "busybox").returncode == 0
        for name, (opts, cmd, _, _) in CASES.items():
            p = d("run", "-d", "--name", name, *opts, "busybox", *cmd)
            assert p.returncode == 0, p.stderr
            ids[name] = p.stdout.strip()
        wait_until(lambda: status("on-failure-ok") == "exited", what="on-failure-ok to exit")
        for name, (_, _, user_stop, _) in CASES.items():
            if user_stop:
                assert d("stop", "-t", "1", name).returncode == 0
        before = {n: status(n) for n in CASES}
        assert before == {n: "exited" if CASES[n][2] or n == "on-failure-ok" else "running" for n in CASES}

        # The "reboot": the daemon, every shim and every container process die
        # at once, so no exit is recorded anywhere.
        shims = [int((dm.exec_root / "containers" / ids[n] / "shim" / "shim.pid").read_text())
                 for n in CASES if before[n] == "running"]
        inits = [int(d("inspect", "-f", "{{.State.Pid}}", n).stdout) for n in CASES if before[n] == "running"]
        dm.proc.send_signal(signal.SIGKILL)
        dm.proc.wait()
        for pid in shims + inits:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: all(gone(p) for p in shims + inits), what="the processes to die")
        if run_dir == "wiped":
            # /run is a tmpfs: runtime state and shim state dirs do not survive.
            shutil.rmtree(dm.exec_root)
        dm.stop()

        dm.start()
        # Started before the API answers, as dockerd's restore does.
        after = {n: status(n) for n in CASES}
        assert after == {n: "running" if CASES[n][3] else "exited" for n in CASES}, after
        for n in CASES:
            if CASES[n][3]:
                assert d("exec", n, "echo", "up").stdout == "up\n"
                # dockerd's boot start resets the restart manager's count.
                assert d("inspect", "-f", "{{.RestartCount}}", n).stdout.strip() == "0"
        # The stopped ones stay stopped (no restart scheduled behind our back).
        time.sleep(1)
        assert {n: status(n) for n in CASES} == after
        # The boot start ended "always-stopped"'s manual stop: a crash restarts it.
        os.kill(int(d("inspect", "-f", "{{.State.Pid}}", "always-stopped").stdout), signal.SIGKILL)
        wait_until(lambda: d("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "always-stopped").stdout.strip()
                   == "running 1", what="the policy restart")
    finally:
        ids_now = d("ps", "-aq").stdout.split()
        if ids_now:
            d("rm", "-f", *ids_now)
        dm.stop()
        # A real reboot takes the cgroups along; the wiped runtime state no
        # longer names those of the containers that stayed down.
        for cid in ids.values() if run_dir == "wiped" else ():
            for h in [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()]:  # v2, v1
                try:
                    (h / "berth" / cid).rmdir()
                except OSError:
                    pass
