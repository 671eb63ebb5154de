"""berthd's classic builder (POST /build) beyond single Dockerfiles (those are
in test_build_table.py): the step cache (warm builds, one changed file,
daemon restarts, --no-cache, builder prune), failures that leave nothing
half-made, hostile context tars, intermediate images, RUN --mount=type=cache,
and the other clients: the python docker SDK and docker-compose build."""
import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading

import pytest

from berthd_daemon import CLIS, classic_build
from registry_server import Registry, htpasswd_auth, write_auth

COMPOSE = shutil.which("docker-compose")


def build(d, ctx, *args, check=True):
    p = classic_build(d, ctx, *args)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def write(ctx, files):
    for name, content in files.items():
        f = ctx / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(content)
    return ctx


def steps(out):
    """Per step other than FROM: True when it came from the cache."""
    result, current = [], None
    for line in out.splitlines():
        if line.startswith("Step "):
            current = None
            if " : FROM " not in line:
                current = len(result)
                result.append(False)
        elif line.strip() == "---> Using cache" and current is not None:
            result[current] = True
    return result


DOCKERFILE = """\
FROM bb:latest AS build
ARG FLAVOUR=plain
ENV FLAVOUR=$FLAVOUR
WORKDIR /src
COPY src/ .
RUN cat *.txt > /all.txt && echo "$FLAVOUR" >> /all.txt
FROM bb:latest
COPY --from=build /all.txt /all.txt
COPY static/ /static/
CMD ["cat", "/all.txt"]
"""


def project(tmp_path):
    files = {"Dockerfile": DOCKERFILE, "src/a.txt": "a\n", "src/b.txt": "b\n", "static/s.txt": "s\n"}
    return write(tmp_path / "ctx", files)


def run_image(d, tag):
    p = d.docker(CLIS[0], "run", "--rm", tag)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_warm_build_uses_the_cache_for_every_step(bd, tmp_path):
    ctx = project(tmp_path)
    cold = build(bd, ctx, "-t", "app:1")
    assert not any(steps(cold.stdout)), cold.stdout
    warm = build(bd, ctx, "-t", "app:2")
    assert steps(warm.stdout) == [True] * 8, warm.stdout
    assert "Running in" not in warm.stdout
    ids = [json.loads(bd.docker(CLIS[0], "image", "inspect", t).stdout)[0]["Id"] for t in ("app:1", "app:2")]
    assert ids[0] == ids[1]
    assert run_image(bd, "app:2") == "a\nb\nplain\n"


def test_a_changed_file_rebuilds_only_what_depends_on_it(bd, tmp_path):
    ctx = project(tmp_path)
    build(bd, ctx, "-t", "app:1")
    (ctx / "static" / "s.txt").write_text("changed\n")
    out = build(bd, ctx, "-t", "app:2").stdout
    # The first stage and the COPY --from are cached; COPY static/ and CMD are not.
    assert steps(out) == [True, True, True, True, True, True, False, False], out
    # A file's mtime alone changes nothing.
    os.utime(ctx / "src" / "a.txt", (1, 1))
    assert all(steps(build(bd, ctx).stdout))
    # A rebuilt stage whose output is the same changes nothing after it:
    # COPY --from keys on content, not on the stage's image.
    (ctx / "src" / "c.txt").write_text("")
    out = build(bd, ctx).stdout
    assert steps(out) == [True, True, True, False, False, True, True, True], out
    # Content in the first stage rebuilds it and what uses it.
    (ctx / "src" / "b.txt").write_text("B\n")
    out = build(bd, ctx, "-t", "app:3").stdout
    assert steps(out) == [True, True, True, False, False, False, False, False], out
    assert run_image(bd, "app:3") == "a\nB\nplain\n"


def test_used_build_args_are_part_of_the_key(bd, tmp_path):
    ctx = project(tmp_path)
    build(bd, ctx)
    out = build(bd, ctx, "--build-arg", "FLAVOUR=spicy", "-t", "spicy").stdout
    # The ARG line itself is the same; the ENV that uses the value is not.
    assert steps(out)[:2] == [True, False], out
    assert run_image(bd, "spicy").endswith("spicy\n")
    # An arg no ARG declares changes nothing (and is reported as unused).
    out = build(bd, ctx, "--build-arg", "UNUSED=1").stdout
    assert all(steps(out)), out
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in out


