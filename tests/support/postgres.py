"""A throw-away PostgreSQL cluster on 127.0.0.1 for tests and benches.

``PostgresCluster.create()`` runs ``initdb`` into a fresh temporary directory and starts
``postgres`` on a free port with password authentication over TCP (user ``inferwatch``; the
password is in ``password_file``). PostgreSQL refuses to run as root: when we are root the
server runs as the ``postgres`` user the Debian package creates (or ``nobody``). The
binaries come from ``PATH`` or Debian's ``/usr/lib/postgresql/<version>/bin``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import free_port

USER = "inferwatch"


def binary(name: str) -> str | None:
    """Where the PostgreSQL program ``name`` is, or ``None``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def available() -> bool:
    return all(binary(n) for n in ("initdb", "pg_ctl", "postgres"))


def _run_as() -> str | None:
    """The user to run the server as when we are root (postgres refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL")


@dataclass
class PostgresCluster:
    root: Path
    port: int
    password: str
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL without the password (that comes from ``password_file``)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        return ["runuser", "-u", self.run_as, "--", *args]

    @classmethod
    def create(cls, *, fsync: bool = False) -> PostgresCluster:
        run_as = _run_as()
        root = Path(tempfile.mkdtemp(prefix="inferwatch-pg-"))
        cluster = cls(root, free_port(), secrets.token_urlsafe(16), run_as, fsync)
        cluster.password_file.write_text(cluster.password + "\n", encoding="utf-8")
        if run_as is not None:
            pw = pwd.getpwnam(run_as)
            for path in (root, cluster.password_file):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        subprocess.run(
            cluster._cmd(
                str(binary("initdb")),
                "-D",
                str(cluster.data),
                "-U",
                USER,
                f"--pwfile={cluster.password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ),
            check=True,
            capture_output=True,
        )
        cluster.start()
        return cluster

    fsync: bool = False
    """Off by default: a commit still reaches the OS before it returns, so it survives any
    process being killed (what the tests do), as with SQLite's default; only an OS crash
    could lose it. It keeps the tests off the shared disk's sync queue."""

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c fsync={'on' if self.fsync else 'off'}"
            f" -c unix_socket_directories={self.root} -c max_connections=100"
        )
        subprocess.run(
            self._cmd(
                str(binary("pg_ctl")),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            self._cmd(str(binary("pg_ctl")), "-D", str(self.data), "-m", mode, "-w", "stop"),
            check=False,
            capture_output=True,
        )

    def kill(self) -> None:
        """SIGKILL the postmaster (its children exit as they notice)."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)

    def psql(self, sql: str, database: str = "postgres") -> None:
        """Run ``sql`` as the cluster's user (autocommit: CREATE DATABASE works)."""
        import psycopg

        with psycopg.connect(self.url(database), password=self.password, autocommit=True) as c:
            c.execute(sql)  # type: ignore[arg-type]  # test SQL

    def new_database(self) -> str:
        """A fresh empty database; returns its URL."""
        name = "t_" + secrets.token_hex(6)
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


__all__ = ["PostgresCluster", "available", "binary"]
