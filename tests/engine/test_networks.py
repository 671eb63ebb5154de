"""Docker's networking through berthd, driven by the real docker CLI: the
default bridge, user-defined networks with IPAM and embedded DNS, published
ports (from the host, via loopback and from other containers), connect and
disconnect, host/none/container: modes, restart and leak checks.

berthd runs in a network namespace the test creates (NetNs); inside it
10.99.0.1 stands for the host's address and 10.99.0.53 for its DNS
resolver (tests/engine/fake_upstream_dns.py, which answers 10.1.2.3)."""
import json
import re
import subprocess
from pathlib import Path

import pytest

from berthd_daemon import BERTHD, CLIS, PY, Daemon, NetNs, wait_until

DOCKER = CLIS[0] if CLIS else None
HOST_IP = "10.99.0.1"
UPSTREAM = "10.99.0.53"
HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


@pytest.fixture(scope="module")
def net(tmp_path_factory, rootfs_tar):
    if not BERTHD.exists() or not DOCKER:
        pytest.skip("berthd or docker CLI missing")
    ns = NetNs()
    for addr in (HOST_IP, UPSTREAM):
        subprocess.run(["ip", "-n", ns.name, "addr", "add", f"{addr}/32", "dev", "lo"], check=True)
    dns = subprocess.Popen(ns.argv(PY, str(Path(__file__).with_name("fake_upstream_dns.py")), f"{UPSTREAM}:53"),
                           stdout=subprocess.PIPE, text=True)
    d = Daemon(tmp_path_factory.mktemp("netd"), netns=ns)
    try:
        assert dns.stdout.readline().strip() == "ready"
        d.start("--dns", UPSTREAM)
        p = d.docker(DOCKER, "import", str(rootfs_tar), "busybox:latest")
        assert p.returncode == 0, p.stderr
        yield d
        ids = d.docker(DOCKER, "ps", "-aq").stdout.split()
        if ids:
            d.docker(DOCKER, "rm", "-f", *ids)
    finally:
        d.stop()
        dns.kill()
        ns.delete()


def ok(d, *args):
    p = d.docker(DOCKER, *args)
    assert p.returncode == 0, f"docker {' '.join(args)}: {p.stderr}"
    return p.stdout


def inspect(d, ref):
    return json.loads(ok(d, "inspect", ref))[0]


def wait_http(d, url, timeout=10):
    def up():
        return d.netns.run("curl", "-s", "--max-time", "2", url).returncode == 0
    wait_until(up, timeout, url)


def test_default_bridge_gives_address_route_and_etc_files(net):
    out = ok(net, "run", "--rm", "--name", "plain", "busybox", "sh", "-c",
             "ip -4 -o addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf")
    m = re.search(r"inet (172\.\d+\.\d+\.\d+)/16", out)
    assert m, out
    ip = m.group(1)
    assert re.search(r"default via 172\.\d+\.0\.1 dev eth0", out), out
    # docker's hosts line for the container's own address, and the daemon's --dns.
    assert re.search(rf"^{re.escape(ip)}\t[0-9a-f]{{12}}$", out, re.M), out
    assert f"nameserver {UPSTREAM}" in out
    bridge = json.loads(ok(net, "network", "inspect", "bridge"))[0]
    subnet = bridge["IPAM"]["Config"][0]["Subnet"]
    assert subnet.endswith("/16") and ip.startswith(subnet.split(".")[0] + "." + subnet.split(".")[1])
    assert bridge["Options"]["com.docker.network.bridge.name"] == "berth0"


def test_inspect_shows_endpoint_while_running_and_clears_it_after(net):
    cid = ok(net, "run", "-d", "busybox", "sleep", "60").strip()
    try:
        ns = inspect(net, cid)["NetworkSettings"]
        ep = ns["Networks"]["bridge"]
        assert ns["IPAddress"] == ep["IPAddress"] and ep["IPAddress"].startswith("172.")
        assert ep["MacAddress"] == "02:42:" + ":".join(f"{int(x):02x}" for x in ep["IPAddress"].split("."))
        assert ns["SandboxKey"] and ep["Gateway"].endswith(".0.1") and ep["IPPrefixLen"] == 16
        members = json.loads(ok(net, "network", "inspect", "bridge"))[0]["Containers"]
        assert members[cid]["IPv4Address"] == ep["IPAddress"] + "/16"
        ok(net, "stop", "-t", "0", cid)
        ns = inspect(net, cid)["NetworkSettings"]
        assert ns["Networks"]["bridge"]["IPAddress"] == "" and ns["SandboxKey"] == ""
        bridge_id = json.loads(ok(net, "network", "inspect", "bridge"))[0]["Id"]
        assert ns["Networks"]["bridge"]["NetworkID"] == bridge_id
    finally:
        ok(net, "rm", "-f", cid)