def test_cache_survives_a_daemon_restart_and_no_cache_ignores_it(bd, tmp_path):
    ctx = project(tmp_path)
    build(bd, ctx, "-t", "app:1")
    bd.stop()
    bd.start()
    out = build(bd, ctx, "-t", "app:1").stdout
    assert all(steps(out)), out
    out = build(bd, ctx, "--no-cache", "-t", "app:1").stdout
    assert "Using cache" not in out
    assert out.count("Running in") == 1


def test_builder_prune_forgets_the_cache_but_keeps_tagged_images(bd, tmp_path):
    ctx = project(tmp_path)
    build(bd, ctx, "-t", "app:1")
    all_before = bd.docker(CLIS[0], "images", "-aq").stdout.split()
    assert len(all_before) > 5  # the intermediate images...
    listed = bd.docker(CLIS[0], "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    # ...are hidden without -a, except the first stage's last (no child: dangling, as in docker).
    assert sorted(listed) == ["<none>:<none>", "app:1", "bb:latest"]
    p = bd.docker(CLIS[0], "builder", "prune", "-f")
    assert p.returncode == 0, p.stderr
    assert "Total reclaimed space" in p.stdout
    # Intermediates that the tagged image's chain still needs stay (they are its parents).
    assert bd.docker(CLIS[0], "image", "inspect", "app:1").returncode == 0
    assert run_image(bd, "app:1") == "a\nb\nplain\n"
    out = build(bd, ctx).stdout
    assert "Using cache" not in out


def test_failing_run_reports_its_code_and_tags_nothing(bd, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM bb:latest\nENV X=1\nRUN echo doing; echo oops >&2; exit 7\n"})
    images_before = bd.docker(CLIS[0], "images", "-aq").stdout.split()
    p = build(bd, ctx, "-t", "broken", check=False)
    assert p.returncode == 7, p.stdout + p.stderr
    assert "doing" in p.stdout and "oops" in p.stdout
    assert "The command '/bin/sh -c echo doing; echo oops >&2; exit 7' returned a non-zero code: 7" in p.stderr
    assert bd.docker(CLIS[0], "image", "inspect", "broken").returncode != 0
    # Only the ENV step's image is new (it is cache for the next attempt).
    images_after = bd.docker(CLIS[0], "images", "-aq").stdout.split()
    assert len(images_after) == len(images_before) + 1


def post_build(d, body, query=""):
    return subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--unix-socket", str(d.sock), "-X", "POST",
                           "-H", "Content-Type: application/x-tar", "--data-binary", "@-",
                           f"http://d/v1.41/build?{query}"], input=body, capture_output=True, timeout=60)


