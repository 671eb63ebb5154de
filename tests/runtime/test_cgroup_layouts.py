"""berth-runtime on pure cgroup v1 and pure cgroup v2 hosts.

This machine is hybrid (v1 controllers + a cgroup2 mount holding hugetlb).
Each test runs the runtime inside a private mount namespace that shows the
layout it names: v1 only (the cgroup2 mount removed), or v2 only (a cgroup2
mount at /sys/fs/cgroup; here it can hold only hugetlb, since the kernel binds
the other controllers to the v1 hierarchies, but that is enough to drive the
v2 paths: directories, CLONE_INTO_CGROUP, cgroup.freeze, the eBPF device
filter and hugetlb limits)."""
import json
import subprocess

import pytest

from berth_build import RUNTIME

LAYOUTS = {
    "v1": "umount -l /sys/fs/cgroup/unified",
    "v2": "umount -l /sys/fs/cgroup/unified; umount -R -l /sys/fs/cgroup; mount -t cgroup2 none /sys/fs/cgroup",
}

SCRIPT = """
set -e
{setup}
R="{runtime} --root {root}"
$R create --bundle {bundle} {cid} </dev/null >{out} 2>&1
$R start {cid}
$R pause {cid}
$R state {cid} > {tmp}/paused.json
$R resume {cid}
$R state {cid} > {tmp}/resumed.json
while [ "$($R state {cid} | grep -c stopped)" = 0 ]; do sleep 0.05; done
$R delete {cid}
"""


def device_probe(allow_all):
    """Opens an allowed device and /dev/kmsg for writing (which needs no
    capability, only device-cgroup access)."""
    def edit(c):
        caps = c["process"]["capabilities"]
        for s in ("bounding", "effective", "permitted"):
            caps[s] += ["CAP_MKNOD"]
        c["root"]["readonly"] = False
        if allow_all:
            c["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
        c["process"]["args"] = ["sh", "-c",
                                "sleep 0.5; head -c 1 /dev/full >/dev/null && echo full-ok; "
                                "mknod /tmp/kmsg c 1 11 && "
                                "(echo berth-device-test > /tmp/kmsg && echo kmsg-open || echo kmsg-denied)"]
    return edit


@pytest.mark.parametrize("allow_all", [False, True], ids=["default-devices", "all-devices"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_lifecycle_devices_and_freezer(rt, layout, allow_all):
    b = rt.bundle(edit=device_probe(allow_all))
    cid = rt.new_id()
    out = rt.tmp / "out.txt"
    script = SCRIPT.format(setup=LAYOUTS[layout], runtime=RUNTIME, root=rt.root, bundle=b, cid=cid,
                           out=out, tmp=rt.tmp)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr + out.read_text()
    assert json.loads((rt.tmp / "paused.json").read_text())["status"] == "paused"
    assert json.loads((rt.tmp / "resumed.json").read_text())["status"] == "running"
    text = out.read_text()
    assert "full-ok" in text  # an allowed device works
    # The device cgroup (v1 rules / v2 eBPF program) decides about /dev/kmsg.
    assert ("kmsg-open" if allow_all else "kmsg-denied") in text, text


def test_v2_layout_is_detected_and_used(rt):
    """In the v2-only view the container's cgroup is on the cgroup2 mount."""
    b = rt.bundle(["cat", "/proc/self/cgroup"])
    cid = rt.new_id()
    script = LAYOUTS["v2"] + f"; exec {RUNTIME} --root {rt.root} run --bundle {b} {cid}"
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    # The container has its own cgroup namespace-less view: "0::/<path ending in the id>".
    assert any(l.startswith("0::") and l.endswith(cid) for l in lines), p.stdout
