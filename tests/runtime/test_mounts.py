"""Mounts: binds, tmpfs, propagation, read-only root, masked/readonly paths, symlink escapes, devices."""
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from berth_build import RUNTIME
from helpers import run, run_ok, start


def mountinfo_entry(text, mount_point):
    """The last /proc/self/mountinfo line for mount_point, split into (fields before -, fields after -)."""
    found = None
    for line in text.splitlines():
        pre, _, post = line.partition(" - ")
        f = pre.split()
        if len(f) >= 5 and f[4] == mount_point:
            found = (f, post.split())
    assert found, f"{mount_point} not in mountinfo:\n{text}"
    return found


def add_mount(cfg, **m):
    cfg["mounts"].append(m)


@pytest.fixture
def host_mounts():
    """Mount points made on the host by a test; lazily unmounted afterwards."""
    made = []

    def mount(*args):
        subprocess.run(["mount", *args], check=True)
        made.append(args[-1])
    yield mount
    for mp in reversed(made):
        subprocess.run(["umount", "-l", mp], capture_output=True)


# --- binds -----------------------------------------------------------------

def test_bind_directory_is_readable_and_writable(rt):
    src = rt.tmp / "srcdir"
    src.mkdir()
    (src / "hello").write_text("from-host\n")
    out = run_ok(rt, ["sh", "-c", "cat /data/hello; echo from-container > /data/back"],
                 edit=lambda c: add_mount(c, destination="/data", type="bind", source=str(src), options=["bind"]))
    assert out == "from-host\n"
    assert (src / "back").read_text() == "from-container\n"


def test_bind_file_onto_new_path(rt):
    src = rt.tmp / "file.txt"
    src.write_text("just-a-file\n")
    out = run_ok(rt, ["sh", "-c", "cat /etc/extra/file.txt; test -f /etc/extra/file.txt && echo regular"],
                 edit=lambda c: add_mount(c, destination="/etc/extra/file.txt", type="none", source=str(src),
                                          options=["bind", "ro"]))
    assert out == "just-a-file\nregular\n"


def test_ro_bind_refuses_writes(rt):
    src = rt.tmp / "rodir"
    src.mkdir()
    p = run(rt, ["sh", "-c", "echo x > /ro/f"],
            edit=lambda c: add_mount(c, destination="/ro", type="bind", source=str(src), options=["bind", "ro"]))
    assert p.returncode != 0
    assert "Read-only file system" in p.stderr
    assert not (src / "f").exists()


def test_bind_is_not_recursive_but_rbind_is(rt, host_mounts):
    src = rt.tmp / "tree"
    (src / "sub").mkdir(parents=True)
    host_mounts("-t", "tmpfs", "tmpfs", str(src / "sub"))
    (src / "sub" / "marker").write_text("submount\n")
    script = ["sh", "-c", "cat /tree/sub/marker 2>/dev/null || echo absent"]
    plain = run_ok(rt, script, edit=lambda c: add_mount(c, destination="/tree", type="bind", source=str(src),
                                                        options=["bind"]))
    rec = run_ok(rt, script, edit=lambda c: add_mount(c, destination="/tree", type="bind", source=str(src),
                                                      options=["rbind"]))
    assert plain == "absent\n"
    assert rec == "submount\n"


def test_rro_makes_submounts_read_only(rt, host_mounts):
    src = rt.tmp / "tree"
    (src / "sub").mkdir(parents=True)
    host_mounts("-t", "tmpfs", "tmpfs", str(src / "sub"))
    edit = lambda opts: (lambda c: add_mount(c, destination="/tree", type="bind", source=str(src), options=opts))
    script = ["sh", "-c", "touch /tree/sub/x 2>/dev/null && echo writable || echo readonly"]
    assert run_ok(rt, script, edit=edit(["rbind", "ro"])) == "writable\n"  # ro only applies to the top mount
    assert run_ok(rt, script, edit=edit(["rbind", "rro"])) == "readonly\n"


def test_bind_mount_flags_show_in_mountinfo(rt):
    src = rt.tmp / "flags"
    src.mkdir()
    out = run_ok(rt, ["cat", "/proc/self/mountinfo"],
                 edit=lambda c: add_mount(c, destination="/flags", type="bind", source=str(src),
                                          options=["bind", "nosuid", "nodev", "noexec", "ro"]))
    f, _ = mountinfo_entry(out, "/flags")
    opts = f[5].split(",")
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(opts)