def test_user_network_name_resolution_and_forwarding(net):
    ok(net, "network", "create", "--label", "team=a", "appnet")
    try:
        ok(net, "run", "-d", "--name", "web", "--network", "appnet", "--network-alias", "www", "busybox", "sh", "-c", HTTPD)
        wait_until(lambda: net.docker(DOCKER, "exec", "web", "wget", "-qO-", "http://127.0.0.1/").returncode == 0, 10,
                   "httpd up")
        out = ok(net, "run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                 "cat /etc/resolv.conf; wget -qO- http://web/; wget -qO- http://www/; wget -qO- http://web.appnet/;"
                 "nslookup example.test")
        assert "nameserver 127.0.0.11" in out and "ndots:0" in out
        assert out.count("hello-from-") == 3, out
        # An unknown name goes to the host's resolver (the daemon's --dns here).
        assert "10.1.2.3" in out, out
        # The default bridge has no embedded DNS: names do not resolve there.
        p = net.docker(DOCKER, "run", "--rm", "busybox", "wget", "-T", "2", "-qO-", "http://web/")
        assert p.returncode != 0
        nets = json.loads(ok(net, "network", "ls", "--filter", "label=team=a", "--format", "{{json .}}").splitlines()[0])
        assert nets["Name"] == "appnet"
    finally:
        net.docker(DOCKER, "rm", "-f", "web")
        ok(net, "network", "rm", "appnet")


def test_published_port_from_host_loopback_and_other_containers(net):
    cid = ok(net, "run", "-d", "-p", "8080:80", "-p", "127.0.0.1:8081:80", "busybox", "sh", "-c", HTTPD).strip()
    try:
        wait_http(net, "http://127.0.0.1:8080/")
        for url in (f"http://{HOST_IP}:8080/", "http://127.0.0.1:8081/"):
            p = net.netns.run("curl", "-s", "--max-time", "5", url)
            assert p.stdout.startswith("hello-from-"), (url, p.stdout, p.stderr)
        # 8081 is bound to 127.0.0.1 only.
        assert net.netns.run("curl", "-s", "--max-time", "2", f"http://{HOST_IP}:8081/").returncode != 0
        # Another container reaches it through the host's address; the container itself too (hairpin).
        out = ok(net, "run", "--rm", "busybox", "wget", "-qO-", f"http://{HOST_IP}:8080/")
        assert out.startswith("hello-from-")
        out = ok(net, "exec", cid, "wget", "-qO-", f"http://{HOST_IP}:8080/")
        assert out.startswith("hello-from-")
        assert ok(net, "port", cid).splitlines() == ["80/tcp -> 0.0.0.0:8080", "80/tcp -> 127.0.0.1:8081"]
        # The port is taken while published.
        p = net.docker(DOCKER, "run", "--rm", "-p", "8080:80", "busybox", "true")
        assert p.returncode != 0 and "port is already allocated" in p.stderr
    finally:
        ok(net, "rm", "-f", cid)
    # Gone with the container: nothing answers, and the port can be published again.
    assert net.netns.run("curl", "-s", "--max-time", "2", "http://127.0.0.1:8080/").returncode != 0
    ok(net, "run", "--rm", "-p", "8080:80", "busybox", "true")


def test_publish_all_and_random_ports(net):
    cid = ok(net, "run", "-d", "--expose", "80", "-P", "-p", "90", "busybox", "sh", "-c", HTTPD).strip()
    try:
        ports = inspect(net, cid)["NetworkSettings"]["Ports"]
        assert set(ports) == {"80/tcp", "90/tcp"}
        hp = int(ports["80/tcp"][0]["HostPort"])
        assert hp >= 1024 and int(ports["90/tcp"][0]["HostPort"]) != hp
        wait_http(net, f"http://127.0.0.1:{hp}/")
        ps = ok(net, "ps", "--format", "{{.Ports}}", "--filter", f"id={cid}")
        assert f"0.0.0.0:{hp}->80/tcp" in ps
    finally:
        ok(net, "rm", "-f", cid)


