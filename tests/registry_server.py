"""Real registries for end-to-end tests: Debian's docker-registry
(distribution 2.8) on 127.0.0.1, optionally behind htpasswd Basic auth or
behind Docker's token auth with a small token server (token_server.py)."""
import base64
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from berth_build import BUILD
from local_server import free_port, stop_process, wait_until_answering


class Registry:
    def __init__(self, tmp: Path, auth_yaml: str = ""):
        self.dir = tmp
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        cfg = tmp / "config.yml"
        cfg.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n" + auth_yaml)
        self.log = open(tmp / "registry.log", "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_answering(f"http://{self.host}/v2/", self.proc, 10, "docker-registry", tmp / "registry.log")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def blob_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return self.dir / "data/docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def htpasswd_auth(tmp: Path, user: str, password: str) -> str:
    out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True, text=True).stdout
    (tmp / "htpasswd").write_text(out)
    return f"auth:\n  htpasswd:\n    realm: test\n    path: {tmp / 'htpasswd'}\n"


def write_auth(config_dir, host, user, password):
    """A docker config.json holding Basic credentials for host."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))


class Hub:
    """berth-hub serve on 127.0.0.1 with a private root; the same interface
    as Registry, so a push/pull scenario runs unchanged against both."""

    def __init__(self, tmp: Path, *extra_args: str):
        self.dir = tmp
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        binary = BUILD / "berth-hub"
        if not binary.exists():
            raise AssertionError(f"berth-hub is not built: {binary} (build the berth-hub target or set BERTH_BUILD_DIR)")
        self.log = open(tmp / "berth-hub.log", "ab")
        self.proc = subprocess.Popen([str(binary), "serve", "--root", str(tmp / "root"), "--listen", self.host,
                                      *(extra_args or ("--open",))], stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_answering(f"http://{self.host}/v2/", self.proc, 15, "berth-hub", tmp / "berth-hub.log")

    def stop(self):
        stop_process(self.proc)
        self.log.close()

    def blob_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return self.dir / "root/blobs/sha256" / hexd[:2] / hexd


# Both registry implementations, for fixtures parameterized over them.
REGISTRY_KINDS = {"distribution": Registry, "berth-hub": Hub}


def hub_api(hub, method, path, user=None, password=None, body=None):
    """One call to berth-hub's JSON API; returns (status, parsed JSON or None)."""
    req = urllib.request.Request(f"http://{hub.host}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
            return r.status, json.loads(data) if data else None
    except urllib.error.HTTPError as e:
        data = e.read()
        return e.code, json.loads(data) if data else None


def create_hub_user(tmp: Path, name: str, password: str, admin=False):
    """Creates an account offline (before or while berth-hub serves tmp/root)."""
    args = [str(BUILD / "berth-hub"), "user", "create", "--root", str(tmp / "root"), name]
    if admin:
        args.append("--admin")
    subprocess.run(args, input=password + "\n", text=True, check=True, capture_output=True)


class AuthHub(Hub):
    """berth-hub with accounts and Docker Hub's token auth (no --open): user
    `user` owns the organizations in `orgs`, so it may push to <org>/..."""

    def __init__(self, tmp: Path, user: str, password: str, orgs=()):
        (tmp / "root").mkdir(parents=True, exist_ok=True)
        create_hub_user(tmp, user, password)
        super().__init__(tmp, "--allow-signup")
        for org in orgs:
            status, body = hub_api(self, "POST", "/api/v1/orgs", user, password, {"name": org})
            assert status == 201, (status, body)
