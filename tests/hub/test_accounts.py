"""berth-hub with accounts: Docker Hub's token auth, private repositories,
organizations and teams, access tokens and robots, rate-limited logins and
search — driven over HTTP like docker does (tests/cli covers the real docker
CLIs against the same server)."""
import base64
import json
import sqlite3

import pytest
import requests

from registry_client import RegistryClient, error_codes, oci_image
from registry_server import AuthHub, create_hub_user, hub_api


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("authhub")
    h = AuthHub(tmp, "alice", "alice-password", orgs=["acme"])
    create_hub_user(tmp, "bob", "bob-password")
    create_hub_user(tmp, "root", "root-password", admin=True)
    yield h
    h.stop()


def client(hub, user=None, password=None):
    return RegistryClient(f"http://{hub.host}", user, password)


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_registry_challenges_like_docker_hub(hub):
    r = requests.get(f"http://{hub.host}/v2/", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (f'Bearer realm="http://{hub.host}/token",service="berth-hub"')
    r = requests.get(f"http://{hub.host}/v2/alice/app/manifests/1", timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].endswith(',scope="repository:alice/app:pull"')
    assert error_codes(r) == ["UNAUTHORIZED"]


def test_token_grants_only_what_the_caller_holds(hub):
    scope = "repository:alice/tokens:pull,push"
    r = requests.get(f"http://{hub.host}/token", params={"service": "berth-hub", "scope": scope},
                     auth=("alice", "alice-password"), timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == 300
    claims = jwt_claims(body["token"])
    assert claims["sub"] == "alice" and claims["aud"] == "berth-hub"
    assert claims["access"] == [{"type": "repository", "name": "alice/tokens", "actions": ["pull", "push"]}]
    # bob may not push into alice's namespace, and the repository does not exist to pull.
    r = requests.get(f"http://{hub.host}/token", params={"service": "berth-hub", "scope": scope},
                     auth=("bob", "bob-password"), timeout=10)
    assert jwt_claims(r.json()["token"])["access"][0]["actions"] == []
    # Wrong password: 401, no token.
    r = requests.get(f"http://{hub.host}/token", params={"scope": scope}, auth=("alice", "nope"), timeout=10)
    assert r.status_code == 401 and "token" not in r.text


def test_private_repository_is_invisible_without_rights(hub):
    alice = client(hub, "alice", "alice-password")
    img = oci_image()
    img.push(alice, "alice/secret", "1")
    status, _ = hub_api(hub, "PATCH", "/api/v1/repositories/alice/secret", "alice", "alice-password",
                        {"is_private": True, "description": "top secret"})
    assert status == 200
    img.push(alice, "alice/open", "1")

    anon = client(hub)
    r = anon.get("/v2/alice/secret/manifests/1")
    assert r.status_code == 401 and error_codes(r) == ["UNAUTHORIZED"]
    assert anon.get("/v2/alice/open/manifests/1").status_code == 200  # anonymous pull of a public repository

    bob = client(hub, "bob", "bob-password")
    r = bob.get("/v2/alice/secret/manifests/1")
    assert r.status_code == 404 and error_codes(r) == ["NAME_UNKNOWN"]
    r = bob.get(f"/v2/alice/secret/blobs/{img.digest}")
    assert r.status_code == 404
    # Never listed: catalog, search (docker's and the UI's), repository API.
    assert "alice/secret" not in bob.get("/v2/_catalog").json()["repositories"]
    assert "alice/open" in bob.get("/v2/_catalog").json()["repositories"]
    r = requests.get(f"http://{hub.host}/v1/search", params={"q": "secret"}, auth=("bob", "bob-password"), timeout=10)
    assert r.json()["results"] == []
    status, body = hub_api(hub, "GET", "/api/v1/repositories?q=alice", "bob", "bob-password")
    assert [x["repo_name"] for x in body["results"]] == ["alice/open"]
    assert hub_api(hub, "GET", "/api/v1/repositories/alice/secret", "bob", "bob-password")[0] == 404
    # The owner sees it everywhere.
    assert "alice/secret" in alice.get("/v2/_catalog").json()["repositories"]
    r = requests.get(f"http://{hub.host}/v1/search", params={"q": "secret"}, auth=("alice", "alice-password"),
                     timeout=10)
    assert [x["name"] for x in r.json()["results"]] == ["alice/secret"]
    assert r.json()["results"][0]["description"] == "top secret"

    # A read grant lets bob pull but not push.
    status, _ = hub_api(hub, "PUT", "/api/v1/repositories/alice/secret/collaborators/bob", "alice", "alice-password",
                        {"permission": "read"})
    assert status == 200
    bob = client(hub, "bob", "bob-password")
    assert bob.get("/v2/alice/secret/manifests/1").status_code == 200
    r = bob.post("/v2/alice/secret/blobs/uploads/")
    assert r.status_code == 403 and error_codes(r) == ["DENIED"]
    # bob cannot create repositories in alice's namespace either.
    r = bob.post("/v2/alice/bobs/blobs/uploads/")
    assert r.status_code in (401, 403, 404)


def test_organization_teams_grant_write(hub):
    assert hub_api(hub, "POST", "/api/v1/orgs/acme/teams", "alice", "alice-password", {"name": "devs"})[0] == 201
    assert hub_api(hub, "PUT", "/api/v1/orgs/acme/teams/devs/members/bob", "alice", "alice-password")[0] == 200
    # Only owners manage teams.
    assert hub_api(hub, "POST", "/api/v1/orgs/acme/teams", "bob", "bob-password", {"name": "x"})[0] == 403
    alice = client(hub, "alice", "alice-password")
    oci_image().push(alice, "acme/app", "1")
    bob = client(hub, "bob", "bob-password")
    r = bob.post("/v2/acme/app/blobs/uploads/")
    assert r.status_code == 403  # public repo: bob reads, but no team grant yet
    status, _ = hub_api(hub, "PUT", "/api/v1/repositories/acme/app/teams/devs", "alice", "alice-password",
                        {"permission": "write"})
    assert status == 200
    bob = client(hub, "bob", "bob-password")
    oci_image().push(bob, "acme/app", "2")
    assert hub_api(hub, "DELETE", "/api/v1/orgs/acme/teams/devs/members/bob", "alice", "alice-password")[0] == 204
    bob = client(hub, "bob", "bob-password")
    assert bob.post("/v2/acme/app/blobs/uploads/").status_code == 403


def test_access_tokens_and_robots(hub):
    status, body = hub_api(hub, "POST", "/api/v1/tokens", "alice", "alice-password",
                           {"description": "ci", "scope": "read"})
    assert status == 201 and body["token"].startswith("bhp_") and body["scope"] == "read"
    read_token = body["token"]
    # The token is stored hashed; only its id is listed.
    listed = hub_api(hub, "GET", "/api/v1/tokens", "alice", "alice-password")[1]
    assert [t["id"] for t in listed] == [body["id"]] and "token" not in listed[0]
    alice_ro = client(hub, "alice", read_token)
    oci_image().push(client(hub, "alice", "alice-password"), "alice/tokapp", "1")
    assert alice_ro.get("/v2/alice/tokapp/manifests/1").status_code == 200
    r = alice_ro.post("/v2/alice/tokapp/blobs/uploads/")
    assert r.status_code == 403  # the token is read-only, though alice owns the repository
    assert hub_api(hub, "DELETE", f"/api/v1/tokens/{body['id']}", "alice", "alice-password")[0] == 204
    r = requests.get(f"http://{hub.host}/token", params={"scope": "repository:alice/tokapp:pull"},
                     auth=("alice", read_token), timeout=10)
    assert r.status_code == 401  # revoked

    status, robot = hub_api(hub, "POST", "/api/v1/namespaces/acme/robots", "alice", "alice-password", {"name": "ci"})
    assert status == 201 and robot["name"] == "acme+ci"
    assert hub_api(hub, "PUT", "/api/v1/repositories/acme/app/collaborators/acme+ci", "alice", "alice-password",
                   {"permission": "write"})[0] == 200
    oci_image().push(client(hub, "acme+ci", robot["token"]), "acme/app", "robot")
    r = client(hub, "acme+ci", robot["token"]).post("/v2/acme/other/blobs/uploads/")
    assert r.status_code in (401, 403, 404)  # robots never create repositories


def test_passwords_are_stored_with_a_slow_salted_hash(hub):
    db = sqlite3.connect(hub.dir / "root" / "hub.db")
    rows = dict(db.execute("SELECT name, password_hash FROM accounts WHERE kind = 'user'").fetchall())
    assert rows["alice"].startswith("$scrypt$ln=15,") and "alice-password" not in rows["alice"]
    assert rows["alice"] != rows["bob"]
    db.close()


def test_login_session_and_signup(hub):
    r = requests.post(f"http://{hub.host}/api/v1/login", json={"username": "bob", "password": "bob-password"},
                      timeout=10)
    assert r.status_code == 200
    assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Strict" in r.headers["Set-Cookie"]
    me = requests.get(f"http://{hub.host}/api/v1/user", cookies={"berth_session": r.cookies["berth_session"]},
                      timeout=10)
    assert me.json()["username"] == "bob"
    # The session token is not a registry token.
    r2 = requests.get(f"http://{hub.host}/v2/alice/open/tags/list",
                      headers={"Authorization": "Bearer " + r.json()["token"]}, timeout=10)
    assert r2.status_code == 401
    # Sign-up is allowed on this hub (--allow-signup); names are checked.
    assert hub_api(hub, "POST", "/api/v1/users", body={"username": "carol", "password": "carol-password"})[0] == 201
    assert hub_api(hub, "POST", "/api/v1/users", body={"username": "carol", "password": "carol-password"})[0] == 409
    assert hub_api(hub, "POST", "/api/v1/users", body={"username": "Bad Name", "password": "whatever1"})[0] == 400
    assert hub_api(hub, "POST", "/api/v1/users", body={"username": "dave", "password": "short"})[0] == 400


def test_failed_logins_are_rate_limited(hub):
    create_hub_user(hub.dir, "mallory", "mallory-password")
    codes = [requests.get(f"http://{hub.host}/token", auth=("mallory", f"guess{i}"), timeout=10).status_code
             for i in range(10)]
    assert codes == [401] * 10
    # Locked for a while, even with the right password.
    r = requests.get(f"http://{hub.host}/token", auth=("mallory", "mallory-password"), timeout=10)
    assert r.status_code == 429
    # Other accounts are not affected... by this account's lock (the address limit is higher).
    r = requests.get(f"http://{hub.host}/token", auth=("bob", "bob-password"), timeout=10)
    assert r.status_code == 200


def test_skopeo_with_token_auth(hub, tmp_path):
    """skopeo inspect, list-tags and copy against berth-hub's token auth;
    a private repository stays closed to anonymous skopeo."""
    import subprocess

    alice = client(hub, "alice", "alice-password")
    img = oci_image(layers=2)
    img.push(alice, "alice/skopeo", "v1")

    def skopeo(*args):
        return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)

    creds = "alice:alice-password"
    src = f"docker://{hub.host}/alice/skopeo:v1"
    p = skopeo("inspect", "--tls-verify=false", "--creds", creds, "--raw", src)
    assert p.returncode == 0, p.stderr
    assert p.stdout.encode() == img.manifest
    p = skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", creds,
               "--dest-creds", creds, "--preserve-digests", src, f"docker://{hub.host}/alice/skopeo-copy:v2")
    assert p.returncode == 0, p.stderr
    p = skopeo("list-tags", "--tls-verify=false", "--creds", creds, f"docker://{hub.host}/alice/skopeo-copy")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Tags"] == ["v2"]
    assert alice.get("/v2/alice/skopeo-copy/manifests/v2").headers["Docker-Content-Digest"] == img.digest

    # Anonymous: public yes; private no.
    assert skopeo("list-tags", "--tls-verify=false", f"docker://{hub.host}/alice/skopeo").returncode == 0
    assert hub_api(hub, "PATCH", "/api/v1/repositories/alice/skopeo", "alice", "alice-password",
                   {"is_private": True})[0] == 200
    p = skopeo("list-tags", "--tls-verify=false", f"docker://{hub.host}/alice/skopeo")
    assert p.returncode != 0
    assert "unauthorized" in p.stderr.lower() or "authentication required" in p.stderr.lower(), p.stderr