def test_udp_port(net):
    # busybox has no UDP server: the listener runs in the container's network namespace from here.
    cid = ok(net, "run", "-d", "-p", "5353:53/udp", "busybox", "sleep", "60").strip()
    try:
        pid = inspect(net, cid)["State"]["Pid"]
        listen = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 53)); "
                  "print('ready', flush=True); d, peer = s.recvfrom(100); print(d.decode().strip(), flush=True)")
        server = subprocess.Popen(["nsenter", f"--net=/proc/{pid}/ns/net", PY, "-c", listen], stdout=subprocess.PIPE,
                                  text=True)
        assert server.stdout.readline().strip() == "ready"
        send = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                f"s.sendto(b'ping-udp', ('{HOST_IP}', 5353))")
        net.netns.run(PY, "-c", send, check=True)
        try:
            assert server.communicate(timeout=5)[0].strip() == "ping-udp"
        finally:
            server.kill()
    finally:
        ok(net, "rm", "-f", cid)


def test_ipam_static_ip_conflicts_and_release(net):
    ok(net, "network", "create", "--subnet", "10.50.0.0/24", "--gateway", "10.50.0.254", "--ip-range", "10.50.0.0/25",
       "ipamnet")
    try:
        a = ok(net, "run", "-d", "--network", "ipamnet", "--ip", "10.50.0.200", "busybox", "sleep", "60").strip()
        assert inspect(net, a)["NetworkSettings"]["Networks"]["ipamnet"]["IPAddress"] == "10.50.0.200"
        p = net.docker(DOCKER, "run", "--rm", "--network", "ipamnet", "--ip", "10.50.0.200", "busybox", "true")
        assert p.returncode != 0 and "Address already in use" in p.stderr
        b = ok(net, "run", "-d", "--network", "ipamnet", "busybox", "sleep", "60").strip()
        ep = inspect(net, b)["NetworkSettings"]["Networks"]["ipamnet"]
        assert ep["IPAddress"] == "10.50.0.1" and ep["Gateway"] == "10.50.0.254"
        out = ok(net, "exec", b, "ip", "route")
        assert "default via 10.50.0.254" in out
        # The default bridge refuses --ip.
        p = net.docker(DOCKER, "run", "--rm", "--ip", "172.17.0.99", "busybox", "true")
        assert p.returncode != 0 and "user defined networks only" in p.stderr
        ok(net, "rm", "-f", b)
        # Released (once its veth is gone): the next container gets it again.
        def reused():
            c = ok(net, "run", "-d", "--network", "ipamnet", "busybox", "sleep", "60").strip()
            ip = inspect(net, c)["NetworkSettings"]["Networks"]["ipamnet"]["IPAddress"]
            ok(net, "rm", "-f", c)
            return ip == "10.50.0.1"
        wait_until(reused, 10, "10.50.0.1 handed out again")
        ok(net, "rm", "-f", a)
    finally:
        net.docker(DOCKER, "network", "rm", "ipamnet")


def test_network_errors(net):
    p = net.docker(DOCKER, "network", "rm", "bridge")
    assert p.returncode != 0 and "bridge is a pre-defined network and cannot be removed" in p.stderr
    p = net.docker(DOCKER, "run", "--rm", "--network", "nosuchnet", "busybox", "true")
    assert p.returncode != 0 and "network nosuchnet not found" in p.stderr
    ok(net, "network", "create", "--subnet", "10.60.0.0/24", "errnet")
    cid = "none"
    try:
        p = net.docker(DOCKER, "network", "create", "--subnet", "10.60.0.128/25", "overlapping")
        assert p.returncode != 0 and "overlaps" in p.stderr
        p = net.docker(DOCKER, "network", "create", "errnet")
        assert p.returncode != 0 and "already exists" in p.stderr
        p = net.docker(DOCKER, "network", "create", "--subnet", "10.70.0.5/24", "badnet")
        assert p.returncode != 0 and "10.70.0.0/24" in p.stderr
        cid = ok(net, "run", "-d", "--network", "errnet", "busybox", "sleep", "60").strip()
        p = net.docker(DOCKER, "network", "rm", "errnet")
        assert p.returncode != 0 and "has active endpoints" in p.stderr
        # The CLI refuses aliases on the default bridge itself; the daemon must too.
        body = json.dumps({"Image": "busybox", "Cmd": ["true"],
                           "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["x"]}}}})
        p = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", "--unix-socket", str(net.sock), "-H",
                            "Content-Type: application/json", "-d", body, "http://d/v1.41/containers/create"],
                           capture_output=True, text=True)
        assert p.stdout.splitlines()[-1] == "400" and "user defined networks" in p.stdout, p.stdout
    finally:
        net.docker(DOCKER, "rm", "-f", cid)
        net.docker(DOCKER, "network", "rm", "errnet")


