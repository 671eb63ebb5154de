"""berth against a real engine, compared with the docker CLI where docker's
output is deterministic (the same daemon answers both)."""
import io
import json
import re
import tarfile
import time
import uuid

import pytest


def same(daemon, *args, input=None):
    """Runs berth and docker with the same arguments; returns both results."""
    b = daemon.run("berth", *args, check=False, input=input)
    d = daemon.run("docker", *args, check=False, input=input) if daemon.kind == "dockerd" else None
    return b, d


def docker_words(s):
    return s.replace("docker", "berth").replace("Docker", "Berth")


def assert_same(daemon, *args, input=None, stderr=True):
    b, d = same(daemon, *args, input=input)
    if d is None:
        return b
    assert b.returncode == d.returncode, (args, b.stderr, d.stderr)
    assert b.stdout == d.stdout, args
    if stderr:
        assert docker_words(b.stderr).replace("Berth daemon", "berth daemon") == docker_words(d.stderr).replace(
            "Berth daemon", "berth daemon"), args
    return b


def name():
    return "t" + uuid.uuid4().hex[:8]


def test_version_and_info(daemon):
    v = daemon.run("berth", "version").stdout
    assert "Server:" in v and "API version:" in v
    assert daemon.run("berth", "version", "--format", "{{.Server.ApiVersion}}").stdout.strip()
    assert "Server Version:" in daemon.run("berth", "info").stdout
    assert daemon.run("berth", "info", "--format", "{{.OSType}}").stdout == "linux\n"


def test_images_listing_matches_docker(daemon, image):
    assert_same(daemon, "images")
    assert_same(daemon, "images", "-q")
    assert_same(daemon, "images", "--no-trunc")
    assert_same(daemon, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}")
    assert_same(daemon, "image", "ls", "--format", "table {{.Repository}}\t{{.Tag}}")
    # Relative times may tick between the two runs: compare the rest.
    assert_same(daemon, "history", "--format", "table {{.ID}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", image)


def test_images_reference_filter_lists_only_matching_tags(daemon, image):
    """dockerd lists, of an image with several names, only the names the filter matches."""
    n = name()
    for ref in (f"{n}a/x:1", f"{n}a/x:2", f"{n}b/y:1"):
        daemon.run("berth", "tag", image, ref)
    fmt = ("--format", "{{.Repository}}:{{.Tag}}")
    listed = lambda *args: sorted(daemon.run("berth", "images", *fmt, *args).stdout.split())
    assert listed(f"{n}a/x") == [f"{n}a/x:1", f"{n}a/x:2"]
    assert listed(f"{n}a/*") == [f"{n}a/x:1", f"{n}a/x:2"]
    assert listed("--filter", f"reference={n}b/y:1") == [f"{n}b/y:1"]
    assert listed(f"{n}c/*") == []
    daemon.run("berth", "rmi", f"{n}a/x:1", f"{n}a/x:2", f"{n}b/y:1")


def test_import_with_message_and_change(daemon):
    out = daemon.run("berth", "import", "-m", "hello", "-c", "ENV FOO=bar", "-", "imp:one",
                     input=daemon.tar.read_bytes(), binary_output=True).stdout.decode()
    assert out.startswith("sha256:")
    cfg = json.loads(daemon.run("berth", "image", "inspect", "imp:one").stdout)[0]
    assert cfg["Comment"] == "hello"
    assert "FOO=bar" in cfg["Config"]["Env"]
    daemon.run("berth", "rmi", "imp:one")