def test_policies_quotas_and_gc_need_the_right_account(hub):
    alice = client(hub, "alice", "alice-password")
    oci_image().push(alice, "alice/guarded", "1")
    oci_image().push(alice, "alice/hidden", "1")
    assert hub_api(hub, "PATCH", "/api/v1/repositories/alice/hidden", "alice", "alice-password",
                   {"is_private": True})[0] == 200
    policy = {"immutable_tags": ["v*"]}

    # Repository policies: its admins only; a private one does not exist for outsiders.
    status, body = hub_api(hub, "PUT", "/api/v1/repositories/alice/guarded/policies", "alice", "alice-password", policy)
    assert status == 200 and body["immutable_tags"] == ["v*"]
    assert hub_api(hub, "PUT", "/api/v1/repositories/alice/guarded/policies", body=policy)[0] == 401
    assert hub_api(hub, "PUT", "/api/v1/repositories/alice/guarded/policies", "bob", "bob-password", policy)[0] == 403
    assert hub_api(hub, "GET", "/api/v1/repositories/alice/hidden/policies", "bob", "bob-password")[0] == 404
    assert hub_api(hub, "GET", "/api/v1/repositories/alice/hidden/policies", "alice", "alice-password")[0] == 200

    # Quotas: site admins set them; the namespace's owner may read its own.
    assert hub_api(hub, "PUT", "/api/v1/namespaces/alice/quota", "alice", "alice-password",
                   {"limit_bytes": 1})[0] == 403
    status, body = hub_api(hub, "PUT", "/api/v1/namespaces/alice/quota", "root", "root-password",
                           {"limit_bytes": 1 << 30})
    assert status == 200 and body["limit_bytes"] == 1 << 30 and body["used_bytes"] > 0
    assert hub_api(hub, "GET", "/api/v1/namespaces/alice/quota", "alice", "alice-password")[1]["limit_bytes"] == 1 << 30
    assert hub_api(hub, "GET", "/api/v1/namespaces/alice/quota", "bob", "bob-password")[0] == 403
    # Reading needs no write scope: alice's read-only token reads her quota.
    token = hub_api(hub, "POST", "/api/v1/tokens", "alice", "alice-password",
                    {"description": "quota", "scope": "read"})[1]["token"]
    assert hub_api(hub, "GET", "/api/v1/namespaces/alice/quota", "alice", token)[1]["limit_bytes"] == 1 << 30
    assert hub_api(hub, "PUT", "/api/v1/namespaces/alice/quota", "root", "root-password",
                   {"limit_bytes": None})[0] == 200

    # Garbage collection: site admins only.
    assert hub_api(hub, "POST", "/api/v1/gc", "alice", "alice-password", {"dry_run": True})[0] == 403
    assert hub_api(hub, "POST", "/api/v1/gc", body={"dry_run": True})[0] == 401
    status, body = hub_api(hub, "POST", "/api/v1/gc", "root", "root-password", {"dry_run": True})
    assert status == 200 and body["dry_run"] is True


