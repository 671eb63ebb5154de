"""The container process: args, env, cwd, user, umask, HOME, rlimits, OOM score, capabilities, sysctl, UTS."""
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from berth_build import RUNTIME
from helpers import remove_namespace, run, run_ok, start, status_field, wait_until


def caps_mask(*bits):
    return f"{sum(1 << b for b in bits):016x}"


CAP_CHOWN, CAP_KILL, CAP_NET_BIND_SERVICE, CAP_NET_RAW, CAP_SYS_CHROOT, CAP_AUDIT_WRITE = 0, 5, 10, 13, 18, 29


def test_args_are_passed_verbatim(rt):
    out = run_ok(rt, ["sh", "-c", 'for a in "$@"; do echo "[$a]"; done', "argv0", "two words", "", "*", "$HOME"])
    assert out == "[two words]\n[]\n[*]\n[$HOME]\n"


def test_env_is_exactly_the_spec_env_plus_home(rt):
    def edit(c):
        c["process"]["env"] = ["PATH=/bin", "FOO=bar baz", "EMPTY=", "TERM=dumb"]
    out = run_ok(rt, ["env"], edit=edit)
    assert sorted(out.splitlines()) == sorted(["PATH=/bin", "FOO=bar baz", "EMPTY=", "TERM=dumb", "HOME=/root"])


def test_env_path_is_used_to_find_the_executable(rt):
    def edit(c):
        c["process"]["env"] = ["PATH=/opt/tools"]
        c["root"]["readonly"] = False
    b = rt.bundle(["mytool"], edit=edit)
    (b / "rootfs" / "opt" / "tools").mkdir(parents=True)
    tool = b / "rootfs" / "opt" / "tools" / "mytool"
    tool.write_text("#!/bin/sh\necho found-in-path\n")
    tool.chmod(0o755)
    assert rt.cmd("run", "--bundle", str(b), rt.new_id()).stdout == "found-in-path\n"


def test_cwd(rt):
    out = run_ok(rt, ["pwd"], edit=lambda c: c["process"].update(cwd="/tmp"))
    assert out == "/tmp\n"


def test_missing_cwd_is_created(rt):
    # runc creates process.cwd inside the rootfs (before making it read-only).
    out = run_ok(rt, ["pwd"], edit=lambda c: c["process"].update(cwd="/work/dir"))
    assert out == "/work/dir\n"


def test_relative_cwd_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["pwd"], edit=lambda c: c["process"].update(cwd="tmp"))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "cwd" in p.stderr
    assert not (rt.root / cid).exists()


def test_exit_code(rt):
    assert run(rt, ["sh", "-c", "exit 42"]).returncode == 42
    assert run(rt, ["false"]).returncode == 1
    # Signals from inside the pid namespace cannot kill its init (no handler for SIGKILL): the kernel's rule.
    assert run(rt, ["sh", "-c", "kill -9 $$; echo survived"]).stdout == "survived\n"


def test_init_killed_by_signal_gives_128_plus_signal(rt):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([str(RUNTIME), "--root", str(rt.root), "run", "--bundle", str(b), cid],
                                stdout=out, stderr=out)
        try:
            assert wait_until(lambda: rt.cmd("state", cid, check=False).returncode == 0 and
                              rt.state(cid)["status"] == "running")
            rt.cmd("kill", cid, "KILL")
            assert proc.wait(timeout=10) == 128 + 9
        finally:
            proc.kill()
            proc.wait()
    # run without --keep removed the container.
    assert rt.cmd("state", cid, check=False).returncode != 0


def test_signal_to_run_is_forwarded_to_init(rt):
    b = rt.bundle(["sh", "-c", "trap 'echo got-term; exit 3' TERM; echo ready; while true; do sleep 0.05; done"])
    cid = rt.new_id()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen([str(RUNTIME), "--root", str(rt.root), "run", "--bundle", str(b), cid],
                                stdout=out, stderr=subprocess.DEVNULL)
        try:
            assert wait_until(lambda: (out.seek(0), out.read())[1] == "ready\n")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 3
            out.seek(0)
            assert out.read() == "ready\ngot-term\n"
        finally:
            proc.kill()
            proc.wait()


def test_user_uid_gid_and_additional_gids(rt):
    def edit(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20, 1001]}
    out = run_ok(rt, ["sh", "-c", "id -u; id -g; id -G; grep -E '^(Uid|Gid|Groups):' /proc/self/status"], edit=edit)
    lines = out.splitlines()
    assert lines[0] == "1000" and lines[1] == "1001"
    assert set(lines[2].split()) == {"10", "1001", "20"}  # id -G: the gid, then the supplementary groups
    assert status_field(out, "Uid").split() == ["1000"] * 4
    assert status_field(out, "Gid").split() == ["1001"] * 4
    assert sorted(status_field(out, "Groups").split()) == ["10", "1001", "20"]


def test_root_user_has_no_supplementary_groups_by_default(rt):
    out = run_ok(rt, ["grep", "^Groups:", "/proc/self/status"])
    assert out.split() == ["Groups:"]


