"""A real S3-compatible server for berth-hub's S3 storage tests: s3rver
(npm, pinned in scripts/install-deps), one process on 127.0.0.1 with its
data in a private directory and one bucket made at start.

s3rver answers the S3 REST API (objects, ranges, ListObjectsV2, CopyObject,
multipart uploads) the way berth-hub uses it; it accepts any well-formed
Signature V4 without checking it, so the signing itself is tested against
AWS's published examples (src/hub/s3_sigv4_test.cc)."""
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

# Where scripts/install-deps puts it (BERTH_S3RVER overrides).
S3RVER = Path(os.environ.get("BERTH_S3RVER") or
              Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "berth/s3rver/node_modules/.bin/s3rver")

ACCESS_KEY = "S3RVER"  # s3rver's built-in account
SECRET_KEY = "S3RVER"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    def __init__(self, tmp: Path, bucket: str = "berth-hub"):
        if not S3RVER.exists():
            raise AssertionError(f"s3rver is not installed at {S3RVER} (run scripts/install-deps)")
        if not shutil.which("node"):
            raise AssertionError("node is not installed (run scripts/install-deps)")
        self.bucket = bucket
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        data = tmp / "s3-data"
        data.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp / "s3rver.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(S3RVER), "-d", str(data), "-a", "127.0.0.1", "-p", str(self.port),
                                      "--configure-bucket", bucket, "--silent"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # up: an S3 error document for the anonymous request
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("s3rver did not start: " + self.log_path.read_text())

    def storage_url(self, prefix: str) -> str:
        """The berth-hub --storage value for objects under prefix."""
        return f"s3://{ACCESS_KEY}:{SECRET_KEY}@{self.bucket}/{prefix}?endpoint={self.endpoint}&region=us-east-1"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