def test_repositories_named_like_routes_are_reachable(hub):
    alice = ("alice", "alice-password")
    # "startup" begins with the route word "star"; "tags" and "webhooks" are route words.
    for name in ("alice/startup", "alice/tags", "alice/webhooks"):
        oci_image().push(client(hub, *alice), name, "v1")
        status, body = hub_api(hub, "PATCH", f"/api/v1/repositories/{name}/-", *alice, {"description": name})
        assert status == 200 and body["repo_name"] == name
        status, body = hub_api(hub, "GET", f"/api/v1/repositories/{name}/-/tags", *alice)
        assert status == 200 and [t["name"] for t in body] == ["v1"]
        status, body = hub_api(hub, "PUT", f"/api/v1/repositories/{name}/-/star", *alice)
        assert status == 200 and body["star_count"] == 1
        status, body = hub_api(hub, "GET", f"/api/v1/repositories/{name}/-/webhooks", *alice)
        assert status == 200 and body == []
        status, body = hub_api(hub, "GET", f"/api/v1/repositories/{name}/-/policies", *alice)
        assert status == 200
    # The short form: a prefix of a route word is part of the name...
    status, body = hub_api(hub, "GET", "/api/v1/repositories/alice/startup", *alice)
    assert status == 200 and body["description"] == "alice/startup"
    status, body = hub_api(hub, "GET", "/api/v1/repositories/alice/startup/tags", *alice)
    assert status == 200 and [t["name"] for t in body] == ["v1"]
    # ...and a whole route word is the route (alice/tags is reached through "-").
    assert hub_api(hub, "GET", "/api/v1/repositories/alice/tags", *alice)[0] == 404
    # Routes that do not exist under "-" are refused, not taken as names.
    assert hub_api(hub, "GET", "/api/v1/repositories/alice/startup/-/nothing", *alice)[0] == 404