def tar_of(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_context_entry_climbing_out_is_refused_and_writes_nothing(bd, tmp_path):
    victim = tmp_path / "victim"
    body = tar_of([("Dockerfile", b"FROM bb:latest\n", "file"),
                   (f"../../../../../../../..{victim}", b"pwned", "file")])
    p = post_build(bd, body, "t=evil")
    status = p.stdout.decode().rsplit("\n", 1)[1]
    assert status == "400", p.stdout
    assert b"failed to read the build context" in p.stdout
    assert not victim.exists()
    assert bd.docker(CLIS[0], "image", "inspect", "evil").returncode != 0


def test_copy_through_an_absolute_symlink_stays_in_the_context(bd, tmp_path):
    # The link points at the host's /etc; COPY resolves it inside the context.
    body = tar_of([("Dockerfile", b"FROM bb:latest\nCOPY link/passwd /got\nRUN cat /got\n", "file"),
                   ("etc/passwd", b"context-passwd\n", "file"),
                   ("link", "/etc", "sym")])
    p = post_build(bd, body, "t=linked")
    assert p.stdout.decode().rsplit("\n", 1)[1] == "200"
    assert b"context-passwd" in p.stdout
    assert b"root:x:0:0" not in p.stdout


def test_run_mount_cache_persists_between_builds(bd, tmp_path):
    df = "FROM bb:latest\nARG N\nRUN --mount=type=cache,target=/cache echo run-$N >> /cache/log && cat /cache/log\n"
    ctx = write(tmp_path / "ctx", {"Dockerfile": df})
    build(bd, ctx, "--build-arg", "N=1")
    out = build(bd, ctx, "--build-arg", "N=2").stdout
    assert "run-1\nrun-2" in out, out
    # The cache directory is not part of the image.
    assert "cache" not in bd.docker(CLIS[0], "run", "--rm", "bb:latest", "ls", "/").stdout.split()


def test_python_sdk_builds_and_streams(bd, tmp_path):
    docker = pytest.importorskip("docker")
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM bb:latest\nRUN echo from-sdk > /f\nLABEL via=sdk\n"})
    client = docker.DockerClient(base_url=bd.host, version="1.41")
    image, logs = client.images.build(path=str(ctx), tag="sdk:1", rm=True)
    assert any("from-sdk" not in (c.get("stream") or "") for c in logs)
    assert image.labels == {"via": "sdk"}
    assert "sdk:1" in image.tags
    with pytest.raises(docker.errors.BuildError) as e:
        client.images.build(fileobj=io.BytesIO(b"FROM bb:latest\nRUN exit 4\n"))
    assert "returned a non-zero code: 4" in str(e.value)


@pytest.mark.skipif(not COMPOSE, reason="docker-compose missing")
def test_compose_build(bd, tmp_path):
    proj = write(tmp_path / "proj", {
        "docker-compose.yml": 'version: "3.8"\nservices:\n  app:\n    build:\n      context: ./app\n'
                              '      args:\n        GREETING: composed\n    image: composed:1\n',
        "app/Dockerfile": "FROM bb:latest\nARG GREETING\nRUN echo $GREETING > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
    })
    env = dict(os.environ, DOCKER_HOST=bd.host)
    env.pop("DOCKER_CONTEXT", None)
    p = subprocess.run([COMPOSE, "--no-ansi", "-p", "b", "build"], cwd=proj, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert run_image(bd, "composed:1") == "composed\n"


@pytest.fixture
def web(tmp_path):
    """A static HTTP server on loopback for ADD <url>."""
    root = tmp_path / "www"
    (root / "files").mkdir(parents=True)
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root / "files", f"http://127.0.0.1:{server.server_address[1]}/files"
    server.shutdown()


def test_add_fetches_urls_without_unpacking(bd, tmp_path, web):
    files, url = web
    (files / "notes.txt").write_text("fetched over http\n")
    with tarfile.open(files / "bundle.tar", "w") as t:
        info = tarfile.TarInfo("inside.txt")
        info.size = 2
        t.addfile(info, io.BytesIO(b"x\n"))
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM bb:latest\nADD {url}/notes.txt {url}/bundle.tar /got/\n"
                                                 f"ADD {url}/notes.txt /renamed.txt\n"})
    build(bd, ctx, "-t", "fetched")
    out = bd.docker(CLIS[0], "run", "--rm", "fetched", "sh", "-c",
                    "stat -c '%a %n' /got/* /renamed.txt; cat /got/notes.txt").stdout
    assert out == "600 /got/bundle.tar\n600 /got/notes.txt\n600 /renamed.txt\nfetched over http\n", out
    # A changed download is a changed step; an unchanged one is cached.
    assert all(steps(build(bd, ctx).stdout))
    (files / "notes.txt").write_text("changed\n")
    assert steps(build(bd, ctx).stdout) == [False, False]


def test_add_of_a_missing_url_fails_with_the_status(bd, tmp_path, web):
    _, url = web
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM bb:latest\nADD {url}/nope.txt /x\n"})
    p = build(bd, ctx, check=False)
    assert p.returncode == 1
    assert f"ADD failed: failed to GET {url}/nope.txt with status 404" in p.stderr, p.stderr


def test_run_mount_bind_stays_in_the_context(bd, tmp_path):
    # An uploaded context's symlink to /etc resolves inside the context, not on the host.
    body = tar_of([("Dockerfile", b"FROM bb:latest\nRUN --mount=type=bind,source=link/hostname,target=/m cat /m\n",
                    "file"),
                   ("etc/hostname", b"context-hostname\n", "file"),
                   ("link", "/etc", "sym")])
    p = post_build(bd, body, "t=bound")
    assert p.stdout.decode().rsplit("\n", 1)[1] == "200"
    assert b"context-hostname" in p.stdout
    assert open("/etc/hostname", "rb").read().strip() not in p.stdout