def test_bind_missing_source_fails_cleanly(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: add_mount(c, destination="/x", type="bind", source="/no/such/src",
                                                     options=["bind"]))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "/no/such/src" in p.stderr
    assert not (rt.root / cid).exists()


def test_relative_mount_destination_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: add_mount(c, destination="rel/path", type="tmpfs", source="tmpfs"))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "rel/path" in p.stderr


# --- tmpfs -----------------------------------------------------------------

def test_tmpfs_with_size_and_mode(rt):
    out = run_ok(rt, ["sh", "-c", "stat -c %a /scratch; grep ' /scratch ' /proc/self/mountinfo; "
                                  "echo ok > /scratch/f && cat /scratch/f"],
                 edit=lambda c: add_mount(c, destination="/scratch", type="tmpfs", source="tmpfs",
                                          options=["nosuid", "size=1m", "mode=1770"]))
    mode, info, ok = out.splitlines()
    assert mode == "1770"
    assert " - tmpfs " in info and "size=1024k" in info and "nosuid" in info.split()[5]
    assert ok == "ok"


def test_tmpfs_size_is_enforced(rt):
    p = run(rt, ["sh", "-c", "dd if=/dev/zero of=/small/big bs=1k count=200"],
            edit=lambda c: add_mount(c, destination="/small", type="tmpfs", source="tmpfs", options=["size=64k"]))
    assert p.returncode != 0
    assert "No space left on device" in p.stderr


# --- propagation -----------------------------------------------------------

def propagation_container(rt, host_mounts, opts, edit=None):
    """A container binding a shared host tmpfs with opts; returns (id, src dir)."""
    src = Path(tempfile.mkdtemp(dir=rt.tmp))
    host_mounts("-t", "tmpfs", "tmpfs", str(src))
    subprocess.run(["mount", "--make-shared", str(src)], check=True)
    (src / "later").mkdir()

    def e(c):
        add_mount(c, destination="/shared", type="bind", source=str(src), options=opts)
        if edit:
            edit(c)
    cid, _ = start(rt, ["sleep", "1000"], edit=e)
    # Mounted on the host after the container started.
    host_mounts("-t", "tmpfs", "tmpfs", str(src / "later"))
    (src / "later" / "marker").write_text("propagated\n")
    return cid, src


@pytest.mark.parametrize("opt,expect", [("rslave", "propagated"), ("rshared", "propagated"),
                                        ("rprivate", "absent")])
def test_bind_propagation_from_host(rt, host_mounts, opt, expect):
    cid, _ = propagation_container(rt, host_mounts, ["rbind", opt])
    out = rt.cmd("exec", cid, "sh", "-c", "cat /shared/later/marker 2>/dev/null || echo absent").stdout
    assert out.strip() == expect
    info = rt.cmd("exec", cid, "cat", "/proc/self/mountinfo").stdout
    f, _ = mountinfo_entry(info, "/shared")
    optional = " ".join(f[6:])
    if opt == "rslave":
        assert "master:" in optional and "shared:" not in optional
    elif opt == "rshared":
        assert "shared:" in optional
    else:
        assert "master:" not in optional and "shared:" not in optional


@pytest.mark.parametrize("root_prop,expect_on_host", [("rshared", True), (None, False)])
def test_rshared_bind_propagates_back_to_host(rt, host_mounts, root_prop, expect_on_host):
    """Bidirectional propagation, as CRI sets it up: an rshared bind plus rootfsPropagation rshared.
    Under the default (rslave) root the bind is a slave of the host's mount and nothing flows back."""
    def caps(c):
        for s in ("bounding", "effective", "permitted"):
            c["process"]["capabilities"][s].append("CAP_SYS_ADMIN")
        if root_prop:
            c["linux"]["rootfsPropagation"] = root_prop
    cid, src = propagation_container(rt, host_mounts, ["rbind", "rshared"], edit=caps)
    (src / "fromct").mkdir()
    rt.cmd("exec", cid, "mount", "-t", "tmpfs", "-o", "size=8k", "ctmount", "/shared/fromct")
    try:
        host = Path("/proc/self/mountinfo").read_text()
        assert any(l.split()[4] == str(src / "fromct") for l in host.splitlines()) == expect_on_host
    finally:
        subprocess.run(["umount", "-l", str(src / "fromct")], capture_output=True)
    # The container's own mounts (/proc, /dev, ...) never show up on the host.
    rootfs = rt.state(cid)["rootfs"]
    assert not any(l.split()[4].startswith(rootfs + "/") for l in
                   Path("/proc/self/mountinfo").read_text().splitlines())