def test_internal_network_has_no_way_out(net):
    ok(net, "network", "create", "--internal", "sealed")
    try:
        out = ok(net, "run", "--rm", "--network", "sealed", "busybox", "sh", "-c", "ip route; ip -4 -o addr show eth0")
        assert "default" not in out and "inet " in out
        p = net.docker(DOCKER, "run", "--rm", "--network", "sealed", "busybox", "wget", "-T", "2", "-qO-",
                       f"http://{HOST_IP}:9/")
        assert p.returncode != 0
    finally:
        ok(net, "network", "rm", "sealed")


def test_connect_and_disconnect_running_container(net):
    ok(net, "network", "create", "side")
    ok(net, "network", "create", "front")
    try:
        c = ok(net, "run", "-d", "--name", "hub", "--network", "front", "busybox", "sh", "-c", HTTPD).strip()
        wait_until(lambda: net.docker(DOCKER, "exec", c, "wget", "-qO-", "http://127.0.0.1/").returncode == 0, 10,
                   "httpd up")
        ok(net, "network", "connect", "--alias", "hubby", "side", "hub")
        out = ok(net, "exec", c, "ip", "-4", "-o", "addr")
        assert "eth0" in out and "eth1" in out
        assert set(inspect(net, c)["NetworkSettings"]["Networks"]) == {"front", "side"}
        out = ok(net, "run", "--rm", "--network", "side", "busybox", "wget", "-qO-", "http://hubby/")
        assert out.startswith("hello-from-")
        p = net.docker(DOCKER, "network", "connect", "side", "hub")
        assert p.returncode != 0 and "already exists" in p.stderr
        ok(net, "network", "disconnect", "side", "hub")
        out = ok(net, "exec", c, "ip", "-4", "-o", "addr")
        assert "eth1" not in out
        assert set(inspect(net, c)["NetworkSettings"]["Networks"]) == {"front"}
        p = net.docker(DOCKER, "run", "--rm", "--network", "side", "busybox", "wget", "-T", "2", "-qO-", "http://hubby/")
        assert p.returncode != 0
        # A stopped container keeps its networks configured, without addresses.
        ok(net, "stop", "-t", "0", "hub")
        ok(net, "network", "connect", "side", "hub")
        ok(net, "start", "hub")
        out = ok(net, "exec", "hub", "ip", "-4", "-o", "addr")
        assert "eth0" in out and "eth1" in out
    finally:
        net.docker(DOCKER, "rm", "-f", "hub")
        net.docker(DOCKER, "network", "rm", "side", "front")