def layer_files(d, image, index):
    """Regular files of the image's index-th layer: name -> (size, mode, uid, gid, mtime, sha256)."""
    import hashlib
    raw = subprocess.run([CLIS[0], "save", image], env=dict(os.environ, DOCKER_HOST=d.host), capture_output=True,
                         timeout=60, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        manifest = json.load(t.extractfile("manifest.json"))
        layer = t.extractfile(manifest[0]["Layers"][index]).read()
    out = {}
    with tarfile.open(fileobj=io.BytesIO(layer)) as lt:
        for m in lt:
            if m.isfile():
                out[m.name] = (m.size, m.mode, m.uid, m.gid, m.mtime, hashlib.sha256(lt.extractfile(m).read()).hexdigest())
    return out


def test_unchanged_files_of_a_changed_copy_are_the_same_in_the_layer(bd, tmp_path):
    # The second build links unchanged files from the first build's layer;
    # its layer must hold exactly what copying gives (a build without the
    # link index proves it), and the first image must not change.
    files = {f"src/d{i % 3}/f{i}.txt": f"file {i}\n" * (i + 1) for i in range(30)}
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM bb:latest\nCOPY src/ /dst/\n", **files})
    os.chmod(ctx / "src" / "d1" / "f4.txt", 0o751)
    build(bd, ctx, "-t", "v1")
    before = layer_files(bd, "v1", 1)
    (ctx / "src" / "d2" / "f5.txt").write_text("changed\n")
    os.chmod(ctx / "src" / "d0" / "f3.txt", 0o700)  # same content, other mode: copied, not linked
    build(bd, ctx, "-t", "v2")
    linked = layer_files(bd, "v2", 1)
    # The two layers' snapshots share the unchanged files' inodes.
    copies = list((bd.data / "snapshots").glob("*/fs/dst/d0/f0.txt"))
    assert len(copies) == 2 and copies[0].stat().st_ino == copies[1].stat().st_ino
    assert layer_files(bd, "v1", 1) == before
    assert linked["dst/d2/f5.txt"][5] != before["dst/d2/f5.txt"][5]
    assert linked["dst/d0/f3.txt"][1] == 0o700
    changed = ("dst/d2/f5.txt", "dst/d0/f3.txt")
    assert {k: v for k, v in linked.items() if k not in changed} == {k: v for k, v in before.items() if k not in changed}
    shutil.rmtree(bd.data / "builder" / "copy-index")
    build(bd, ctx, "--no-cache", "-t", "v2copied")
    assert layer_files(bd, "v2copied", 1) == linked


def test_from_a_private_registry_and_pull(bd, tmp_path):
    """FROM an image only a registry with Basic auth has: berthd pulls it with
    the credentials the CLI sends (X-Registry-Config, from its config.json);
    a newer push is seen only with --pull."""
    (tmp_path / "reg").mkdir()
    reg = Registry(tmp_path / "reg", htpasswd_auth(tmp_path / "reg", "builder", "s3cret"))
    (tmp_path / "cfg").mkdir()
    write_auth(tmp_path / "cfg", reg.host, "builder", "s3cret")
    env = dict(os.environ, DOCKER_HOST=bd.host, DOCKER_BUILDKIT="0", DOCKER_CONFIG=str(tmp_path / "cfg"))
    env.pop("DOCKER_CONTEXT", None)

    def docker(*args, cwd=None):
        p = subprocess.run([CLIS[0], *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    try:
        base = f"{reg.host}/base:1"
        docker("tag", "bb:latest", base)
        docker("push", base)
        docker("rmi", base)
        ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM {base}\nRUN ls /newer 2>/dev/null || echo ol''d-base\n"})
        out = docker("build", "-t", "app", ".", cwd=ctx)
        assert "old-base" in out
        # A newer base under the same tag: a plain build keeps the local one, --pull fetches it.
        newer = write(tmp_path / "newer", {"Dockerfile": "FROM bb:latest\nRUN touch /newer\n"})
        docker("build", "-t", base, ".", cwd=newer)
        docker("push", base)
        docker("tag", "bb:latest", base)  # the local tag back on the old image
        assert "old-base" in docker("build", "--no-cache", ".", cwd=ctx)
        out = docker("build", "--pull", "--no-cache", ".", cwd=ctx)
        assert "old-base" not in out and "Pulling from base" in out, out
    finally:
        reg.stop()


def test_cache_from_takes_layers_from_an_image(bd, tmp_path):
    # After the step cache is gone, --cache-from an image built from the same
    # Dockerfile (as if pulled) gives its RUN layer back without running it.
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM bb:latest\nENV V=1\nRUN head -c 16 /dev/urandom | od -An -tx1 > /stamp\nCMD [\"cat\", \"/stamp\"]\n"})
    build(bd, ctx, "-t", "published:1")
    stamp = run_image(bd, "published:1")
    assert bd.docker(CLIS[0], "builder", "prune", "-f").returncode == 0
    out = build(bd, ctx, "--cache-from", "published:1", "-t", "again").stdout
    assert "Running in" not in out and out.count("Using cache") == 1, out
    assert run_image(bd, "again") == stamp
    out = build(bd, ctx, "--no-cache", "-t", "fresh").stdout
    assert "Running in" in out and run_image(bd, "fresh") != stamp