@pytest.mark.parametrize("prop,expect", [(None, "propagated"), ("rslave", "propagated"), ("rshared", "propagated"),
                                         ("rprivate", "absent")])
def test_rootfs_propagation(rt, host_mounts, prop, expect):
    def e(c):
        if prop:
            c["linux"]["rootfsPropagation"] = prop
    b = rt.bundle(["sleep", "1000"], edit=e)
    mnt = b / "rootfs" / "mnt"
    mnt.mkdir(exist_ok=True)
    host_mounts("-t", "tmpfs", "tmpfs", str(mnt))
    subprocess.run(["mount", "--make-shared", str(mnt)], check=True)
    (mnt / "later").mkdir()
    cid, _ = start(rt, bundle=b)
    host_mounts("-t", "tmpfs", "tmpfs", str(mnt / "later"))
    (mnt / "later" / "marker").write_text("propagated\n")
    out = rt.cmd("exec", cid, "sh", "-c", "cat /mnt/later/marker 2>/dev/null || echo absent").stdout
    assert out.strip() == expect
    root = mountinfo_entry(rt.cmd("exec", cid, "cat", "/proc/self/mountinfo").stdout, "/")[0]
    if prop == "rshared":
        assert "shared:" in " ".join(root[6:])
    # Nothing the container mounts (/proc, /dev, ...) leaks out to the host, whatever the propagation.
    assert not any(l.split()[4].startswith(str(b / "rootfs") + "/") and l.split()[4] != str(mnt) and
                   not l.split()[4].startswith(str(mnt) + "/")
                   for l in Path("/proc/self/mountinfo").read_text().splitlines())


def test_unknown_rootfs_propagation_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: c["linux"].update(rootfsPropagation="sideways"))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "sideways" in p.stderr
    assert not (rt.root / cid).exists()


# --- root, masked and read-only paths --------------------------------------

def test_readonly_root(rt):
    p = run(rt, ["sh", "-c", "touch /newfile"])
    assert p.returncode != 0 and "Read-only file system" in p.stderr
    # /tmp is part of the root here too; /dev/shm is a tmpfs and stays writable.
    out = run_ok(rt, ["sh", "-c", "echo ok > /dev/shm/x && cat /dev/shm/x; awk '$5 == \"/\"' /proc/self/mountinfo"])
    ok, root = out.splitlines()
    assert ok == "ok"
    assert root.split()[5].split(",")[0] == "ro"


def test_writable_root(rt):
    b = rt.bundle(["sh", "-c", "echo data > /newfile"], edit=lambda c: c["root"].update(readonly=False))
    rt.cmd("run", "--bundle", str(b), rt.new_id())
    assert (b / "rootfs" / "newfile").read_text() == "data\n"


def test_masked_paths(rt):
    def edit(c):
        c["root"]["readonly"] = False
        c["linux"]["maskedPaths"] += ["/etc/secret", "/secretdir", "/does/not/exist"]
    b = rt.bundle(["sh", "-c", "wc -c < /etc/secret; ls -A /secretdir | wc -l; wc -c < /proc/timer_list; "
                               "echo x > /etc/secret 2>/dev/null; echo rc=$?; ls /does 2>/dev/null || echo nodoes"],
                  edit=edit)
    (b / "rootfs" / "etc" / "secret").write_text("top secret\n")
    (b / "rootfs" / "secretdir").mkdir()
    (b / "rootfs" / "secretdir" / "inner").write_text("hidden\n")
    out = rt.cmd("run", "--bundle", str(b), rt.new_id()).stdout.split()
    assert out[0] == "0"  # masked file reads empty
    assert out[1] == "0"  # masked directory is empty
    assert out[2] == "0"  # /proc/timer_list is masked by the default spec (non-empty on the host)
    assert len(Path("/proc/timer_list").read_text()) > 0
    assert out[3] == "rc=0"  # writes succeed, into /dev/null
    assert out[4] == "nodoes"  # a missing masked path is not created
    # Writes go to /dev/null, never to the real file.
    assert (b / "rootfs" / "etc" / "secret").read_text() == "top secret\n"


