"""Volumes through berthd with the real docker CLI: volume create/ls/inspect/
rm/prune, named and anonymous volumes, copy-up of image content, rm -v,
in-use refusal, binds, local driver options (tmpfs, bind), --volumes-from,
--mount, volume events, docker's errors, and a daemon restart."""
import io
import json
import os
import re
import tarfile
import time
import uuid

import pytest

from berthd_daemon import CLIS, Daemon, wait_until

DOCKER = CLIS[0]


def d(engine, *args):
    return engine.docker(DOCKER, *args)


def ok(engine, *args):
    p = d(engine, *args)
    assert p.returncode == 0, f"docker {' '.join(args)}: {p.stderr}"
    return p.stdout


def uniq(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def volume_names(engine, *filters):
    args = [a for f in filters for a in ("-f", f)]
    return ok(engine, "volume", "ls", "-q", *args).split()


def mounts_of(engine, container):
    ms = json.loads(ok(engine, "inspect", "-f", "{{json .Mounts}}", container))
    return {m["Destination"]: m for m in ms}


def is_mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


@pytest.fixture(scope="module")
def volimg(engine, rootfs_tar, tmp_path_factory):
    """busybox plus /srv/app (owned 1000:1001, mode 0750, a 0640 file) and
    VOLUME /srv/app and /empty: an image whose volumes docker fills."""
    out = tmp_path_factory.mktemp("volimg") / "rootfs.tar"
    with tarfile.open(rootfs_tar) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)

        def add(name, mode, uid, gid, data=None):
            ti = tarfile.TarInfo(name)
            ti.mode, ti.uid, ti.gid, ti.mtime = mode, uid, gid, 1000000000
            if data is None:
                ti.type = tarfile.DIRTYPE
                dst.addfile(ti)
            else:
                ti.size = len(data)
                dst.addfile(ti, io.BytesIO(data))
        add("./srv", 0o755, 0, 0)
        add("./srv/app", 0o750, 1000, 1001)
        add("./srv/app/config", 0o640, 1000, 1001, b"from the image\n")
    ok(engine, "import", "--change", "VOLUME /srv/app", "--change", "VOLUME /empty", "--change", 'CMD ["sh"]',
       str(out), "volimg:latest")
    return "volimg"


