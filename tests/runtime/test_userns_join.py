"""Joining another container's user namespace while creating new namespaces
(the Kubernetes user-namespaced pod shape): needs an intermediate process."""
import json
import os
import subprocess

MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def owned_bundle(rt, args, edit):
    """A bundle the container's root (host uid 100000) can reach and own."""
    b = rt.bundle(args, edit=edit)
    subprocess.run(["chown", "-R", "100000:100000", str(b / "rootfs")], check=True)
    d = b
    while str(d) != "/":  # pytest's base temp dir is 0700
        os.chmod(d, os.stat(d).st_mode | 0o011)
        d = d.parent
    return b


def test_join_user_and_net_namespace_with_new_pid_and_mount(rt):
    def sandbox(c):
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = MAP
        c["linux"]["gidMappings"] = MAP
        c["root"]["readonly"] = False
    a = rt.new_id()
    rt.cmd("create", "--bundle", str(owned_bundle(rt, ["sleep", "1000"], sandbox)), a)
    pid = rt.state(a)["pid"]
    user_ns = os.readlink(f"/proc/{pid}/ns/user")
    net_ns = os.readlink(f"/proc/{pid}/ns/net")

    def joiner(c):
        c["linux"]["namespaces"] = [
            {"type": "user", "path": f"/proc/{pid}/ns/user"},
            {"type": "network", "path": f"/proc/{pid}/ns/net"},
            {"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]
        c["root"]["readonly"] = False
    b = rt.new_id()
    script = ("cat /proc/self/uid_map; echo pid=$$; id -u; "
              "echo user=$(readlink /proc/self/ns/user); echo net=$(readlink /proc/self/ns/net)")
    p = rt.cmd("run", "--bundle", str(owned_bundle(rt, ["sh", "-c", script], joiner)), b)
    out = p.stdout
    assert out.split("\n")[0].split() == ["0", "100000", "65536"]
    assert "pid=1\n" in out          # a new pid namespace, created inside the joined user namespace
    assert "\n0\n" in out             # root in the joined user namespace
    assert f"user={user_ns}" in out and f"net={net_ns}" in out


def test_new_user_namespace_while_joining_network(rt):
    a = rt.new_id()
    rt.cmd("create", "--bundle", str(rt.bundle(["sleep", "1000"])), a)
    pid = rt.state(a)["pid"]
    net_ns = os.readlink(f"/proc/{pid}/ns/net")

    def edit(c):
        c["linux"]["namespaces"] = [{"type": "user"}, {"type": "network", "path": f"/proc/{pid}/ns/net"},
                                    {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}]
        c["linux"]["uidMappings"] = MAP
        c["linux"]["gidMappings"] = MAP
        c["root"]["readonly"] = False
        c["hostname"] = ""
    b = rt.new_id()
    p = rt.cmd("run", "--bundle", str(owned_bundle(rt, ["sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/net"],
                                                   edit)), b)
    assert p.stdout.split("\n")[0].split() == ["0", "100000", "65536"]
    assert net_ns in p.stdout