def test_readonly_paths(rt):
    def edit(c):
        c["root"]["readonly"] = False
        c["linux"]["readonlyPaths"] += ["/data"]
    b = rt.bundle(["sh", "-c", "echo x > /data/f 2>&1; echo x > /other; echo 1 > /proc/sys/kernel/domainname; "
                               "echo done"], edit=edit)
    (b / "rootfs" / "data").mkdir()
    p = rt.cmd("run", "--bundle", str(b), rt.new_id(), check=False)
    assert p.stdout.strip().endswith("done")
    assert p.stderr.count("Read-only file system") == 2, p.stderr
    assert not (b / "rootfs" / "data" / "f").exists()
    assert (b / "rootfs" / "other").exists()


# --- symlinks in mount destinations must stay inside the rootfs -------------

@pytest.mark.parametrize("target", ["abs", "../../..", "dotdot-chain"])
def test_mount_destination_symlink_cannot_escape(rt, target):
    host_dir = Path(tempfile.mkdtemp(prefix="berth-escape-"))
    try:
        link_target = {"abs": str(host_dir), "../../..": "../../..",
                       "dotdot-chain": "../../../../../../../../" + str(host_dir).lstrip("/")}[target]
        src = rt.tmp / "payload"
        src.write_text("payload\n")
        srcdir = rt.tmp / "payload-dir"
        srcdir.mkdir(exist_ok=True)

        def edit(c):
            add_mount(c, destination="/evil/sub/file", type="bind", source=str(src), options=["bind"])
            add_mount(c, destination="/evil/dir", type="bind", source=str(srcdir), options=["bind"])
            add_mount(c, destination="/evil/tmpfs", type="tmpfs", source="tmpfs", options=["size=8k"])
        b = rt.bundle(["sh", "-c", "cat /evil/sub/file; grep -c ' - tmpfs ' /proc/self/mountinfo"], edit=edit)
        os.symlink(link_target, b / "rootfs" / "evil")
        before = sorted(os.listdir(host_dir))
        host_mountinfo = Path("/proc/self/mountinfo").read_text()
        out = rt.cmd("run", "--bundle", str(b), rt.new_id()).stdout.splitlines()
        assert out[0] == "payload"
        # The host side is untouched: no file, directory or mount appeared there.
        assert sorted(os.listdir(host_dir)) == before == []
        assert not Path("/sub").exists() and not Path("/dir").exists() and not Path("/tmpfs").exists()
        assert Path("/proc/self/mountinfo").read_text().count(str(host_dir)) == host_mountinfo.count(str(host_dir))
        # ... and the mount points were created inside the rootfs instead.
        inside = b / "rootfs" / (link_target.lstrip("/") if target == "abs" else
                                 "" if target == "../../.." else str(host_dir).lstrip("/"))
        assert (inside / "sub" / "file").is_file()
        assert (inside / "dir").is_dir()
        assert (inside / "tmpfs").is_dir()
    finally:
        subprocess.run(["rm", "-rf", str(host_dir)])


def test_symlink_to_host_file_as_bind_destination(rt):
    """A destination that is itself a symlink to a host file must not overwrite that file."""
    victim = Path(tempfile.mkdtemp(prefix="berth-victim-")) / "passwd"
    victim.write_text("host content\n")
    src = rt.tmp / "payload"
    src.write_text("payload\n")
    try:
        b = rt.bundle(["cat", "/link"], edit=lambda c: add_mount(c, destination="/link", type="bind",
                                                                 source=str(src), options=["bind"]))
        os.symlink(str(victim), b / "rootfs" / "link")
        rt.cmd("run", "--bundle", str(b), rt.new_id())
        assert victim.read_text() == "host content\n"
        host = Path("/proc/self/mountinfo").read_text()
        assert str(victim) not in host
        assert (b / "rootfs" / str(victim).lstrip("/")).exists()
    finally:
        subprocess.run(["rm", "-rf", str(victim.parent)])


# --- devices ---------------------------------------------------------------

def test_default_devices(rt):
    out = run_ok(rt, ["sh", "-c", "for d in null zero full random urandom tty; do "
                                  "stat -c '%n %F %t:%T %a' /dev/$d; done; "
                                  "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; "
                                  "head -c 4 /dev/zero | wc -c; echo discard > /dev/null && echo null-ok"])
    lines = out.splitlines()
    expect = {"/dev/null": "1:3", "/dev/zero": "1:5", "/dev/full": "1:7", "/dev/random": "1:8",
              "/dev/urandom": "1:9", "/dev/tty": "5:0"}
    for line in lines[:6]:
        name, rest = line.split(" ", 1)
        assert rest == f"character special file {expect[name]} 666", line
    assert lines[6:11] == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "pts/ptmx"]
    assert lines[11] == "4"
    assert lines[12] == "null-ok"


