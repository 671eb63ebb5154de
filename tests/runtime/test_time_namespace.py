"""linux.timeOffsets in a new time namespace."""


def test_boottime_offset_shows_in_uptime(rt):
    year = 365 * 86400

    def edit(c):
        c["linux"]["namespaces"].append({"type": "time"})
        c["linux"]["timeOffsets"] = {"boottime": {"secs": year, "nanosecs": 0},
                                     "monotonic": {"secs": 1000, "nanosecs": 0}}
    out = rt.cmd("run", "--bundle", str(rt.bundle(["cat", "/proc/uptime"], edit=edit)), rt.new_id()).stdout
    with open("/proc/uptime") as f:
        host = float(f.read().split()[0])
    inside = float(out.split()[0])
    assert inside - host > year - 60


def test_unknown_clock_is_refused(rt):
    def edit(c):
        c["linux"]["namespaces"].append({"type": "time"})
        c["linux"]["timeOffsets"] = {"realtime": {"secs": 5}}
    cid = rt.new_id()
    p = rt.cmd("run", "--bundle", str(rt.bundle(["true"], edit=edit)), cid, check=False)
    assert p.returncode != 0 and "realtime" in p.stderr
    assert not (rt.root / cid).exists()