def test_run_output_and_exit_codes(daemon, image):
    r = assert_same(daemon, "run", "--rm", image, "echo", "hello")
    assert r.stdout == "hello\n"
    r = assert_same(daemon, "run", "--rm", image, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    b, d = same(daemon, "run", "--rm", image, "/nonexistent")
    assert b.returncode == 127
    if d:
        assert d.returncode == 127
    assert "Run 'berth run --help' for more information" in b.stderr


def test_run_flags_reach_the_container(daemon, image):
    env = daemon.tar.parent / "envfile"
    env.write_text("# comment\nFROM_FILE=yes\n")
    r = daemon.run("berth", "run", "--rm", "-e", "A=1", "--env-file", str(env), "-w", "/tmp", "-u", "65534",
                   "--hostname", "hh", image, "sh", "-c", 'echo $A $FROM_FILE $(pwd) $(id -u) $(hostname)')
    assert r.stdout == "1 yes /tmp 65534 hh\n"
    r = daemon.run("berth", "run", "--rm", "-i", image, "cat", input="piped stdin\n")
    assert r.stdout == "piped stdin\n"
    r = daemon.run("berth", "run", "--rm", "--entrypoint", "echo", image, "via", "entrypoint")
    assert r.stdout == "via entrypoint\n"


def test_run_detached_logs_exec_inspect(daemon, image):
    n = name()
    r = daemon.run("berth", "run", "-d", "--name", n, "-l", "k=v", image, "sh", "-c",
                   "echo started; echo warn >&2; sleep 300")
    cid = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    time.sleep(0.5)
    logs = daemon.run("berth", "logs", n)
    assert (logs.stdout, logs.stderr) == ("started\n", "warn\n")
    assert_same(daemon, "logs", "--tail", "1", n)
    ex = daemon.run("berth", "exec", n, "sh", "-c", "echo in-exec; exit 5", check=False)
    assert (ex.returncode, ex.stdout) == (5, "in-exec\n")
    assert daemon.run("berth", "exec", "-i", n, "cat", input="xyz").stdout == "xyz"
    assert daemon.run("berth", "exec", "-e", "V=9", "-w", "/etc", n, "sh", "-c", "echo $V $(pwd)").stdout == "9 /etc\n"
    assert_same(daemon, "inspect", n)
    assert_same(daemon, "inspect", "-f", "{{.State.Status}} {{.Name}} {{.Config.Labels.k}}", n)
    assert_same(daemon, "container", "inspect", "--format", "{{json .Config.Cmd}}", n)
    assert_same(daemon, "ps", "--format", "{{.Names}} {{.Command}} {{.Image}} {{.Labels}}", "--filter", f"name={n}")
    assert_same(daemon, "ps", "-q", "--no-trunc", "--filter", f"name={n}")
    assert_same(daemon, "top", n)
    assert_same(daemon, "port", n)
    # State-changing verbs run once, with berth only.
    assert daemon.run("berth", "stop", "-t", "1", n).stdout == n + "\n"
    assert_same(daemon, "wait", n)
    assert_same(daemon, "ps", "-a", "--filter", f"name={n}", "--format", "{{.Status}}")
    assert daemon.run("berth", "rm", n).stdout == n + "\n"


def test_cp_both_ways(daemon, image, tmp_path):
    n = name()
    daemon.run("berth", "run", "-d", "--name", n, image, "sleep", "300")
    src = tmp_path / "hello.txt"
    src.write_text("hello cp\n")
    daemon.run("berth", "cp", str(src), f"{n}:/tmp/")
    daemon.run("berth", "cp", str(src), f"{n}:/tmp/renamed.txt")
    assert daemon.run("berth", "exec", n, "cat", "/tmp/hello.txt", "/tmp/renamed.txt").stdout == "hello cp\n" * 2
    d = tmp_path / "dir"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "f").write_text("deep\n")
    daemon.run("berth", "cp", str(d), f"{n}:/tmp/copied")
    assert daemon.run("berth", "exec", n, "cat", "/tmp/copied/sub/f").stdout == "deep\n"
    out = tmp_path / "back"
    out.mkdir()
    daemon.run("berth", "cp", f"{n}:/tmp/hello.txt", str(out))
    daemon.run("berth", "cp", f"{n}:/tmp/hello.txt", str(out / "other.txt"))
    daemon.run("berth", "cp", f"{n}:/tmp/copied", str(out / "tree"))
    assert (out / "hello.txt").read_text() == "hello cp\n"
    assert (out / "other.txt").read_text() == "hello cp\n"
    assert (out / "tree" / "sub" / "f").read_text() == "deep\n"
    raw = daemon.run("berth", "cp", f"{n}:/tmp/hello.txt", "-", binary_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        assert t.extractfile("hello.txt").read() == b"hello cp\n"
    # The daemon lists changes in no particular order.
    b, d = same(daemon, "diff", n)
    assert "A /tmp/hello.txt" in b.stdout.splitlines()
    if d:
        assert sorted(b.stdout.splitlines()) == sorted(d.stdout.splitlines())
    daemon.run("berth", "rm", "-f", n)


def test_save_load_tag_rmi(daemon, image, tmp_path):
    daemon.run("berth", "tag", image, "bbcopy:v1")
    assert_same(daemon, "images", "bbcopy")
    tar = tmp_path / "img.tar"
    daemon.run("berth", "save", "-o", str(tar), "bbcopy:v1")
    piped = daemon.run("berth", "save", "bbcopy:v1", binary_output=True).stdout
    assert tarfile.open(fileobj=io.BytesIO(piped)).getnames()
    r = daemon.run("berth", "rmi", "bbcopy:v1")
    assert r.stdout == "Untagged: bbcopy:v1\n"
    r = daemon.run("berth", "load", "-i", str(tar))
    assert r.stdout == "Loaded image: bbcopy:v1\n"
    r = daemon.run("berth", "load", input=tar.read_bytes(), binary_output=True)
    assert r.stdout == b"Loaded image: bbcopy:v1\n"
    daemon.run("berth", "image", "rm", "bbcopy:v1")


def test_errors_match_docker(daemon, image):
    assert_same(daemon, "rm", "nosuch1", "nosuch2")
    assert_same(daemon, "stop", "nosuch")
    assert_same(daemon, "inspect", "nosuch")
    assert_same(daemon, "logs", "nosuch")
    assert_same(daemon, "rmi", "nosuch")
    assert_same(daemon, "rm")
    assert_same(daemon, "ps", "-z")
    assert_same(daemon, "run", "--foo", image)
    b, d = same(daemon, "exec", "nosuch", "true")
    assert b.returncode == 1 and "No such container: nosuch" in b.stderr


def test_create_start_attach_restart(daemon, image):
    n = name()
    cid = daemon.run("berth", "create", "--name", n, image, "sh", "-c", "echo ran; exit 7").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    r = daemon.run("berth", "start", "-a", n, check=False)
    assert (r.returncode, r.stdout) == (7, "ran\n")
    assert daemon.run("berth", "inspect", "-f", "{{.State.ExitCode}}", n).stdout == "7\n"
    assert daemon.run("berth", "start", n).stdout == n + "\n"
    assert daemon.run("berth", "wait", n).stdout == "7\n"
    daemon.run("berth", "rename", n, n + "x")
    assert daemon.run("berth", "rm", n + "x").stdout == n + "x\n"


def test_pause_kill_export_commit(daemon, image, tmp_path):
    n = name()
    daemon.run("berth", "run", "-d", "--name", n, image, "sleep", "300")
    daemon.run("berth", "exec", n, "sh", "-c", "echo committed > /marker")
    assert daemon.run("berth", "pause", n).stdout == n + "\n"
    assert daemon.run("berth", "inspect", "-f", "{{.State.Paused}}", n).stdout == "true\n"
    assert daemon.run("berth", "unpause", n).stdout == n + "\n"
    out = tmp_path / "fs.tar"
    daemon.run("berth", "export", "-o", str(out), n)
    assert "marker" in tarfile.open(out).getnames() or "./marker" in tarfile.open(out).getnames()
    img = daemon.run("berth", "commit", n, "committed:v1").stdout.strip()
    assert img.startswith("sha256:")
    assert daemon.run("berth", "run", "--rm", "committed:v1", "cat", "/marker").stdout == "committed\n"
    assert daemon.run("berth", "kill", n).stdout == n + "\n"
    daemon.run("berth", "rm", n)
    daemon.run("berth", "rmi", "committed:v1")


def test_stats_no_stream(daemon, image):
    n = name()
    daemon.run("berth", "run", "-d", "--name", n, image, "sleep", "300")
    r = daemon.run("berth", "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", n)
    assert r.stdout == f"{n} 1\n"
    r = daemon.run("berth", "stats", "--no-stream", n)
    assert r.stdout.startswith("CONTAINER ID   NAME")
    daemon.run("berth", "rm", "-f", n)


def test_events_since_until(daemon, image):
    start = str(int(time.time()) - 1)
    n = name()
    daemon.run("berth", "run", "--rm", "--name", n, image, "true")
    until = str(int(time.time()) + 1)
    time.sleep(1.2)
    r = daemon.run("berth", "events", "--since", start, "--until", until, "--filter", f"container={n}",
                   "--format", "{{.Action}}")
    assert "start" in r.stdout.split() and "die" in r.stdout.split()


def test_prune_and_df(daemon, image):
    n = name()
    daemon.run("berth", "create", "--name", n, image, "true")
    r = daemon.run("berth", "container", "prune", "-f")
    assert r.stdout.startswith("Deleted Containers:\n")
    assert "Total reclaimed space:" in r.stdout
    assert daemon.run("berth", "system", "df").stdout.startswith("TYPE ")