def test_dev_is_tmpfs_without_host_devices(rt):
    out = run_ok(rt, ["sh", "-c", "ls /dev; grep ' /dev ' /proc/self/mountinfo"])
    assert " - tmpfs " in out
    assert "sda" not in out.split() and "vda" not in out.split() and "kmsg" not in out.split()


def test_linux_devices_entry(rt):
    def edit(c):
        c["linux"]["devices"] = [
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0},
            # A custom name for /dev/null's numbers, with its own owner and mode ("other" may write).
            {"path": "/dev/sub/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o602, "uid": 12, "gid": 34},
        ]
    out = run_ok(rt, ["sh", "-c", "stat -c '%F %t:%T %a %u %g' /dev/fuse /dev/sub/mynull; "
                                  "echo hi > /dev/sub/mynull && echo write-ok; "
                                  "(: <> /dev/fuse) 2>&1 && echo fuse-open"], edit=edit)
    fuse, mynull, ok, fuse_open = out.splitlines()
    assert fuse == "character special file a:e5 666 0 0"
    assert mynull == "character special file 1:3 602 12 34"
    assert ok == "write-ok"
    # The device cgroup lets the container use what linux.devices lists (the default spec denies all else).
    if os.path.exists("/dev/fuse"):
        assert fuse_open == "fuse-open"


def test_device_cgroup_denies_unlisted_device(rt):
    """A node for a device not in linux.devices cannot be opened (device cgroup)."""
    def edit(c):
        for s in ("bounding", "effective", "permitted"):
            c["process"]["capabilities"][s].append("CAP_MKNOD")
    # /dev/fuse needs no capability to open (see test_linux_devices_entry): only the device cgroup stops it.
    p = run(rt, ["sh", "-c", "mknod -m 666 /dev/fuse2 c 10 229 && echo made && : <> /dev/fuse2"], edit=edit)
    assert p.stdout == "made\n"
    assert p.returncode != 0
    assert "Operation not permitted" in p.stderr


def test_device_outside_dev_is_refused(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"], edit=lambda c: c["linux"].update(
        devices=[{"path": "/etc/null", "type": "c", "major": 1, "minor": 3}]))
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "/etc/null" in p.stderr
    assert not (rt.root / cid).exists()


def test_relative_bind_source_is_relative_to_bundle(rt):
    """The spec: bind sources are absolute or relative to the bundle, whatever the caller's cwd."""
    b = rt.bundle(["cat", "/data/f"], edit=lambda c: add_mount(c, destination="/data", type="none",
                                                              source="hostdata", options=["rbind", "ro"]))
    (b / "hostdata").mkdir()
    (b / "hostdata" / "f").write_text("relative-source\n")
    p = subprocess.run([str(RUNTIME), "--root", str(rt.root), "run", "--bundle", str(b), rt.new_id()],
                       cwd="/", capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "relative-source\n"


def test_no_pivot(rt):
    b = rt.bundle(["sh", "-c", "cat /proc/self/mountinfo; ls /"])
    p = rt.cmd("run", "--no-pivot", "--bundle", str(b), rt.new_id())
    f, _ = mountinfo_entry(p.stdout, "/")
    assert f[3] == str(b / "rootfs")  # the rootfs bind is the root
    assert "bin" in p.stdout.split() and "proc" in p.stdout.split()
    # The host's root is not reachable as a mount inside.
    assert not any(l.split()[4] == "/" and l.split()[3] == "/" for l in p.stdout.splitlines() if " - " in l)


@pytest.mark.parametrize("option,expect", [("rnoatime", "noatime"), ("rstrictatime", "strictatime"),
                                           ("rro", "ro")])
def test_recursive_mount_attributes_apply(rt, option, expect):
    """r* options reach every mount of the tree, access-time modes included."""
    def edit(c):
        c["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                            "options": [option]})
    out = rt.cmd("run", "--bundle", str(rt.bundle(["grep", " /data ", "/proc/self/mountinfo"], edit=edit)),
                 rt.new_id()).stdout
    opts = out.split()[5].split(",")
    if expect == "strictatime":  # mountinfo shows strictatime as neither relatime nor noatime
        assert "relatime" not in opts and "noatime" not in opts, out
    else:
        assert expect in opts, out
