"""berthd's classic builder runs independent stages of a multi-stage
Dockerfile at the same time, yet prints what a sequential build would: Step
numbers in order, each stage's lines together; a failing stage's error is
the build's."""
import re

from berthd_daemon import CLIS, classic_build


# The host's uptime (a container's /proc/uptime is the host's): busybox's
# date has no sub-second format, and two 1 s sleeps need finer times.
STAMP = "cut -d' ' -f1 /proc/uptime"

PARALLEL = f"""\
FROM bb:latest AS a
RUN {STAMP} > /t && echo stage-a-says && sleep 1 && {STAMP} >> /t
FROM bb:latest AS b
RUN {STAMP} > /t && echo stage-b-says && sleep 1 && {STAMP} >> /t
FROM bb:latest
COPY --from=a /t /a
COPY --from=b /t /b
CMD ["cat", "/a", "/b"]
"""


def step_lines(out):
    """(number, total, text) of each Step line, in output order."""
    return [(int(m[1]), int(m[2]), m[3]) for m in re.finditer(r"^Step (\d+)/(\d+) : (.*)$", out, re.M)]


def test_independent_stages_overlap_and_print_in_order(bd, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(PARALLEL)
    p = classic_build(bd, ctx, "-t", "par:1")
    assert p.returncode == 0, p.stdout + p.stderr

    # Both stages' RUNs were running at the same time.
    p = bd.docker(CLIS[0], "run", "--rm", "par:1")
    assert p.returncode == 0, p.stderr
    a_start, a_end, b_start, b_end = map(float, p.stdout.split())
    assert a_end - a_start >= 1 and b_end - b_start >= 1
    assert a_start < b_end and b_start < a_end, p.stdout

    # The output is the sequential one: Steps 1..M, and what a step says
    # right after its Step line, not mixed into another stage's.
    p = classic_build(bd, ctx, "--no-cache")
    assert p.returncode == 0, p.stdout + p.stderr
    steps = step_lines(p.stdout)
    assert [s[0] for s in steps] == list(range(1, 9)), p.stdout
    assert {s[1] for s in steps} == {8}
    assert [s[2].split()[0] for s in steps] == ["FROM", "RUN", "FROM", "RUN", "FROM", "COPY", "COPY", "CMD"]
    chunks = re.split(r"^Step \d+/\d+ : ", p.stdout, flags=re.M)  # chunks[n]: step n's line and output
    assert "stage-a-says" in chunks[2] and "stage-b-says" not in chunks[2], p.stdout
    assert "stage-b-says" in chunks[4] and "stage-a-says" not in chunks[4], p.stdout


def test_target_skips_unneeded_stage(bd, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(PARALLEL)
    p = classic_build(bd, ctx, "--target", "b")
    assert p.returncode == 0, p.stdout + p.stderr
    steps = step_lines(p.stdout)
    assert [(s[0], s[1]) for s in steps] == [(1, 2), (2, 2)], p.stdout
    assert "stage-b-says" in p.stdout and "stage-a-says" not in p.stdout


def test_failing_stage_fails_the_build_with_its_code(bd, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("""\
FROM bb:latest AS slow
RUN echo slow-starts && sleep 1
FROM bb:latest AS broken
RUN echo broken-starts && exit 3
FROM bb:latest
COPY --from=slow /bin/true /slow
COPY --from=broken /bin/true /broken
""")
    p = classic_build(bd, ctx)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "The command '/bin/sh -c echo broken-starts && exit 3' returned a non-zero code: 3" in p.stderr
    assert "build cancelled" not in p.stdout + p.stderr
    # The earlier stage's output comes first, and nothing after the failing stage runs.
    assert p.stdout.index("Step 1/7 : FROM bb:latest AS slow") < p.stdout.index("Step 3/7 : FROM bb:latest AS broken")
    assert p.stdout.index("Step 3/7") < p.stdout.index("Step 4/7") < p.stdout.index("broken-starts")
    assert "Step 5/7" not in p.stdout, p.stdout
