"""A real S3-compatible server for berth-hub's S3 storage tests: s3rver
(npm, pinned in scripts/install-deps), one process on 127.0.0.1 with its
data in a private directory and one bucket made at start.

s3rver answers the S3 REST API (objects, ranges, ListObjectsV2, CopyObject,
multipart uploads) the way berth-hub uses it; it accepts any well-formed
Signature V4 without checking it, so the signing itself is tested against
AWS's published examples (src/hub/s3_sigv4_test.cc)."""
import os
import shutil
import subprocess
from pathlib import Path

from local_server import free_port, stop_process, wait_until_answering

# Where scripts/install-deps puts it (BERTH_S3RVER overrides).
S3RVER = Path(os.environ.get("BERTH_S3RVER") or
              Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "berth/s3rver/node_modules/.bin/s3rver")

ACCESS_KEY = "S3RVER"  # s3rver's built-in account
SECRET_KEY = "S3RVER"


class S3Server:
    def __init__(self, tmp: Path, bucket: str = "berth-hub"):
        if not S3RVER.exists():
            raise AssertionError(f"s3rver is not installed at {S3RVER} (run scripts/install-deps)")
        if not shutil.which("node"):
            raise AssertionError("node is not installed (run scripts/install-deps)")
        self.bucket = bucket
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        data = tmp / "s3-data"
        data.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp / "s3rver.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(S3RVER), "-d", str(data), "-a", "127.0.0.1", "-p", str(self.port),
                                      "--configure-bucket", bucket, "--silent"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        # An anonymous request gets an S3 error document once s3rver is up.
        wait_until_answering(self.endpoint + "/", self.proc, 20, "s3rver", self.log_path)

    def storage_url(self, prefix: str) -> str:
        """The berth-hub --storage value for objects under prefix."""
        return f"s3://{ACCESS_KEY}:{SECRET_KEY}@{self.bucket}/{prefix}?endpoint={self.endpoint}&region=us-east-1"

    def stop(self):
        stop_process(self.proc)
        self.log.close()