def test_volume_create_ls_inspect_rm(engine):
    name = uniq("data")
    assert ok(engine, "volume", "create", "--label", "team=db", name).strip() == name
    [v] = json.loads(ok(engine, "volume", "inspect", name))
    assert v["Name"] == name
    assert v["Driver"] == "local"
    assert v["Scope"] == "local"
    assert v["Labels"] == {"team": "db"}
    assert v["Options"] is None
    assert v["Mountpoint"] == str(engine.data / "volumes" / name / "_data")
    assert os.path.isdir(v["Mountpoint"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", v["CreatedAt"])
    # Creating it again is no error and changes nothing.
    assert ok(engine, "volume", "create", "--label", "other=1", name).strip() == name
    assert json.loads(ok(engine, "volume", "inspect", name))[0]["Labels"] == {"team": "db"}

    assert name in volume_names(engine)
    assert volume_names(engine, "label=team=db", f"name={name}") == [name]
    assert name not in volume_names(engine, "label=team=web")
    assert name in volume_names(engine, "dangling=true")
    assert name in volume_names(engine, "driver=local")
    ls = ok(engine, "volume", "ls", "--format", "{{.Driver}} {{.Name}}").splitlines()
    assert f"local {name}" in ls

    assert ok(engine, "volume", "rm", name).strip() == name
    assert not os.path.exists(engine.data / "volumes" / name)
    p = d(engine, "volume", "inspect", name)
    assert p.returncode != 0 and f"get {name}: no such volume" in p.stderr
    p = d(engine, "volume", "rm", name)
    assert p.returncode != 0 and f"get {name}: no such volume" in p.stderr
    assert d(engine, "volume", "rm", "-f", name).returncode == 0


def test_volume_create_errors_are_dockers(engine):
    cases = {
        ("x",): "create x: volume name is too short, names should be at least two alphanumeric characters",
        ("a$b",): "create a$b: \"a$b\" includes invalid characters for a local volume name",
        ("-d", "nfs-plugin", "vv1"): 'create vv1: error looking up volume plugin nfs-plugin: plugin "nfs-plugin" not found',
        ("-o", "foo=bar", "vv2"): 'create vv2: invalid option: "foo"',
        ("-o", "type=tmpfs", "vv3"): 'create vv3: missing required option: "device"',
        ("-o", "size=10m", "vv4"): "create vv4: quota size requested but no quota support",
    }
    for args, message in cases.items():
        p = d(engine, "volume", "create", *args)
        assert p.returncode != 0
        assert message in p.stderr, (args, p.stderr)
    assert not {"vv1", "vv2", "vv3", "vv4"} & set(volume_names(engine))


def test_named_volume_keeps_data_across_containers(engine):
    name = uniq("keep")
    ok(engine, "run", "--rm", "-v", f"{name}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert ok(engine, "run", "--rm", "-v", f"{name}:/other", "busybox", "cat", "/other/f") == "kept\n"
    [v] = json.loads(ok(engine, "volume", "inspect", name))
    assert v["Labels"] is None, "created by run, with no labels"
    with open(os.path.join(v["Mountpoint"], "f")) as f:
        assert f.read() == "kept\n"
    ok(engine, "volume", "rm", name)


def test_copy_up_fills_an_empty_volume_from_the_image(engine, volimg):
    name = uniq("cu")
    out = ok(engine, "run", "--rm", "-v", f"{name}:/srv/app", volimg, "sh", "-c",
             "cat /srv/app/config; stat -c '%u:%g %a' /srv/app /srv/app/config")
    assert out.splitlines() == ["from the image", "1000:1001 750", "1000:1001 640"]
    data = json.loads(ok(engine, "volume", "inspect", name))[0]["Mountpoint"]
    st = os.stat(data)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1000, 1001, 0o750)
    # A volume with content is never overwritten.
    with open(os.path.join(data, "config"), "w") as f:
        f.write("mine\n")
    assert ok(engine, "run", "--rm", "-v", f"{name}:/srv/app", volimg, "cat", "/srv/app/config") == "mine\n"
    # busybox's /etc into a fresh named volume.
    etc = uniq("etc")
    assert "passwd" in ok(engine, "run", "--rm", "-v", f"{etc}:/etc", "busybox", "ls", "/etc").split()
    # nocopy (both spellings) and binds get nothing.
    for spec in (["-v", f"{uniq('nc')}:/srv/app:nocopy"],
                 ["--mount", f"type=volume,src={uniq('nc')},dst=/srv/app,volume-nocopy"]):
        assert ok(engine, "run", "--rm", *spec, volimg, "ls", "-A", "/srv/app") == ""
    ok(engine, "volume", "rm", name, etc)


def test_bind_is_not_filled(engine, volimg, tmp_path):
    assert ok(engine, "run", "--rm", "-v", f"{tmp_path}:/srv/app", volimg, "ls", "-A", "/srv/app") == ""


def test_image_volumes_become_anonymous_volumes(engine, volimg):
    cid = ok(engine, "run", "-d", volimg, "sleep", "100").strip()
    try:
        ms = mounts_of(engine, cid)
        assert set(ms) == {"/srv/app", "/empty"}
        m = ms["/srv/app"]
        assert m["Type"] == "volume"
        assert re.fullmatch("[0-9a-f]{64}", m["Name"])
        assert m["Driver"] == "local"
        assert m["Mode"] == ""
        assert m["RW"] is True
        assert m["Source"] == str(engine.data / "volumes" / m["Name"] / "_data")
        [v] = json.loads(ok(engine, "volume", "inspect", m["Name"]))
        assert v["Labels"] == {"com.docker.volume.anonymous": ""}
        assert ok(engine, "exec", cid, "cat", "/srv/app/config") == "from the image\n"
        # A bind or named volume at an image VOLUME's place replaces it.
        other = ok(engine, "create", "-v", f"{uniq('nv')}:/srv/app", volimg).strip()
        assert mounts_of(engine, other)["/srv/app"]["Mode"] == "z"
        ok(engine, "rm", "-v", other)
    finally:
        ok(engine, "rm", "-f", "-v", cid)


def test_rm_v_removes_anonymous_volumes_only(engine, volimg):
    named = uniq("named")
    cid = ok(engine, "create", "-v", f"{named}:/named", "-v", "/anon", volimg).strip()
    ms = mounts_of(engine, cid)
    anon = [ms["/anon"]["Name"], ms["/srv/app"]["Name"], ms["/empty"]["Name"]]
    assert set(anon) <= set(volume_names(engine))
    ok(engine, "rm", "-v", cid)
    left = set(volume_names(engine))
    assert named in left
    assert not set(anon) & left
    # Plain rm keeps them; --rm removes them.
    cid = ok(engine, "create", "-v", "/anon", "busybox", "true").strip()
    kept = mounts_of(engine, cid)["/anon"]["Name"]
    ok(engine, "rm", cid)
    assert kept in volume_names(engine)
    ok(engine, "volume", "rm", kept, named)
    before = set(volume_names(engine))
    ok(engine, "run", "--rm", "-v", "/gone", "busybox", "true")
    wait_until(lambda: set(volume_names(engine)) == before, what="--rm to remove the anonymous volume")


def test_a_volume_in_use_is_not_removed(engine):
    name = uniq("busy")
    cid = ok(engine, "create", "-v", f"{name}:/data", "busybox", "true").strip()
    p = d(engine, "volume", "rm", name)
    assert p.returncode != 0
    assert f"remove {name}: volume is in use - [{cid}]" in p.stderr
    p = d(engine, "volume", "rm", "-f", name)
    assert p.returncode != 0, "force does not override use"
    ok(engine, "volume", "prune", "-f")
    assert name in volume_names(engine), "prune spares volumes in use"
    assert name not in volume_names(engine, "dangling=true")
    ok(engine, "rm", cid)
    assert name in volume_names(engine, "dangling=true")
    ok(engine, "volume", "rm", name)


def test_prune_removes_unused_volumes_and_reports_space(engine):
    ok(engine, "volume", "prune", "-f")
    a, b, used = uniq("pa"), uniq("pb"), uniq("pu")
    ok(engine, "volume", "create", a)
    ok(engine, "volume", "create", "--label", "keep=yes", b)
    ok(engine, "run", "--rm", "-v", f"{a}:/d", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /d/f")
    cid = ok(engine, "create", "-v", f"{used}:/d", "busybox", "true").strip()
    out = ok(engine, "volume", "prune", "-f", "--filter", "label!=keep")
    assert a in out and b not in out and used not in out
    assert "Total reclaimed space: 100kB" in out
    assert set(volume_names(engine)) >= {b, used}
    assert a not in volume_names(engine)
    ok(engine, "rm", "-v", cid)
    ok(engine, "volume", "rm", b, used)


def test_bind_read_only(engine, tmp_path):
    (tmp_path / "in").write_text("host\n")
    out = ok(engine, "run", "--rm", "-v", f"{tmp_path}:/ro:ro", "busybox", "sh", "-c",
             "cat /ro/in; touch /ro/x 2>/dev/null || echo refused")
    assert out == "host\nrefused\n"
    cid = ok(engine, "create", "-v", f"{tmp_path}:/ro:ro", "busybox", "true").strip()
    assert mounts_of(engine, cid)["/ro"] == {"Type": "bind", "Source": str(tmp_path), "Destination": "/ro",
                                             "Mode": "ro", "RW": False, "Propagation": "rprivate"}
    ok(engine, "rm", cid)


def test_tmpfs_volume_is_mounted_while_used(engine):
    name = uniq("fast")
    ok(engine, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m,uid=1000", name)
    [v] = json.loads(ok(engine, "volume", "inspect", name))
    assert v["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=2m,uid=1000"}
    assert not is_mounted(v["Mountpoint"])
    out = ok(engine, "run", "--rm", "-v", f"{name}:/fast", "busybox", "sh", "-c",
             "df -k /fast | tail -1; stat -c %u /fast; echo x > /fast/f")
    fs, blocks = out.splitlines()[0].split()[:2]
    assert (fs, blocks) == ("tmpfs", "2048")
    assert out.splitlines()[1] == "1000"
    assert not is_mounted(v["Mountpoint"]), "unmounted when its last user stops"
    assert not os.path.exists(os.path.join(v["Mountpoint"], "f")), "the data lived on the tmpfs"
    ok(engine, "volume", "rm", name)


def test_bind_volume_via_local_driver(engine, tmp_path):
    name = uniq("bindvol")
    ok(engine, "volume", "create", "-o", "type=none", "-o", f"device={tmp_path}", "-o", "o=bind", name)
    ok(engine, "run", "--rm", "-v", f"{name}:/b", "busybox", "sh", "-c", "echo via-volume > /b/f")
    assert (tmp_path / "f").read_text() == "via-volume\n"
    ok(engine, "volume", "rm", name)
    assert (tmp_path / "f").exists(), "removing the volume leaves the bound directory alone"


def test_volumes_from(engine, tmp_path):
    name = uniq("shared")
    src = ok(engine, "run", "-d", "-v", f"{name}:/data", "-v", "/anon", "-v", f"{tmp_path}:/host", "busybox", "sh",
             "-c", "echo shared > /data/f; echo a > /anon/f; sleep 100").strip()
    try:
        wait_until(lambda: d(engine, "exec", src, "test", "-f", "/anon/f").returncode == 0,
                   what="the source container's writes")
        out = ok(engine, "run", "--rm", "--volumes-from", f"{src}:ro", "busybox", "sh", "-c",
                 "cat /data/f /anon/f; ls -d /host; touch /data/x 2>/dev/null || echo ro")
        assert out == "shared\na\n/host\nro\n"
        cid = ok(engine, "create", "--volumes-from", src, "busybox", "true").strip()
        ms, theirs = mounts_of(engine, cid), mounts_of(engine, src)
        assert set(ms) == {"/data", "/anon", "/host"}
        for dst in ms:
            assert ms[dst]["Source"] == theirs[dst]["Source"]
            assert ms[dst]["RW"] is True
            assert ms[dst]["Mode"] == ""
        p = d(engine, "volume", "rm", name)
        assert cid in p.stderr and src in p.stderr, "both containers hold it"
        ok(engine, "rm", "-v", cid)
        assert theirs["/anon"]["Name"] in volume_names(engine), "rm -v spares an anonymous volume another container uses"
    finally:
        ok(engine, "rm", "-f", "-v", src)
    ok(engine, "volume", "rm", name)


def test_mount_flag_forms(engine, tmp_path):
    vol = uniq("mv")
    cid = ok(engine, "run", "-d",
             "--mount", f"type=volume,src={vol},dst=/mv,volume-label=made=by-mount,"
                        "volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=1m",
             "--mount", f"type=bind,src={tmp_path},dst=/b,readonly",
             "--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576",
             "--mount", "type=volume,dst=/anon",
             "busybox", "sleep", "100").strip()
    try:
        ms = mounts_of(engine, cid)
        assert ms["/mv"]["Type"] == "volume" and ms["/mv"]["Name"] == vol and ms["/mv"]["Mode"] == "z"
        assert ms["/b"] == {"Type": "bind", "Source": str(tmp_path), "Destination": "/b", "Mode": "", "RW": False,
                            "Propagation": "rprivate"}
        assert ms["/t"] == {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True,
                            "Propagation": ""}
        assert re.fullmatch("[0-9a-f]{64}", ms["/anon"]["Name"])
        [v] = json.loads(ok(engine, "volume", "inspect", vol))
        assert v["Labels"] == {"made": "by-mount"}
        assert v["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
        out = ok(engine, "exec", cid, "sh", "-c", "df -k /mv /t | tail -2 | awk '{print $1, $2}'; touch /b/x || echo ro")
        assert out.splitlines() == ["tmpfs 1024", "tmpfs 1024", "ro"]
    finally:
        ok(engine, "rm", "-f", "-v", cid)
    ok(engine, "volume", "rm", vol)


@pytest.mark.parametrize("args,message", [
    (["-v", "vol:/x:bogus"], "invalid mode: bogus"),
    (["-v", "aa:/x", "-v", "bb:/x"], "Duplicate mount point: /x"),
    (["-v", "aa:/x", "--tmpfs", "/x"], "Duplicate mount point: /x"),
    (["-v", "vol:rel"], "invalid volume specification: 'vol:rel': invalid mount config for type \"volume\": "
                        "invalid mount path: 'rel' mount path must be absolute"),
    (["-v", "vol:/"], "invalid volume specification: 'vol:/': invalid mount config for type \"volume\": "
                      "invalid specification: destination can't be '/'"),
    (["--mount", "type=volume,dst=/x,readonly"],
     "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes"),
    (["--mount", "type=bind,src=/does/not/exist,dst=/x"],
     "invalid mount config for type \"bind\": bind source path does not exist: /does/not/exist"),
    (["--mount", "type=volume,src=vv5,dst=/x,volume-driver=nfs-plugin"],
     'create vv5: error looking up volume plugin nfs-plugin: plugin "nfs-plugin" not found'),
    (["--mount", "type=volume,src=vv6,dst=/x,volume-opt=foo=bar"], 'create vv6: invalid option: "foo"'),
    (["--volumes-from", "no-such-container"], "No such container: no-such-container"),
    (["--volumes-from", "other:rshared"], "invalid mode: rshared"),
])
def test_bad_specs_fail_like_docker(engine, args, message):
    before = set(volume_names(engine))
    p = d(engine, "create", *args, "busybox", "true")
    assert p.returncode != 0
    assert f"Error response from daemon: {message}" in p.stderr
    assert "Unable to find image" not in p.stderr, "a 404 would make the CLI try to pull"
    assert set(volume_names(engine)) == before, "a refused container leaves no volume behind"


def test_volume_events(engine):
    since = str(time.time())
    name = uniq("ev")
    ok(engine, "run", "--name", name, "-v", f"{name}:/d", "busybox", "true")
    cid = ok(engine, "inspect", "-f", "{{.Id}}", name).strip()
    ok(engine, "rm", name)
    ok(engine, "volume", "rm", name)
    out = ok(engine, "events", "--since", since, "--until", str(time.time() + 1), "--filter", "type=volume",
             "--format", "{{json .}}")
    events = [json.loads(line) for line in out.splitlines()]
    mine = [(e["Action"], e["Actor"]["Attributes"]) for e in events if e["Actor"]["ID"] == name]
    assert [a for a, _ in mine] == ["create", "mount", "unmount", "destroy"]
    assert mine[0][1] == {"driver": "local"}
    assert mine[1][1] == {"driver": "local", "container": cid, "destination": "/d", "read/write": "true",
                          "propagation": ""}
    assert mine[2][1] == {"driver": "local", "container": cid}


def test_volumes_and_their_users_survive_a_daemon_restart(berthd, rootfs_tar):
    ok(berthd, "import", str(rootfs_tar), "busybox:latest")
    ok(berthd, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "--label", "x=1", "fast")
    cid = ok(berthd, "run", "-d", "-v", "fast:/f", "-v", "plain:/p", "busybox", "sh", "-c",
             "echo hi > /f/x; sleep 100").strip()
    mountpoint = str(berthd.data / "volumes" / "fast" / "_data")
    try:
        wait_until(lambda: os.path.exists(os.path.join(mountpoint, "x")), what="the write to the tmpfs volume")
        berthd.stop()
        berthd.start()
        [v] = json.loads(ok(berthd, "volume", "inspect", "fast"))
        assert v["Labels"] == {"x": "1"}
        assert is_mounted(mountpoint), "still mounted for the running container"
        for name in ("fast", "plain"):
            p = d(berthd, "volume", "rm", name)
            assert f"remove {name}: volume is in use - [{cid}]" in p.stderr
        ok(berthd, "stop", "-t", "0", cid)
        assert not is_mounted(mountpoint)
    finally:
        d(berthd, "rm", "-f", cid)