def test_non_root_user_cannot_write_root_owned_dir(rt):
    def edit(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        c["root"]["readonly"] = False
    p = run(rt, ["sh", "-c", "touch /etc/x"], edit=edit)
    assert p.returncode != 0 and "Permission denied" in p.stderr


@pytest.mark.parametrize("umask,expect", [(None, "0022"), (0o077, "0077"), (0, "0000")])
def test_umask(rt, umask, expect):
    def edit(c):
        if umask is not None:
            c["process"]["user"]["umask"] = umask
    out = run_ok(rt, ["sh", "-c", "umask; touch /dev/shm/f; stat -c %a /dev/shm/f"], edit=edit)
    mask, mode = out.split()
    assert mask == expect
    assert int(mode, 8) == 0o666 & ~int(expect, 8)


@pytest.mark.parametrize("uid,env,expect", [
    (0, [], "/root"),
    (65534, [], "/nonexistent"),
    (4242, [], "/"),
    (0, ["HOME=/custom"], "/custom"),
])
def test_home_from_passwd(rt, uid, env, expect):
    def edit(c):
        c["process"]["user"] = {"uid": uid, "gid": uid}
        c["process"]["env"] = ["PATH=/bin"] + env
    out = run_ok(rt, ["sh", "-c", 'echo "$HOME"; env | grep -c ^HOME='], edit=edit)
    assert out.split() == [expect, "1"]


def test_rlimits(rt):
    def edit(c):
        c["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_NPROC", "soft": 777, "hard": 888},
        ]
    out = run_ok(rt, ["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/limits"], edit=edit)
    lines = out.splitlines()
    assert lines[0] == "256" and lines[1] == "512"
    limits = {l[:26].strip(): l[26:].split() for l in lines[3:]}
    assert limits["Max open files"][:2] == ["256", "512"]
    assert limits["Max core file size"][:2] == ["0", "0"]
    assert limits["Max processes"][:2] == ["777", "888"]


def test_rlimit_nofile_is_enforced(rt):
    def edit(c):
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 8, "hard": 8}]
    # fds 0-2 plus 5 more fit; the sixth does not.
    p = run(rt, ["sh", "-c", "exec 3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null; echo ok; "
                             "exec 8</dev/null; echo should-not-get-here"], edit=edit)
    assert p.stdout == "ok\n"
    assert p.returncode != 0


def test_unknown_rlimit_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "RLIMIT_BOGUS" in p.stderr
    assert not (rt.root / cid).exists()


def test_rlimit_soft_above_hard_is_refused(rt):
    b = rt.bundle(["true"], edit=lambda c: c["process"].update(
        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 10}]))
    p = rt.cmd("create", "--bundle", str(b), rt.new_id(), check=False)
    assert p.returncode != 0 and "RLIMIT_NOFILE" in p.stderr


@pytest.mark.parametrize("adj", [500, 1000])
def test_oom_score_adj(rt, adj):
    mine = int(Path("/proc/self/oom_score_adj").read_text())
    out = run_ok(rt, ["cat", "/proc/self/oom_score_adj"], edit=lambda c: c["process"].update(oomScoreAdj=adj))
    assert int(out) == adj
    assert int(Path("/proc/self/oom_score_adj").read_text()) == mine


def test_oom_score_adj_not_set_inherits(rt):
    mine = Path("/proc/self/oom_score_adj").read_text().strip()
    out = run_ok(rt, ["cat", "/proc/self/oom_score_adj"])
    assert out.strip() == mine


@pytest.mark.parametrize("nnp,expect", [(True, "1"), (False, "0")])
def test_no_new_privileges(rt, nnp, expect):
    out = run_ok(rt, ["cat", "/proc/self/status"], edit=lambda c: c["process"].update(noNewPrivileges=nnp))
    assert status_field(out, "NoNewPrivs") == expect


def test_default_capabilities_for_root(rt):
    out = run_ok(rt, ["cat", "/proc/self/status"])
    default = caps_mask(CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE)
    assert status_field(out, "CapBnd") == default
    assert status_field(out, "CapEff") == default
    assert status_field(out, "CapPrm") == default
    assert status_field(out, "CapInh") == caps_mask()
    # Ambient needs the capability in inheritable too; the default spec has none.
    assert status_field(out, "CapAmb") == caps_mask()


def test_five_capability_sets_for_non_root_user(rt):
    """For a non-root user (no root exec privileges), what survives execve is exactly the ambient set."""
    def edit(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        c["process"]["capabilities"] = {
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_CHROOT"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "permitted": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_CHOWN", "CAP_NET_RAW"],
            "ambient": ["CAP_CHOWN"],
        }
    out = run_ok(rt, ["cat", "/proc/self/status"], edit=edit)
    assert status_field(out, "CapBnd") == caps_mask(CAP_CHOWN, CAP_KILL, CAP_NET_RAW, CAP_SYS_CHROOT)
    assert status_field(out, "CapInh") == caps_mask(CAP_CHOWN, CAP_NET_RAW)
    assert status_field(out, "CapAmb") == caps_mask(CAP_CHOWN)
    assert status_field(out, "CapPrm") == caps_mask(CAP_CHOWN)
    assert status_field(out, "CapEff") == caps_mask(CAP_CHOWN)


