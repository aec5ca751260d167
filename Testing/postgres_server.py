"""A real PostgreSQL server for the team review store's tests (#19): a fresh cluster (initdb) in a
temporary folder, listening on a free port of 127.0.0.1 only (and a private Unix socket folder), with
password authentication on TCP, stopped and removed after. Debian package `postgresql` (`.ci/run` installs
it); without it the tests that need a server are skipped with the reason.

initdb and pg_ctl refuse to run as root: as root (CI, this machine) they run as the `postgres` user that
the Debian package creates, in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from orthanc_server import free_port

USER, PASSWORD = "mommi", "team-store-for-tests"
SYSTEM_USER = "postgres"


def _bin_dir() -> Path | None:
    """The newest installed server's programs (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def postgres_missing() -> str | None:
    """Why no PostgreSQL server can be started here (None: it can)."""
    if _bin_dir() is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does this)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser to start PostgreSQL as its own user"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'mommislicer[postgres]')"
    return None


@dataclass
class Postgres:
    port: int
    folder: Path
    bin_dir: Path

    def url(self, database: str = "postgres") -> str:
        """A URL without the password (it comes from PGPASSWORD, as the README tells users)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), password=PASSWORD, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # a test-chosen identifier, not input
        return self.url(name)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """A server program (pg_ctl ...) as the user that owns the cluster."""
        return subprocess.run(_as_owner([str(self.bin_dir / args[0]), *args[1:]]), capture_output=True, text=True)

    def restart(self) -> None:
        """Stop and start the server (fast shutdown): every open connection is cut."""
        done = self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "restart", "-l", self._log)
        if done.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not restart: {done.stderr}")

    @property
    def _log(self) -> str:
        return str(self.folder / "postgres.log")


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", SYSTEM_USER, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    bin_dir = _bin_dir()
    assert bin_dir is not None, postgres_missing()
    # not pytest's tmp_path: its parents are private to root, and the server runs as another user
    folder = Path(tempfile.mkdtemp(prefix="mommi-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, SYSTEM_USER, SYSTEM_USER)
    server = Postgres(free_port(), folder, bin_dir)
    password_file = folder / "password"
    password_file.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(password_file, SYSTEM_USER, SYSTEM_USER)
    socket_dir = folder / "socket"
    data = folder / "data"
    try:
        init = server.run(
            "initdb", "-D", str(data), "-U", USER, "--pwfile", str(password_file), "-A", "scram-sha-256", "-E", "UTF8"
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
        socket_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(socket_dir, SYSTEM_USER, SYSTEM_USER)
        options = f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={socket_dir}"
        started = server.run("pg_ctl", "-D", str(data), "-o", options, "-w", "-t", "60", "-l", server._log, "start")
        if started.returncode != 0:
            log = Path(server._log).read_text() if Path(server._log).exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr} {log[-2000:]}")
        # pg_ctl restart reuses these options (postmaster.opts), so restart() keeps the port and socket
        deadline = time.time() + 30
        while server.run("pg_isready", "-h", "127.0.0.1", "-p", str(server.port)).returncode != 0:
            if time.time() > deadline:
                raise RuntimeError("PostgreSQL does not accept connections")
            time.sleep(0.2)
        yield server
    finally:
        if data.is_dir():
            server.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
