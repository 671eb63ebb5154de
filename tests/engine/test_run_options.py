"""docker run options through berthd reach the container as they do on
dockerd: limits, users, mounts, capabilities, seccomp, --init, read-only."""
import os

import pytest

from berthd_daemon import CLIS


def run(engine, *args, cli=CLIS[0]):
    return engine.docker(cli, "run", "--rm", *args)


def test_memory_pids_cpu_limits(engine):
    p = run(engine, "-m", "64m", "--pids-limit", "50", "--cpus", "0.5", "--cpu-shares", "512", "busybox", "sh", "-c",
            "cat /proc/self/cgroup")
    assert p.returncode == 0, p.stderr
    cid_cgroup = [l for l in p.stdout.splitlines() if ":memory:" in l][0].split(":", 2)[2]
    assert cid_cgroup.startswith("/berth/")


def test_limits_are_applied_to_the_cgroup(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    cid = d("run", "-d", "-m", "64m", "--pids-limit", "50", "--cpus", "0.5", "busybox", "sleep", "30").stdout.strip()
    try:
        base = "/sys/fs/cgroup"
        mem = f"{base}/memory/berth/{cid}/memory.limit_in_bytes"
        if os.path.exists(mem):  # cgroup v1 (this machine)
            assert open(mem).read().strip() == str(64 * 1024 * 1024)
            assert open(f"{base}/pids/berth/{cid}/pids.max").read().strip() == "50"
            cpu = next(f"{base}/{c}/berth/{cid}/cpu.cfs_quota_us" for c in ("cpu", "cpu,cpuacct")
                       if os.path.isdir(f"{base}/{c}"))
            assert open(cpu).read().strip() == "50000"
        else:
            assert open(f"{base}/berth/{cid}/memory.max").read().strip() == str(64 * 1024 * 1024)
    finally:
        d("rm", "-f", cid)


def test_user_workdir_env_hostname(engine):
    p = run(engine, "-u", "nobody", "-w", "/made/by/docker", "-e", "A=1", "--hostname", "box", "busybox", "sh", "-c",
            "id -un; pwd; echo $A $HOSTNAME; hostname; cat /etc/hostname")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:5] == ["nobody", "/made/by/docker", "1 box", "box", "box"]


def test_unknown_user_fails_like_docker(engine):
    p = run(engine, "-u", "nosuchuser", "busybox", "true")
    assert p.returncode != 0
    assert "unable to find user nosuchuser" in p.stderr


def test_capabilities_and_privileged(engine):
    p = run(engine, "busybox", "grep", "CapEff", "/proc/self/status")
    assert p.stdout.split()[1] == "00000000a80425fb"
    p = run(engine, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "busybox", "grep", "CapEff", "/proc/self/status")
    assert p.stdout.split()[1] == "0000000000001000"
    p = run(engine, "--privileged", "busybox", "sh", "-c", "grep Seccomp: /proc/self/status; ls /dev | wc -l")
    seccomp, ndev = p.stdout.split("\n")[:2]
    assert seccomp.split()[1] == "0"
    assert int(ndev) > 20


def test_seccomp_default_and_unconfined(engine):
    p = run(engine, "busybox", "grep", "Seccomp:", "/proc/self/status")
    assert p.stdout.split()[1] == "2"
    p = run(engine, "busybox", "unshare", "-n", "true")
    assert p.returncode != 0
    p = run(engine, "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/self/status")
    assert p.stdout.split()[1] == "0"
    p = run(engine, "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert p.stdout.split()[1] == "1"


def test_read_only_tmpfs_and_binds(engine, tmp_path):
    (tmp_path / "in.txt").write_text("from host\n")
    p = run(engine, "--read-only", "--tmpfs", "/scratch", "-v", f"{tmp_path}:/data", "-v", f"{tmp_path}:/ro:ro",
            "busybox", "sh", "-c",
            "cat /data/in.txt; echo x > /scratch/ok && echo tmpfs-ok; touch /rootfile || echo root-ro;"
            " echo y > /data/out.txt; touch /ro/z || echo bind-ro")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:4] == ["from host", "tmpfs-ok", "root-ro", "bind-ro"]
    assert (tmp_path / "out.txt").read_text() == "y\n"


def test_ulimit_never_above_the_hard_limit(engine):
    p = run(engine, "--ulimit", "nofile=256:512", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["256", "512"]


def test_init_reaps_and_forwards_signals(engine):
    p = run(engine, "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("/sbin/docker-init -- sh")
    d = lambda *a: engine.docker(CLIS[0], *a)
    cid = d("run", "-d", "--init", "busybox", "sleep", "60").stdout.strip()
    assert d("stop", "-t", "5", cid).returncode == 0
    # sleep dies of the forwarded SIGTERM; init reports 128+15.
    assert d("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "143"
    d("rm", cid)


@pytest.mark.parametrize("cli", CLIS)
def test_tty_run_reports_a_terminal(engine, cli):
    p = engine.docker(cli, "run", "--rm", "-t", "busybox", "sh", "-c", "test -t 1 && echo is-tty")
    assert p.returncode == 0, p.stderr
    assert p.stdout.replace("\r", "") == "is-tty\n"


def test_network_none_and_host(engine):
    p = run(engine, "--network", "none", "busybox", "ls", "/sys/class/net")
    assert p.stdout.split() == ["lo"]
    p = run(engine, "--network", "host", "busybox", "hostname")
    assert p.stdout.strip() == os.uname().nodename
    p = run(engine, "--network", "nosuchnet", "busybox", "true")
    assert p.returncode != 0 and "network nosuchnet not found" in p.stderr
