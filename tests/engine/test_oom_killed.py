"""State.OOMKilled and the "oom" event: a container whose memory cgroup
saw the kernel's OOM killer reports it, as dockerd does; other exits,
including a plain SIGKILL, do not, and a new start clears it."""
import time

from berthd_daemon import CLIS

# No swap beside the limit (--memory-swap equal to -m), so the allocation
# hits the OOM killer at once rather than swapping.
LIMIT = ["-m", "8m", "--memory-swap", "8m"]
# tail keeps the last lines of /dev/zero, which has no newline: one line
# that grows until the kernel kills it.
HOG = "tail /dev/zero"


def state(engine, cid):
    out = engine.docker(CLIS[0], "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", cid)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def actions(engine, cid, since):
    p = engine.docker(CLIS[0], "events", "--since", str(since), "--until", str(int(time.time()) + 1),
                      "--filter", f"container={cid}", "--format", "{{.Action}}")
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def test_oom_kill_sets_oom_killed_and_emits_oom_before_die(engine):
    since = int(time.time()) - 1
    p = engine.docker(CLIS[0], "run", *LIMIT, "--name", "oom-victim", "busybox", "sh", "-c", HOG)
    try:
        assert p.returncode == 137, p.stderr
        assert state(engine, "oom-victim") == "exited 137 true"
        acts = actions(engine, "oom-victim", since)
        assert "oom" in acts and "die" in acts, acts
        assert acts.index("oom") < acts.index("die"), acts
    finally:
        engine.docker(CLIS[0], "rm", "-f", "oom-victim")


def test_other_exits_are_not_oom_kills(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    # Under the same limit, a process that stays below it.
    assert d("run", *LIMIT, "--name", "oom-normal", "busybox", "sh", "-c", "exit 3").returncode == 3
    assert state(engine, "oom-normal") == "exited 3 false"
    # SIGKILL from outside gives the same exit code as an OOM kill, but is not one.
    cid = d("run", "-d", *LIMIT, "--name", "oom-killed-by-user", "busybox", "sleep", "30").stdout.strip()
    assert d("kill", cid).returncode == 0
    assert state(engine, cid) == "exited 137 false"
    d("rm", "-f", "oom-normal", cid)


def test_start_clears_oom_killed(engine):
    d = lambda *a: engine.docker(CLIS[0], *a)
    # The first run hogs memory; later runs (same upper dir: /ran exists) sleep.
    script = f"if [ -e /ran ]; then exec sleep 30; fi; touch /ran; {HOG}"
    try:
        assert d("run", *LIMIT, "--name", "oom-again", "busybox", "sh", "-c", script).returncode == 137
        assert state(engine, "oom-again") == "exited 137 true"
        assert d("start", "oom-again").returncode == 0
        assert state(engine, "oom-again") == "running 0 false"
        # docker stop's SIGKILL ends it (sleep is pid 1 and has no SIGTERM
        # handler, so SIGTERM does nothing): 137 again, but no OOM kill.
        assert d("stop", "-t", "1", "oom-again").returncode == 0
        assert state(engine, "oom-again") == "exited 137 false"
    finally:
        d("rm", "-f", "oom-again")