def test_host_none_and_container_modes(net):
    out = ok(net, "run", "--rm", "--network", "host", "busybox", "ip", "-4", "-o", "addr")
    assert HOST_IP in out and "berth0" in out
    out = ok(net, "run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert [l.split(":")[1].strip() for l in out.splitlines()] == ["lo"]
    a = ok(net, "run", "-d", "busybox", "sleep", "60").strip()
    try:
        ip = inspect(net, a)["NetworkSettings"]["IPAddress"]
        out = ok(net, "run", "--rm", "--network", f"container:{a}", "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
        assert ip in out
        stopped = ok(net, "create", "busybox", "true").strip()
        p = net.docker(DOCKER, "run", "--rm", "--network", f"container:{stopped}", "busybox", "true")
        assert p.returncode != 0 and "non running container" in p.stderr
        ok(net, "rm", stopped)
    finally:
        ok(net, "rm", "-f", a)


def test_add_host_and_host_gateway(net):
    out = ok(net, "run", "--rm", "--add-host", "db:10.9.9.9", "--add-host", "host.docker.internal:host-gateway",
             "busybox", "cat", "/etc/hosts")
    assert "10.9.9.9\tdb" in out
    gw = json.loads(ok(net, "network", "inspect", "bridge"))[0]["IPAM"]["Config"][0]["Gateway"]
    assert f"{gw}\thost.docker.internal" in out


def test_nothing_leaks_after_many_runs(net):
    for i in range(15):
        ok(net, "run", "--rm", "-p", f"{9000 + i}:80", "busybox", "true")
    def clean():
        links = net.netns.run("ip", "-o", "link").stdout
        return "veth" not in links
    try:
        wait_until(clean, 10, "veths deleted")
    except AssertionError:
        raise AssertionError(net.netns.run("ip", "-d", "link").stdout)
    rules = net.netns.run("nft", "-j", "list", "map", "ip", "berth", "tcp_any").stdout
    assert '"elem"' not in rules, rules
    netns_dir = net.exec_root / "netns"
    assert list(netns_dir.iterdir()) == []
    mounts = open("/proc/self/mountinfo").read()
    assert str(netns_dir) not in mounts


def test_daemon_restart_reattaches_running_containers(net):
    ok(net, "network", "create", "keep")
    try:
        ok(net, "run", "-d", "--name", "kept", "--network", "keep", "-p", "8090:80", "busybox", "sh", "-c", HTTPD)
        wait_http(net, "http://127.0.0.1:8090/")
        before = inspect(net, "kept")["NetworkSettings"]["Networks"]["keep"]["IPAddress"]
        net.stop()
        net.start("--dns", UPSTREAM)
        wait_http(net, "http://127.0.0.1:8090/")
        out = ok(net, "run", "--rm", "--network", "keep", "busybox", "wget", "-qO-", "http://kept/")
        assert out.startswith("hello-from-")
        # Its address is still taken: a new container gets another.
        c = ok(net, "run", "-d", "--network", "keep", "busybox", "sleep", "30").strip()
        assert inspect(net, c)["NetworkSettings"]["Networks"]["keep"]["IPAddress"] != before
        ok(net, "rm", "-f", c)
        p = net.docker(DOCKER, "run", "--rm", "-p", "8090:80", "busybox", "true")
        assert p.returncode != 0 and "already allocated" in p.stderr
    finally:
        net.docker(DOCKER, "rm", "-f", "kept")
        net.docker(DOCKER, "network", "rm", "keep")


def test_prune_removes_unused_user_networks(net):
    ok(net, "network", "create", "unused1")
    ok(net, "network", "create", "inuse")
    c = ok(net, "create", "--network", "inuse", "busybox", "true").strip()
    try:
        out = ok(net, "network", "prune", "-f")
        assert "unused1" in out and "inuse" not in out
        names = ok(net, "network", "ls", "--format", "{{.Name}}").split()
        assert "unused1" not in names and "inuse" in names and "bridge" in names
    finally:
        ok(net, "rm", c)
        net.docker(DOCKER, "network", "rm", "inuse")


@pytest.mark.skipif(not __import__("os").path.exists("/usr/bin/docker"), reason="Debian's docker 20.10 CLI missing")
def test_docker_20_10_cli_networks(net):
    old = "/usr/bin/docker"

    def run(*args):
        p = net.docker(old, *args)
        assert p.returncode == 0, f"docker 20.10 {' '.join(args)}: {p.stderr}"
        return p.stdout

    nid = run("network", "create", "--subnet", "10.80.0.0/24", "legacy").strip()
    try:
        assert "legacy" in run("network", "ls", "--format", "{{.Name}}").split()
        assert json.loads(run("network", "inspect", nid))[0]["IPAM"]["Config"][0]["Subnet"] == "10.80.0.0/24"
        run("run", "-d", "--name", "old-web", "--network", "legacy", "--network-alias", "oldweb", "busybox", "sh", "-c",
            HTTPD)
        wait_until(lambda: net.docker(old, "run", "--rm", "--network", "legacy", "busybox", "wget", "-qO-",
                                      "http://oldweb/").stdout.startswith("hello-from-"), 10, "oldweb answering")
        run("rm", "-f", "old-web")
    finally:
        net.docker(old, "rm", "-f", "old-web")
        run("network", "rm", "legacy")
