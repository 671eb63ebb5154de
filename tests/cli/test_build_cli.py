"""`berth build` against a real daemon, side by side with the docker CLI's
classic builder (DOCKER_BUILDKIT=0): the same Dockerfiles and flags give
images with the same config, the same output lines (ids aside) and the same
errors and exit statuses.

Both daemons: dockerd's classic builder and berthd's (engine/builder.h).
"""
import json
import os
import re
import shutil
import subprocess
import tarfile
import io
from pathlib import Path

import pytest

from berth_build import BUILD
from cli_daemon import Daemon, daemon_kinds, make_rootfs_tar


@pytest.fixture(scope="module", params=daemon_kinds())
def bd(request):
    kind = request.param
    if not (shutil.which("dockerd") and shutil.which("containerd") and shutil.which("docker")):
        pytest.skip("docker.io/containerd not installed")
    if not (BUILD / "berth").exists() and not os.environ.get("BERTH_CLI"):
        pytest.skip("berth CLI not built")
    base = Path(subprocess.run(["mktemp", "-d", "/tmp/berth-build.XXXXXX"], capture_output=True, text=True,
                               check=True).stdout.strip())
    d = Daemon(base, kind, checked=False)
    d.env["DOCKER_BUILDKIT"] = "0"
    # berth sends the context as a tar, as docker does, so the outputs compare
    # line for line; test_local_context_is_named_not_sent covers the default.
    d.env["BERTH_BUILD_SEND_CONTEXT"] = "1"
    try:
        d.start()
        r = d.run("berth", "import", str(make_rootfs_tar(base)), "bb:latest")
        assert r.returncode == 0, r.stderr
        yield d
    finally:
        d.stop()
        subprocess.run(["umount", "-R", str(base)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def write_tree(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return root


def strip_deprecation(stderr):
    """docker's classic builder announces its deprecation first; berth's is not deprecated."""
    if stderr.startswith("DEPRECATED:"):
        return stderr.split("\n\n", 1)[1]
    return stderr


def normalize(out, keep_size=False):
    """Ids aside; and the context size, unless the daemon read all of it (an
    early error cuts the upload short wherever it happens to be)."""
    out = re.sub(r"sha256:[0-9a-f]{64}", "sha256:ID", out)
    out = re.sub(r"\b[0-9a-f]{12}\b", "ID", out)
    if keep_size:
        return out
    return re.sub(r"(Sending build context to Docker daemon) +\S+", r"\1 SIZE", out)


def build_both(bd, tmp_path, files, *args, input=None, context="."):
    """The same build with both CLIs (without cache, so the outputs compare);
    returns {cli: (process, image tag)}."""
    ctx = write_tree(tmp_path / "ctx", files)
    results = {}
    for cli in ("docker", "berth"):
        tag = f"{cli}-{tmp_path.name.lower()}"[:100]
        p = subprocess.run([bd.berth if cli == "berth" else "docker", "build", "--no-cache", "-t", tag, *args,
                            context], cwd=ctx, env=bd.env, capture_output=True, text=True, input=input, timeout=120)
        results[cli] = (p, tag)
    return results


def config(bd, tag):
    r = bd.run("docker", "image", "inspect", tag)
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)[0]["Config"]
    return {k: c.get(k) for k in ("Env", "Cmd", "Entrypoint", "Labels", "WorkingDir", "User", "ExposedPorts")}


def assert_same_build(bd, results, keep_size=True):
    (d, dtag), (b, btag) = results["docker"], results["berth"]
    assert d.returncode == 0, d.stderr
    assert b.returncode == 0, b.stderr
    assert b.stderr == "", b.stderr
    # The same tar, byte for byte as long as no name needs a pax header: the
    # sizes sent agree. (Not when docker splices a Dockerfile into its tar:
    # its count then stops wherever the daemon stopped reading.)
    assert normalize(b.stdout.replace(btag, "TAG"), keep_size) == normalize(d.stdout.replace(dtag, "TAG"), keep_size)
    assert config(bd, btag) == config(bd, dtag)
    return b.stdout


CASES = {
    "instructions": ({
        "Dockerfile": "FROM bb:latest\nENV A=1 B=two\nWORKDIR /app\nCOPY hello.txt .\nRUN cat hello.txt\n"
                      "LABEL org.example=yes\nEXPOSE 8080\nUSER nobody\nCMD [\"sh\", \"-c\", \"echo hi\"]\n",
        "hello.txt": "hello from the context\n",
    }, []),
    "multi_stage": ({
        "Dockerfile": "FROM bb:latest AS builder\nRUN echo built > /artifact\n"
                      "FROM bb:latest\nCOPY --from=builder /artifact /artifact\nRUN cat /artifact\nENTRYPOINT [\"cat\"]\n",
    }, []),
    "build_arg_target_label": ({
        "Dockerfile": "ARG BASE=bb:latest\nFROM $BASE AS one\nARG GREETING=default\nENV GREETING=$GREETING\n"
                      "RUN echo $GREETING\nFROM one AS two\nRUN false\n",
    }, ["--build-arg", "GREETING=hello", "--target", "one", "--label", "from.flag=1", "--label", "bare"]),
    "dockerignore": ({
        "Dockerfile": "FROM bb:latest\nCOPY . /ctx\nRUN find /ctx | sort\n",
        ".dockerignore": "*.log\nsecret\ndocs/**\n!docs/keep.md\nDockerfile\n",
        "app.log": "", "main.c": "int main;\n", "secret/key": "k", "docs/keep.md": "k", "docs/drop.md": "d",
    }, []),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_image_and_output_as_docker(bd, tmp_path, case):
    files, args = CASES[case]
    out = assert_same_build(bd, build_both(bd, tmp_path, files, *args))
    assert out.startswith("Sending build context to Docker daemon  ")
    assert re.search(r"^Successfully built [0-9a-f]{12}$", out, re.M)


def test_local_context_is_named_not_sent(bd, tmp_path):
    """berth with berthd on its unix socket names the context directory
    (contextpath=) instead of sending a tar: same image, no upload line. With
    dockerd it sends the tar as docker does."""
    files, args = CASES["dockerignore"]
    ctx = write_tree(tmp_path / "ctx", files)
    env = {k: v for k, v in bd.env.items() if k != "BERTH_BUILD_SEND_CONTEXT"}
    p = subprocess.run([bd.berth, "build", "--no-cache", "-t", "named", "."], cwd=ctx, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Sending build context") == (bd.kind == "dockerd"), p.stdout
    listed = [line for line in p.stdout.splitlines() if line.startswith("/ctx")]
    assert listed == ["/ctx", "/ctx/.dockerignore", "/ctx/docs", "/ctx/docs/keep.md", "/ctx/main.c"]


def test_dockerignore_decides_what_copy_sees(bd, tmp_path):
    files, args = CASES["dockerignore"]
    out = build_both(bd, tmp_path, files, *args)["berth"][0].stdout
    listed = [line for line in out.splitlines() if line.startswith("/ctx")]
    assert listed == ["/ctx", "/ctx/.dockerignore", "/ctx/docs", "/ctx/docs/keep.md", "/ctx/main.c"]


def test_build_arg_from_environment(bd, tmp_path):
    bd.env["GREETING"] = "from-env"
    try:
        files = {"Dockerfile": "FROM bb:latest\nARG GREETING\nENV G=$GREETING\n"}
        results = build_both(bd, tmp_path, files, "--build-arg", "GREETING")
        assert_same_build(bd, results)
        assert "G=from-env" in config(bd, results["berth"][1])["Env"]
    finally:
        del bd.env["GREETING"]


def test_dockerfile_outside_the_context(bd, tmp_path):
    (tmp_path / "elsewhere.df").write_text("FROM bb:latest\nCOPY . /ctx\nRUN ls -a /ctx\n")
    files = {"a.txt": "a\n", ".dockerignore": "b.txt\n", "b.txt": "b\n"}
    results = build_both(bd, tmp_path, files, "-f", str(tmp_path / "elsewhere.df"))
    out = assert_same_build(bd, results, keep_size=False)
    # The random-named Dockerfile and the .dockerignore naming it stay hidden.
    assert "a.txt" in out and "b.txt" not in out and ".dockerfile." not in out


def test_dockerfile_from_stdin_with_a_context_dir(bd, tmp_path):
    results = build_both(bd, tmp_path, {"a.txt": "a\n"}, "-f", "-",
                         input="FROM bb:latest\nCOPY a.txt /\nRUN cat /a.txt\n")
    assert "Step 3/3 : RUN cat /a.txt" in assert_same_build(bd, results, keep_size=False)


def test_dockerfile_alone_on_stdin(bd, tmp_path):
    results = build_both(bd, tmp_path, {}, input="FROM bb:latest\nENV ONLY=stdin\n", context="-")
    assert_same_build(bd, results)


def test_tar_context_on_stdin(bd, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in (("Dockerfile", b"FROM bb:latest\nCOPY f /f\nRUN cat /f\n"), ("f", b"from tar\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    p = subprocess.run([bd.berth, "build", "-t", "tarctx", "-"], cwd=ctx, env=bd.env, capture_output=True,
                       input=buf.getvalue(), timeout=120)
    assert p.returncode == 0, p.stderr
    assert b"from tar\n" in p.stdout


def test_quiet_prints_only_the_id_and_iidfile_gets_it(bd, tmp_path):
    files = {"Dockerfile": "FROM bb:latest\nRUN echo noisy\n"}
    results = {}
    for cli in ("docker", "berth"):
        iid = tmp_path / f"{cli}.iid"
        iid.write_text("stale")
        ctx = write_tree(tmp_path / cli, files)
        p = subprocess.run([bd.berth if cli == "berth" else "docker", "build", "-q", "--iidfile", str(iid), "."],
                           cwd=ctx, env=bd.env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", p.stdout), p.stdout
        results[cli] = (p.stdout, iid.read_text())
    assert results["berth"][1] == results["berth"][0]
    assert results["docker"][1] == results["docker"][0]


def test_iidfile_without_quiet_holds_the_image_id(bd, tmp_path):
    ctx = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM bb:latest\nENV X=1\n"})
    p = subprocess.run([bd.berth, "build", "--iidfile", "iid", "-t", "iidtest", "."], cwd=ctx, env=bd.env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    image_id = json.loads(bd.run("docker", "image", "inspect", "iidtest").stdout)[0]["Id"]
    assert (ctx / "iid").read_text() == image_id


ERRORS = {
    "missing_dockerfile": ({"a": ""}, [], 1),
    "bad_instruction": ({"Dockerfile": "FROM bb:latest\nRUNN echo\n"}, [], 1),
    "failing_run": ({"Dockerfile": "FROM bb:latest\nRUN exit 3\n"}, [], 3),
    "missing_context": ({"Dockerfile": "FROM bb:latest\n"}, ["MISSING"], 1),
    "missing_f": ({"Dockerfile": "FROM bb:latest\n"}, ["-f", "nope.df"], 1),
    "stdin_twice": ({}, ["-f", "-", "-"], 1),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_as_docker_reports_them(bd, tmp_path, case):
    files, args, status = ERRORS[case]
    ctx = write_tree(tmp_path / "ctx", files)
    if not args or args[-1] != "-" and args[0] != "MISSING":
        args = [*args, "."]
    seen = {}
    for cli in ("docker", "berth"):
        p = subprocess.run([bd.berth if cli == "berth" else "docker", "build", *args], cwd=ctx, env=bd.env,
                           capture_output=True, text=True, input="", timeout=120)
        seen[cli] = p
        assert p.returncode == status, (cli, p.returncode, p.stdout, p.stderr)
    d, b = seen["docker"], seen["berth"]
    assert b.stderr.replace("berth build", "docker build") == strip_deprecation(d.stderr)
    assert normalize(b.stdout) == normalize(d.stdout)


def test_secret_reaches_run_but_not_the_image(bd, tmp_path):
    ctx = write_tree(tmp_path / "ctx", {
        "Dockerfile": "FROM bb:latest\nRUN --mount=type=secret,id=tok cat /run/secrets/tok; echo\n"
                      "RUN --mount=type=secret,id=absent echo optional secrets may be missing\n"})
    (tmp_path / "tok.txt").write_text("s3cret-value")
    p = subprocess.run([bd.berth, "build", "--no-cache", "--secret", f"id=tok,src={tmp_path / 'tok.txt'}", "-t",
                        "withsecret", "."], cwd=ctx, env=bd.env, capture_output=True, text=True, timeout=120)
    if bd.kind == "dockerd":
        # dockerd's classic builder takes no secrets; berth says so instead of dropping it.
        assert p.returncode == 125, p.stdout + p.stderr
        assert "--secret needs berthd's builder" in p.stderr
        return
    assert p.returncode == 0, p.stdout + p.stderr
    assert "s3cret-value" in p.stdout
    assert "optional secrets may be missing" in p.stdout
    # Neither the secret nor its mountpoint is in the image.
    r = bd.run("docker", "run", "--rm", "withsecret", "sh", "-c", "ls -a /run/secrets 2>&1; ls /run")
    assert "tok" not in r.stdout and "s3cret" not in r.stdout, r.stdout
    r = bd.run("docker", "save", "withsecret", binary_output=True)
    assert b"s3cret-value" not in r.stdout


def test_output_exports_the_file_system(bd, tmp_path):
    ctx = write_tree(tmp_path / "ctx", {"Dockerfile": "FROM bb:latest\nRUN echo built > /made.txt\n"})
    out, tar = tmp_path / "out", tmp_path / "fs.tar"
    p = subprocess.run([bd.berth, "build", "-o", f"type=local,dest={out}", "--output", f"type=tar,dest={tar}", "."],
                       cwd=ctx, env=bd.env, capture_output=True, text=True, timeout=120)
    if bd.kind == "dockerd":
        assert p.returncode == 125, p.stdout + p.stderr
        assert "--output needs berthd's builder" in p.stderr
        return
    assert p.returncode == 0, p.stdout + p.stderr
    assert (out / "made.txt").read_text() == "built\n"
    assert (out / "bin" / "busybox").exists()
    with tarfile.open(tar) as t:
        assert t.extractfile("made.txt").read() == b"built\n"
