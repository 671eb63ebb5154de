"""berth's and docker's network and volume verbs, and run/create's networking
flags, against a real daemon: the same expectations (output, errors, exit
status) hold for both CLIs, and where docker's output is deterministic both
must print the same bytes.

Networks make bridges, so each daemon here runs in a network namespace of its
own (`unshare --net`), never touching the host's. BERTH_TEST_DAEMON=dockerd|berthd
picks one daemon, as in the rest of tests/cli.
"""
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from berth_build import BUILD
from cli_daemon import Daemon, daemon_kinds, make_rootfs_tar


def uniq():
    return "t" + uuid.uuid4().hex[:8]


def words(cli, text):
    """docker's messages name the CLI that printed them."""
    return text.replace("{cli}", cli).replace("{Cli}", cli.capitalize())


@pytest.fixture(scope="module", params=daemon_kinds())
def netd(request):
    kind = request.param
    if kind == "dockerd" and not (shutil.which("dockerd") and shutil.which("containerd")):
        pytest.skip("docker.io/containerd not installed")
    if not (BUILD / "berth").exists() and not os.environ.get("BERTH_CLI"):
        pytest.skip("berth CLI not built")
    base = Path(subprocess.run(["mktemp", "-d", "/tmp/berth-netvol.XXXXXX"], capture_output=True, text=True,
                               check=True).stdout.strip())
    d = Daemon(base, kind, own_netns=True, checked=False)
    try:
        d.start()
        r = d.run("berth", "import", str(make_rootfs_tar(base)), "bb:latest")
        assert r.returncode == 0, r.stderr
        d.image = "bb:latest"
        yield d
    finally:
        d.stop()
        subprocess.run(["umount", "-R", str(base)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["berth", "docker"])
def cli(request):
    if request.param == "docker" and not shutil.which("docker"):
        pytest.skip("docker CLI not installed")
    return request.param


def subnet(cli, test):
    """A /24 per test and CLI, so one run's leftovers never overlap another's."""
    return f"10.{200 + test}.{1 if cli == 'berth' else 2}"


def expect(r, rc, stdout=None, stderr=None):
    assert r.returncode == rc, (r.returncode, r.stdout, r.stderr)
    if stdout is not None:
        assert r.stdout == stdout, r.stdout
    if stderr is not None:
        assert r.stderr == stderr, r.stderr


def usage(cli, verb, use, what, hint="Run"):
    return words(cli, f"{{cli}}: '{{cli}} {verb}' {what}\n\nUsage:  {{cli}} {verb} {use}\n\n"
                      f"{hint} '{{cli}} {verb} --help' for more information\n")


# --- networks ---------------------------------------------------------------

def test_network_create_inspect_ls_rm(netd, cli):
    n, net = uniq(), subnet(cli, 1)
    r = netd.run(cli, "network", "create", "--subnet", f"{net}.0/24", "--ip-range", f"{net}.128/25", "--gateway",
                 f"{net}.1", "--aux-address", f"printer={net}.5", "--internal", "--attachable", "--label", "k=v",
                 "--label", "flag", "-o", "com.docker.network.driver.mtu=1400", n)
    expect(r, 0, stderr="")
    nid = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", nid), r.stdout
    try:
        r = netd.run(cli, "network", "inspect", "-f", "{{json .IPAM.Config}}", n)
        expect(r, 0, stderr="")
        assert json.loads(r.stdout) == [{"Subnet": f"{net}.0/24", "IPRange": f"{net}.128/25", "Gateway": f"{net}.1",
                                         "AuxiliaryAddresses": {"printer": f"{net}.5"}}]
        r = netd.run(cli, "network", "inspect", "-f",
                     "{{.Name}} {{.Id}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Attachable}} {{.EnableIPv6}} "
                     "{{json .Labels}} {{json .Options}}", n)
        expect(r, 0, f'{n} {nid} bridge local true true false {{"flag":"","k":"v"}} '
                     '{"com.docker.network.driver.mtu":"1400"}\n', "")
        r = netd.run(cli, "network", "inspect", n)
        assert r.returncode == 0 and r.stdout.startswith("[\n    {\n        \"Name\": "), r.stdout
        assert json.loads(r.stdout)[0]["Id"] == nid
        expect(netd.run(cli, "network", "inspect", "-f", "json", n), 0)
        expect(netd.run(cli, "network", "ls", "-q", "-f", f"name={n}"), 0, nid[:12] + "\n", "")
        expect(netd.run(cli, "network", "ls", "-q", "--no-trunc", "-f", f"name={n}"), 0, nid + "\n", "")
        expect(netd.run(cli, "network", "ls", "-f", f"id={nid}", "--format",
                        "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.IPv6}}"), 0, f"{n} bridge local true false\n")
        r = netd.run(cli, "network", "ls", "-f", f"name={n}")
        assert r.returncode == 0 and r.stdout.splitlines()[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
        assert r.stdout.splitlines()[1].split() == [nid[:12], n, "bridge", "local"]
        r = netd.run(cli, "network", "ls", "--format", "{{json .}}", "-f", f"name={n}")
        row = json.loads(r.stdout)
        assert {k: row[k] for k in ("ID", "Name", "Driver", "Scope", "Internal", "IPv6")} == {
            "ID": nid[:12], "Name": n, "Driver": "bridge", "Scope": "local", "Internal": "true", "IPv6": "false"}
        assert sorted(row["Labels"].split(",")) == ["flag=", "k=v"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC", row["CreatedAt"]), row
    finally:
        expect(netd.run(cli, "network", "rm", n), 0, n + "\n", "")
    expect(netd.run(cli, "network", "inspect", n), 1, "[]\n", f"Error response from daemon: network {n} not found\n")
    expect(netd.run(cli, "network", "inspect", "-f", "{{.Name}}", n), 1, "\n")


def test_network_ls_lists_in_natural_order(netd, cli):
    p = uniq() + "-"  # a name whose digits start after the prefix
    for suffix in ("10", "9", "b"):
        expect(netd.run(cli, "network", "create", p + suffix), 0)
    try:
        expect(netd.run(cli, "network", "ls", "-f", f"name={p}", "--format", "{{.Name}}"), 0,
               f"{p}9\n{p}10\n{p}b\n", "")
        r = netd.run(cli, "network", "ls", "-f", f"name={p}9", "--format", "raw")
        assert re.fullmatch(rf"network_id: [0-9a-f]{{12}}\nname: {p}9\ndriver: bridge\nscope: local\n\n", r.stdout)
    finally:
        expect(netd.run(cli, "network", "rm", p + "10", p + "9", p + "b"), 0, f"{p}10\n{p}9\n{p}b\n")


def test_network_create_errors(netd, cli):
    net = subnet(cli, 2)
    cases = [
        (["network", "create"], 1, usage(cli, "network create", "[OPTIONS] NETWORK", "requires 1 argument")),
        (["network", "create", "a", "b"], 1, usage(cli, "network create", "[OPTIONS] NETWORK", "requires 1 argument")),
        (["network", "create", "--subnet", f"{net}.0/24", "--gateway", "10.9.9.1", "x"], 1,
         "no matching subnet for gateway 10.9.9.1\n"),
        (["network", "create", "--ip-range", f"{net}.0/25", "x"], 1,
         "every ip-range or gateway must have a corresponding subnet\n"),
        (["network", "create", "--subnet", f"{net}.0/24", "--subnet", f"{net}.128/25", "x"], 1,
         "multiple overlapping subnet configuration is not supported\n"),
        (["network", "create", "--subnet", f"{net}.0/24", "--ip-range", f"{net}.0", "x"], 1,
         f"invalid CIDR address: {net}.0\n"),
        (["network", "create", "--subnet", f"{net}.0/24", "--aux-address", "a=10.9.9.9", "x"], 1,
         "no matching subnet for aux-address 10.9.9.9\n"),
        (["network", "create", "--label", "a b", "x"], 125,
         words(cli, "invalid argument \"a b\" for \"--label\" flag: label 'a b' contains whitespaces\n\n"
                    "Usage:  {cli} network create [OPTIONS] NETWORK\n\n"
                    "Run '{cli} network create --help' for more information\n")),
        (["network", "create", "-d", "nosuch", "x"], 1, "Error response from daemon: plugin \"nosuch\" not found\n"),
    ]
    for args, rc, err in cases:
        expect(netd.run(cli, *args), rc, "", err)
    n = uniq()
    expect(netd.run(cli, "network", "create", n), 0)
    try:
        expect(netd.run(cli, "network", "create", n), 1, "",
               f"Error response from daemon: network with name {n} already exists\n")
    finally:
        netd.run(cli, "network", "rm", n)


def test_network_rm_reports_each_failure(netd, cli):
    n = uniq()
    expect(netd.run(cli, "network", "create", n), 0)
    expect(netd.run(cli, "network", "rm", "nope" + n, n), 1, n + "\n",
           f"Error response from daemon: network nope{n} not found\nexit status 1\n")
    expect(netd.run(cli, "network", "rm", "-f", "nope" + n), 0, "", "")
    expect(netd.run(cli, "network", "rm"), 1, "",
           usage(cli, "network rm", "NETWORK [NETWORK...]", "requires at least 1 argument", "See"))


def test_network_connect_and_disconnect(netd, cli):
    first, second, c = uniq(), uniq(), uniq()
    net = subnet(cli, 3)
    expect(netd.run(cli, "network", "create", first), 0)
    expect(netd.run(cli, "network", "create", "--subnet", f"{net}.0/24", second), 0)
    try:
        expect(netd.run(cli, "create", "--name", c, "--network", first, netd.image, "sleep", "300"), 0)
        cid = netd.run(cli, "inspect", "-f", "{{.Id}}", c).stdout.strip()
        expect(netd.run(cli, "network", "connect", "--alias", "a1", "--alias", "a2,a3", "--ip", f"{net}.50", second, c),
               0, "", "")
        r = netd.run(cli, "inspect", "-f", f"{{{{json .NetworkSettings.Networks.{second}.IPAMConfig}}}}|"
                                           f"{{{{json .NetworkSettings.Networks.{second}.Aliases}}}}", c)
        ipam, aliases = r.stdout.split("|")
        assert json.loads(ipam) == {"IPv4Address": f"{net}.50"}
        # dockerd adds the container's short ID to the aliases given.
        assert [a for a in json.loads(aliases) if a != cid[:12]] == ["a1", "a2", "a3"], aliases
        expect(netd.run(cli, "start", c), 0)
        r = netd.run(cli, "exec", c, "ip", "-4", "-o", "addr")
        assert f"inet {net}.50/24" in r.stdout, r.stdout
        assert netd.run(cli, "network", "inspect", "-f", "{{len .Containers}}", second).stdout == "1\n"
        expect(netd.run(cli, "network", "disconnect", second, c), 0, "", "")
        r = netd.run(cli, "network", "disconnect", second, c)
        expect(r, 1, "")
        # dockerd words it "...to network X" for a running container, "...to the network X" for a stopped one.
        assert re.fullmatch(f"Error response from daemon: container {cid} is not connected to (the )?network {second}\n",
                            r.stderr), r.stderr
        expect(netd.run(cli, "network", "connect", second, "nope" + c), 1, "",
               f"Error response from daemon: No such container: nope{c}\n")
        expect(netd.run(cli, "network", "connect", second), 1, "",
               usage(cli, "network connect", "[OPTIONS] NETWORK CONTAINER", "requires 2 arguments"))
        expect(netd.run(cli, "network", "disconnect", "-f"), 1, "",
               usage(cli, "network disconnect", "[OPTIONS] NETWORK CONTAINER", "requires 2 arguments"))
    finally:
        netd.run(cli, "rm", "-f", c)
        netd.run(cli, "network", "rm", first, second)


def test_network_prune_asks_first(netd, cli):
    n, label = uniq(), "prune=" + uniq()
    warning = ("WARNING! This will remove all custom networks not used by at least one container.\n"
               "Are you sure you want to continue? [y/N] ")
    expect(netd.run(cli, "network", "create", "--label", label, n), 0)
    try:
        expect(netd.run(cli, "network", "prune", "--filter", f"label={label}", input="n\n"), 0, warning, "")
        expect(netd.run(cli, "network", "inspect", "-f", "{{.Name}}", n), 0, n + "\n")
        expect(netd.run(cli, "network", "prune", "--filter", f"label={label}", input="y\n"), 0,
               warning + f"Deleted Networks:\n{n}\n\n", "")
        expect(netd.run(cli, "network", "prune", "-f", "--filter", f"label={label}"), 0, "", "")
        expect(netd.run(cli, "network", "prune", "x"), 1, "",
               usage(cli, "network prune", "[OPTIONS]", "accepts no arguments"))
    finally:
        netd.run(cli, "network", "rm", "-f", n)


# --- run/create networking flags ---------------------------------------------

def test_run_joins_a_network_with_its_address(netd, cli):
    n, net = uniq(), subnet(cli, 4)
    expect(netd.run(cli, "network", "create", "--subnet", f"{net}.0/24", n), 0)
    try:
        r = netd.run(cli, "run", "--rm", "--network", f"name={n},ip={net}.77,alias=web", netd.image,
                     "ip", "-4", "-o", "addr", "show", "eth0")
        expect(r, 0, stderr="")
        assert f"inet {net}.77/24" in r.stdout, r.stdout
        r = netd.run(cli, "run", "--rm", "--network", n, "--ip", f"{net}.78", "--network-alias", "web2", netd.image,
                     "ip", "-4", "-o", "addr", "show", "eth0")
        expect(r, 0, stderr="")
        assert f"inet {net}.78/24" in r.stdout, r.stdout
        r = netd.run(cli, "run", "--rm", "--network", n, "--mac-address", "02:42:0a:00:00:99", netd.image,
                     "cat", "/sys/class/net/eth0/address")
        if cli == "docker":
            # docker 28 refuses --mac-address below API v1.44; berth, which
            # speaks v1.41, sends it where v1.41 daemons read it.
            expect(r, 125)
            assert '"specify mac-address per network" requires API version 1.44' in r.stderr
        else:
            expect(r, 0, "02:42:0a:00:00:99\n", "")
    finally:
        netd.run(cli, "network", "rm", n)


def test_run_network_flag_errors(netd, cli):
    image = netd.image
    run_hint = "\n\nRun '{cli} run --help' for more information\n"
    cases = [
        (["--network-alias", "x"], "{cli}: network-scoped aliases are only supported for user-defined networks" + run_hint),
        (["--network", "somenet", "--network", "host"],
         "{cli}: conflicting options: cannot attach both user-defined and non-user-defined network-modes" + run_hint),
        (["--network", "somenet", "--network", "somenet"], '{cli}: network "somenet" is specified multiple times' + run_hint),
        (["--network", "name=somenet,alias=a", "--network-alias", "b"],
         "{cli}: conflicting options: cannot specify both --network-alias and per-network alias" + run_hint),
        (["--network", "name=somenet,foo=bar"],
         'invalid argument "name=somenet,foo=bar" for "--network" flag: invalid field key foo\n\n'
         "Usage:  {cli} run [OPTIONS] IMAGE [COMMAND] [ARG...]" + run_hint),
        (["-p", "80/xyz"], "{cli}: invalid proto: xyz" + run_hint),
        (["-p", "8000-8001:80-82"], "{cli}: invalid ranges specified for container and host Ports: 80-82 and 8000-8001" + run_hint),
        (["--expose", "1:2"], "{cli}: invalid port format for --expose: 1:2" + run_hint),
        (["-v", ":/b"], "{cli}: invalid spec: :/b: empty section between colons" + run_hint),
        (["--mount", "type=tmpfs,dst=/t,bind-propagation=rslave"],
         'invalid argument "type=tmpfs,dst=/t,bind-propagation=rslave" for "--mount" flag: '
         "cannot mix 'bind-*' options with mount type 'tmpfs'\n\nUsage:  {cli} run [OPTIONS] IMAGE [COMMAND] [ARG...]"
         + run_hint),
    ]
    for flags, err in cases:
        expect(netd.run(cli, "run", "--rm", *flags, image, "true"), 125, "", words(cli, err))


def test_create_sends_ports_and_volumes_as_docker_does(netd, cli):
    c, vol = uniq(), uniq()
    expect(netd.run(cli, "create", "--name", c, "-p", "127.0.0.1:8080:80/udp", "-p", "9000-9001:9000-9001",
                    "-p", "5000-5010:6000", "--expose", "7000-7001", "-v", f"{vol}:/data", "-v", "/anon",
                    "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", netd.image, "true"), 0)
    try:
        r = netd.run(cli, "inspect", "-f", "{{json .HostConfig.PortBindings}}|{{json .Config.ExposedPorts}}|"
                     "{{json .HostConfig.Binds}}|{{json .Config.Volumes}}|{{json .HostConfig.Mounts}}", c)
        ports, exposed, binds, volumes, mounts = r.stdout.strip().split("|")
        assert json.loads(ports) == {"6000/tcp": [{"HostIp": "", "HostPort": "5000-5010"}],
                                     "80/udp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                     "9000/tcp": [{"HostIp": "", "HostPort": "9000"}],
                                     "9001/tcp": [{"HostIp": "", "HostPort": "9001"}]}
        assert json.loads(exposed) == {p: {} for p in ("6000/tcp", "7000/tcp", "7001/tcp", "80/udp", "9000/tcp",
                                                       "9001/tcp")}
        assert json.loads(binds) == [f"{vol}:/data"]
        assert json.loads(volumes) == {"/anon": {}}
        assert json.loads(mounts) == [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576}}]
    finally:
        netd.run(cli, "rm", "-v", c)
        netd.run(cli, "volume", "rm", vol)


# --- volumes ----------------------------------------------------------------

def test_volume_create_ls_inspect_rm(netd, cli):
    v, label = uniq(), "k=" + uniq()
    expect(netd.run(cli, "volume", "create", "--label", label, "-o", "type=tmpfs", "-o", "device=tmpfs",
                    "-o", "o=size=1m", v), 0, v + "\n", "")
    expect(netd.run(cli, "volume", "create", v), 0, v + "\n", "")
    try:
        expect(netd.run(cli, "volume", "ls", "-f", f"name={v}"), 0, f"DRIVER    VOLUME NAME\nlocal     {v}\n", "")
        expect(netd.run(cli, "volume", "ls", "-q", "-f", f"label={label}"), 0, v + "\n", "")
        expect(netd.run(cli, "volume", "ls", "-f", f"name={v}", "--format",
                        "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{.Links}} {{.Size}}"), 0,
               f"{v} local local {label} N/A N/A\n")
        row = json.loads(netd.run(cli, "volume", "ls", "-f", f"name={v}", "--format", "json").stdout)
        assert sorted(row) == ["Availability", "Driver", "Group", "Labels", "Links", "Mountpoint", "Name", "Scope",
                               "Size", "Status"]
        expect(netd.run(cli, "volume", "inspect", "-f",
                        "{{.Name}} {{.Driver}} {{.Scope}} {{json .Labels}} {{json .Options}}", v), 0,
               f'{v} local local {json.dumps(dict([label.split("=")]), separators=(",", ":"))} '
               '{"device":"tmpfs","o":"size=1m","type":"tmpfs"}\n', "")
        r = netd.run(cli, "volume", "inspect", v, "nope" + v)
        expect(r, 1, stderr=f"Error response from daemon: get nope{v}: no such volume\n")
        assert [x["Name"] for x in json.loads(r.stdout)] == [v]
        assert r.stdout.startswith("[\n    {\n")
    finally:
        expect(netd.run(cli, "volume", "rm", v), 0, v + "\n", "")
    expect(netd.run(cli, "volume", "rm", v), 1, "", f"Error response from daemon: get {v}: no such volume\n")
    expect(netd.run(cli, "volume", "rm", "-f", v), 0, v + "\n", "")
    r = netd.run(cli, "volume", "create")
    expect(r, 0, stderr="")
    assert re.fullmatch(r"[0-9a-f]{64}\n", r.stdout), r.stdout
    netd.run(cli, "volume", "rm", r.stdout.strip())


def test_volume_data_outlives_containers(netd, cli):
    v, c = uniq(), uniq()
    expect(netd.run(cli, "run", "--rm", "-v", f"{v}:/data", netd.image, "sh", "-c", "echo kept > /data/f"), 0)
    expect(netd.run(cli, "run", "--rm", "-v", f"{v}:/data:ro", netd.image, "cat", "/data/f"), 0, "kept\n")
    expect(netd.run(cli, "run", "--rm", "--mount", f"type=volume,src={v},dst=/m,readonly", netd.image,
                    "cat", "/m/f"), 0, "kept\n")
    expect(netd.run(cli, "create", "--name", c, "-v", f"{v}:/data", netd.image, "true"), 0)
    cid = netd.run(cli, "inspect", "-f", "{{.Id}}", c).stdout.strip()
    expect(netd.run(cli, "volume", "rm", v), 1, "",
           f"Error response from daemon: remove {v}: volume is in use - [{cid}]\n")
    netd.run(cli, "rm", c)
    expect(netd.run(cli, "volume", "rm", v), 0, v + "\n")


def test_volume_prune_asks_first(netd, cli):
    v, label = uniq(), "prune=" + uniq()
    # berth and docker speak API v1.41 here, where prune takes every unused volume.
    warning = ("WARNING! This will remove all local volumes not used by at least one container.\n"
               "Are you sure you want to continue? [y/N] ")
    expect(netd.run(cli, "volume", "create", "--label", label, v), 0)
    try:
        expect(netd.run(cli, "volume", "prune", "--filter", f"label={label}", input="n\n"), 0, warning, "")
        expect(netd.run(cli, "volume", "ls", "-q", "-f", f"name={v}"), 0, v + "\n")
        expect(netd.run(cli, "volume", "prune", "--filter", f"label={label}", input="y\n"), 0,
               warning + f"Deleted Volumes:\n{v}\n\nTotal reclaimed space: 0B\n", "")
        expect(netd.run(cli, "volume", "prune", "-f", "--filter", f"label={label}"), 0,
               "Total reclaimed space: 0B\n", "")
        expect(netd.run(cli, "volume", "prune", "-a", "-f"), 1, "",
               words(cli, '"--all" requires API version 1.42, but the {Cli} daemon API version is 1.41\n'))
    finally:
        netd.run(cli, "volume", "rm", "-f", v)


def test_volume_usage_errors(netd, cli):
    cases = [
        (["volume", "create", "a", "b"], usage(cli, "volume create", "[OPTIONS] [VOLUME]", "requires at most 1 argument",
                                               "SRun")),
        (["volume", "create", "--name", "a", "b"],
         "conflicting options: cannot specify a volume-name through both --name and as a positional arg\n"),
        (["volume", "inspect"], usage(cli, "volume inspect", "[OPTIONS] VOLUME [VOLUME...]",
                                      "requires at least 1 argument", "See")),
        (["volume", "rm"], usage(cli, "volume rm", "[OPTIONS] VOLUME [VOLUME...]", "requires at least 1 argument", "See")),
        (["volume", "ls", "x"], usage(cli, "volume ls", "[OPTIONS]", "accepts no arguments")),
    ]
    for args, err in cases:
        expect(netd.run(cli, *args), 1, "", err)
    expect(netd.run(cli, "volume", "ls", "-f", "bad"), 125, "",
           words(cli, 'invalid argument "bad" for "-f, --filter" flag: bad format of filter (expected name=value)\n\n'
                      "Usage:  {cli} volume ls [OPTIONS]\n\nRun '{cli} volume ls --help' for more information\n"))


# --- both CLIs, byte for byte -------------------------------------------------

def test_both_clis_print_the_same(netd):
    if not shutil.which("docker"):
        pytest.skip("docker CLI not installed")
    p, v = uniq(), uniq()
    netd.run("berth", "network", "create", "--label", "only=one", p + "a")
    netd.run("berth", "network", "create", "--internal", p + "b")
    netd.run("berth", "volume", "create", "--label", "only=one", v)
    try:
        for args in (
            ["network", "ls", "-f", f"name={p}"],
            ["network", "ls", "-f", f"name={p}", "--no-trunc"],
            ["network", "ls", "-f", f"name={p}", "-q"],
            ["network", "ls", "-f", f"name={p}", "--format", "json"],
            ["network", "ls", "-f", f"name={p}", "--format", "raw"],
            ["network", "ls", "-f", f"name={p}", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Internal}}\t{{.IPv4}}"],
            ["network", "ls", "-f", "foo=bar"],
            ["network", "inspect", p + "a", p + "b"],
            ["network", "inspect", "-f", "json", p + "a"],
            ["network", "inspect", "-f", "{{.Name}}", p + "a", "nope" + p],
            ["network", "inspect", "-f", "{{", p + "a"],
            ["volume", "ls", "-f", f"name={v}"],
            ["volume", "ls", "-f", f"name={v}", "--format", "json"],
            ["volume", "ls", "-f", f"name={v}", "--format", "raw"],
            ["volume", "ls", "-f", f"name={v}", "--format", "table {{.Name}}\t{{.Labels}}\t{{.Mountpoint}}"],
            ["volume", "inspect", v],
            ["volume", "inspect", "-f", "json", v],
            ["network", "connect", "x"],
            ["network", "prune", "x"],
        ):
            b, d = netd.run("berth", *args), netd.run("docker", *args)
            assert (b.returncode, b.stdout) == (d.returncode, d.stdout), args
            assert b.stderr == d.stderr.replace("docker", "berth"), args
    finally:
        netd.run("berth", "network", "rm", p + "a", p + "b")
        netd.run("berth", "volume", "rm", v)
