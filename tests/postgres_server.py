"""A throwaway PostgreSQL server from Debian's postgresql package for
berth-hub's tests (the Python twin of PostgresServer in
src/hub/sql_test.cc): its own data directory, reachable only through a unix
socket in that directory, durability off for speed. initdb and postgres
refuse to run as root, so under root they run as the `postgres` user."""
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


def _bin_dir() -> str:
    found = [os.path.dirname(p) for p in glob.glob("/usr/lib/postgresql/*/bin/postgres")
             if os.path.exists(os.path.join(os.path.dirname(p), "initdb"))]
    if not found:
        raise AssertionError("no PostgreSQL server in /usr/lib/postgresql/*/bin "
                             "(install the postgresql package, see scripts/packages.txt)")
    return max(found, key=lambda d: int(d.split("/")[4]))


class PostgresServer:
    def __init__(self):
        bin_dir = _bin_dir()
        # Not under pytest's tmp_path: that is private to root, and the
        # postgres user must reach its data directory (and the socket path
        # must stay under 108 bytes).
        self.dir = Path(tempfile.mkdtemp(prefix="berth-pg-"))
        as_owner = ["setpriv"]
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise AssertionError("no `postgres` user (install the postgresql package)") from None
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            as_owner = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        data = str(self.dir / "data")
        r = subprocess.run([*as_owner, "--", f"{bin_dir}/initdb", "-D", data, "-U", "postgres", "-A", "trust",
                            "-E", "UTF8", "--locale=C", "--no-sync"], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"initdb failed ({r.returncode}): {r.stdout}{r.stderr}")
        self.log_path = self.dir / "postgres.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*as_owner, "--pdeathsig", "KILL", "--", f"{bin_dir}/postgres", "-D", data, "-k", str(self.dir),
             "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("postgres exited: " + self.log_path.read_text())
            if (self.dir / ".s.PGSQL.5432").exists() and self._psql("postgres", "SELECT 1").returncode == 0:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("postgres: no connection after 30s: " + self.log_path.read_text())
            time.sleep(0.05)
        self._databases = 0

    def _psql(self, db, sql):
        psql = shutil.which("psql") or f"{_bin_dir()}/psql"
        return subprocess.run([psql, "-h", str(self.dir), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1",
                               "-qAtc", sql], capture_output=True, text=True)

    def uri(self, db: str) -> str:
        return f"postgresql:///{db}?host={self.dir}&user=postgres"

    def create_database(self) -> str:
        """A new, empty database; returns its URI."""
        self._databases += 1
        name = f"t{self._databases}"
        r = self._psql("postgres", f"CREATE DATABASE {name}")
        if r.returncode != 0:
            raise AssertionError(f"CREATE DATABASE {name}: {r.stderr}")
        return self.uri(name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: fast shutdown
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
