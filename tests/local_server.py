"""Helpers for the servers end-to-end tests start on 127.0.0.1: a free
port, waiting until a server answers HTTP, and stopping it."""
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_answering(url: str, proc: subprocess.Popen, seconds: float, name: str, log_path: Path):
    """Returns once url answers HTTP (any status: an error status means the
    server is up); raises AssertionError with the server's log when proc
    exits or `seconds` pass first (proc is then stopped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.05)
    stop_process(proc)
    raise AssertionError(f"{name} did not start: " + log_path.read_text())


def stop_process(proc: subprocess.Popen, seconds: float = 10):
    """SIGTERM, and SIGKILL after `seconds`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