def test_ambient_capability_is_usable_by_non_root(rt):
    def edit(c, with_cap):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        c["root"]["readonly"] = False
        caps = ["CAP_CHOWN"] if with_cap else []
        c["process"]["capabilities"] = {k: list(caps) for k in
                                        ("bounding", "effective", "permitted", "inheritable", "ambient")}
    script = ["sh", "-c", "touch /tmp/f && chown 0:0 /tmp/f && echo chowned"]
    assert run_ok(rt, script, edit=lambda c: edit(c, True)) == "chowned\n"
    p = run(rt, script, edit=lambda c: edit(c, False))
    assert p.returncode != 0 and "Operation not permitted" in p.stderr


def test_root_without_capability_is_denied(rt):
    # CAP_CHOWN is not in the default set: even uid 0 cannot chown.
    def edit(c):
        c["root"]["readonly"] = False
    p = run(rt, ["sh", "-c", "touch /tmp/g && chown 1:1 /tmp/g"], edit=edit)
    assert p.returncode != 0 and "Operation not permitted" in p.stderr


@pytest.mark.parametrize("nnp", [False, True])
def test_root_permitted_after_exec(rt, nnp):
    """uid 0 gets the whole bounding set at execve (no file caps involved), unless no_new_privs forbids
    gaining anything: then permitted stays what the runtime set."""
    def edit(c):
        c["process"]["noNewPrivileges"] = nnp
        c["process"]["capabilities"] = {
            "bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": [], "ambient": []}
    out = run_ok(rt, ["cat", "/proc/self/status"], edit=edit)
    assert status_field(out, "CapBnd") == caps_mask(CAP_CHOWN, CAP_KILL)
    expect = caps_mask(CAP_KILL) if nnp else caps_mask(CAP_CHOWN, CAP_KILL)
    assert status_field(out, "CapPrm") == expect
    assert status_field(out, "CapEff") == expect


def test_hostname_and_domainname(rt):
    def edit(c):
        c["hostname"] = "box-1"
        c["domainname"] = "example.test"
    out = run_ok(rt, ["sh", "-c", "hostname; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname"], edit=edit)
    assert out.split() == ["box-1", "box-1", "example.test"]
    assert os.uname().nodename != "box-1"


def test_sysctl_in_network_namespace(rt):
    host_value = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    want = "0" if host_value == "1" else "1"

    def edit(c):
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": want, "kernel.shmmni": "1234", "kernel.domainname": "sys.test"}
    out = run_ok(rt, ["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shmmni",
                      "/proc/sys/kernel/domainname"], edit=edit)
    assert out.split() == [want, "1234", "sys.test"]
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == host_value
    assert Path("/proc/sys/kernel/shmmni").read_text().strip() != "1234"


def test_sysctl_not_namespaced_is_refused(rt):
    cid = rt.new_id()
    before = Path("/proc/sys/vm/swappiness").read_text()
    b = rt.bundle(["true"], edit=lambda c: c["linux"].update(sysctl={"vm.swappiness": "7"}))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "vm.swappiness" in p.stderr
    assert Path("/proc/sys/vm/swappiness").read_text() == before
    assert not (rt.root / cid).exists()


def test_net_sysctl_without_network_namespace_is_refused(rt):
    def edit(c):
        remove_namespace(c, "network")
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    p = rt.cmd("create", "--bundle", str(rt.bundle(["true"], edit=edit)), rt.new_id(), check=False)
    assert p.returncode != 0 and "network namespace" in p.stderr


def test_stdio_is_inherited(rt, tmp_path):
    """run without a terminal: the container writes straight to our stdout/stderr and reads our stdin."""
    b = rt.bundle(["sh", "-c", "read line; echo \"got:$line\"; echo to-stderr >&2"])
    p = rt.cmd("run", "--bundle", str(b), rt.new_id(), input="hello\n")
    assert p.stdout == "got:hello\n"
    assert p.stderr == "to-stderr\n"


def test_lowering_oom_score_adj(rt):
    """Lowering below the current value needs CAP_SYS_RESOURCE, which this host's bounding set may lack:
    then create must fail naming the setting, and leave nothing behind."""
    cid = rt.new_id()
    mine = int(Path("/proc/self/oom_score_adj").read_text())
    b = rt.bundle(["cat", "/proc/self/oom_score_adj"], edit=lambda c: c["process"].update(oomScoreAdj=mine - 100))
    p = rt.cmd("run", "--bundle", str(b), cid, check=False)
    if p.returncode == 0:
        assert int(p.stdout) == mine - 100
    else:
        assert "oom_score_adj" in p.stderr
        assert not (rt.root / cid).exists()
