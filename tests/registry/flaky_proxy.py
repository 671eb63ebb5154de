"""An HTTP proxy in front of a registry that breaks the first download of
every blob halfway (sends half the bytes, then drops the connection), and
records the Range headers of later requests: a client that resumes asks
for the rest instead of starting over."""
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FlakyProxy:
    def __init__(self, upstream_host):
        self.upstream = upstream_host
        self.broken = set()   # blob paths already cut once
        self.ranges = []      # (path, Range header) of blob GETs
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                is_blob = self.command == "GET" and "/blobs/sha256:" in self.path and resp.status in (200, 206)
                if is_blob:
                    proxy.ranges.append((self.path, self.headers.get("Range")))
                cut = is_blob and self.path not in proxy.broken and len(data) > 1
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Connection", "close" if cut else "keep-alive")
                self.end_headers()
                if cut:
                    proxy.broken.add(self.path)
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
