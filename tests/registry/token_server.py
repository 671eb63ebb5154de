"""A stand-in for Docker Hub's auth and index services until berth-hub
serves them: Docker's token authentication (distribution's auth/token spec)
for a real docker-registry, and the index's /v1/search. Token auth is an
HTTP endpoint that checks Basic credentials and issues RS256 JWTs with the
granted "access" claims. The registry trusts the
signing certificate (rootcertbundle) and finds it by the JWT's "kid", the
libtrust key ID of the public key.

The search index answers /v1/search?q=&n= from `index` (a list of result
dicts in Docker Hub's shape), matching q as a substring of the name.

GET with Basic credentials and offline_token=true also returns a refresh
token; POST grant_type=refresh_token exchanges one for an access token (the
OAuth2 flow docker clients use with a stored identity token).

Grants: anonymous callers may pull repositories under "public/"; users in
`users` may pull and push anything. Anything else gets a token with no
access, which the registry answers with 401.
"""
import base64
import datetime
import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SERVICE = "berth-test-registry"
ISSUER = "berth-test-issuer"


def libtrust_key_id(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class TokenServer:
    def __init__(self, tmp, users, index=()):
        self.users = users
        self.index = list(index)
        self.searches = []  # query strings of /v1/search requests
        self.grants = []  # how each token was obtained: anonymous, basic, refresh_token
        self.refresh_tokens = {}  # issued refresh token -> account
        self.requests = []  # (account, scopes) per token request
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test token signer")])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=10))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_path = tmp / "token-cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.kid = libtrust_key_id(self.key.public_key())
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                q = parse_qs(url.query)
                if url.path == "/v1/search":
                    server.searches.append(url.query)
                    term, n = q.get("q", [""])[0], int(q.get("n", ["25"])[0])
                    hits = [r for r in server.index if term in r["name"]][:n]
                    return self.reply(200, {"num_results": len(hits), "query": term, "page": 1, "results": hits})
                account = None
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    if server.users.get(user) != pw:
                        return self.reply(401, {"details": "incorrect username or password"})
                    account = user
                # offline_token=true with credentials: also a refresh token (docker login's identity token).
                refresh = q.get("offline_token") == ["true"] and account is not None
                self.grant(account, q.get("scope", []), refresh, "basic" if account else "anonymous")

            def do_POST(self):
                # OAuth2 refresh-token grant: how clients use a stored identity token.
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                if form.get("grant_type") != ["refresh_token"]:
                    return self.reply(400, {"error": "unsupported_grant_type"})
                account = server.refresh_tokens.get(form.get("refresh_token", [""])[0])
                if account is None:
                    return self.reply(401, {"error": "invalid_grant"})
                scopes = [x for sc in form.get("scope", []) for x in sc.split(" ")]
                self.grant(account, scopes, False, "refresh_token")

            def grant(self, account, scopes, refresh, how):
                server.requests.append((account, scopes))
                server.grants.append(how)
                token = server.issue(account, scopes)
                out = {"token": token, "access_token": token, "expires_in": 300,
                       "issued_at": datetime.datetime.utcnow().isoformat() + "Z"}
                if refresh:
                    rt = "rt-" + uuid.uuid4().hex
                    server.refresh_tokens[rt] = account
                    out["refresh_token"] = rt
                self.reply(200, out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def issue(self, account, scopes):
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) != 3 or parts[0] != "repository":
                    continue
                name, wanted = parts[1], parts[2].split(",")
                if account:
                    granted = [a for a in wanted if a in ("pull", "push")]
                else:
                    granted = ["pull"] if name.startswith("public/") and "pull" in wanted else []
                access.append({"type": "repository", "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": account or "", "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def registry_auth_yaml(self):
        return (f"auth:\n  token:\n    realm: {self.realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n"
                f"    rootcertbundle: {self.cert_path}\n")

    def stop(self):
        self.httpd.shutdown()
