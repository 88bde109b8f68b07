"""A real PostgreSQL server for the log-store tests: Debian's ``postgresql`` package (``.ci/run`` installs it),
``initdb`` in a temp dir as an unprivileged user (root cannot run the server: the ``postgres`` system user
the package creates), listening on a unix socket in that dir and on 127.0.0.1 at a free port; stopped
at the end of the session.

Local (socket) connections are trusted, for the tests' own set-up; TCP ones need a password
(scram-sha-256), which the job under test gets from ``PGPASSWORD`` as a user would.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

PASSWORD = "auditor-secret"


@dataclass(frozen=True)
class Postgres:
    socket_dir: str
    port: int
    database: str = "logs"
    user: str = "auditor"

    @property
    def uri(self) -> str:
        """What a user passes to ``tokcount count``: no password in it."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def admin(self) -> str:
        """The tests' own connection (trusted socket) to the logs database."""
        return f"host={self.socket_dir} port={self.port} user=postgres dbname={self.database}"


def _bin() -> str:
    """Debian's newest server binaries, else whatever ``initdb`` is on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    on_path = shutil.which("initdb")
    if not found and not on_path:
        pytest.fail("PostgreSQL is not installed (apt-get install -y postgresql; .ci/run does it)")
    return os.path.dirname(found[-1]) if found else os.path.dirname(on_path or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    binary = _bin()
    base = tempfile.mkdtemp(prefix="tokcount-pg-")
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, port = os.path.join(base, "data"), _free_port()

    def run(argv: list[str]) -> None:
        done = subprocess.run(_as_server_user(argv), capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"{' '.join(argv[:1])} failed: {done.stderr or done.stdout}")

    run([f"{binary}/initdb", "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
         "-E", "UTF8", "--no-sync"])
    run([f"{binary}/pg_ctl", "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60", "-o",
         f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
    server = Postgres(base, port)
    try:
        import psycopg

        with psycopg.connect(f"host={base} port={port} user=postgres dbname=postgres", autocommit=True) as con:
            con.execute(f"CREATE ROLE {server.user} LOGIN PASSWORD '{PASSWORD}'")
            con.execute(f"CREATE DATABASE {server.database} OWNER {server.user}")
        yield server
    finally:
        run([f"{binary}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)
