"""A primary and its streaming replica, both throwaway clusters of their own on loopback ports:
the replica is made by ``pg_basebackup -R`` from the primary, as a site adds one.

The machine's own cluster is not used: its ``pg_hba.conf`` lets no one replicate, and a test
must not reconfigure a service it did not start. Both clusters are started and stopped by
``pg_ctl`` (which signals the postmaster by the pid in its data directory), their directories
removed afterwards. PostgreSQL refuses to run as root: as root, they run as ``postgres``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from tests.e2e.stack import free_port
from tests.waits import wait_for

SERVER_USER = "postgres"


def _binaries() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"))
    if not found:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but PostgreSQL's server binaries are not installed")
        pytest.skip("needs PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup)")
    return found[-1].parent


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


@dataclass
class Cluster:
    directory: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def ctl(self, *arguments: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.directory), "-w", "-t", "120", *arguments]
        subprocess.run(_as_server_user(command), check=True, capture_output=True)

    def start(self) -> None:
        self.ctl("-l", str(self.directory / "server.log"), "start")

    def restart(self) -> None:
        """A fast restart: every connection to it is cut, as a failover or a crash would."""
        self.ctl("-l", str(self.directory / "server.log"), "-m", "fast", "restart")

    def stop(self) -> None:
        if (self.directory / "postmaster.pid").exists():
            self.ctl("-m", "fast", "stop")

    def scalar(self, statement: str) -> object:
        """The first value ``statement`` returns, on a connection of its own, committed."""
        with closing(psycopg2.connect(self.url, connect_timeout=5)) as connection, connection.cursor() as cursor:
            cursor.execute(statement)
            value = cursor.fetchone()[0] if cursor.description else None
            connection.commit()
            return value


@dataclass
class StreamingPair:
    primary: Cluster
    replica: Cluster

    def replica_has(self, statement: str) -> bool:
        """Whether the replica answers ``statement`` with something true (caught up to it)."""
        return bool(self.replica.scalar(statement))

    def pause_replay(self) -> None:
        self.replica.scalar("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.replica.scalar("SELECT pg_wal_replay_resume()")


def _settings(port: int, directory: Path) -> str:
    return "\n".join(
        (
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{directory}'",
            "fsync = off",  # throwaway clusters
            "wal_level = replica",
            "max_wal_senders = 4",
            "shared_buffers = 32MB",
            "shared_preload_libraries = 'pg_stat_statements'",  # each server counts its own statements
            "",
        )
    )


@contextmanager
def streaming_pair() -> Iterator[StreamingPair]:
    """Start a primary and a replica streaming from it; stop and remove both afterwards."""
    binaries = _binaries()
    root = Path(tempfile.mkdtemp(prefix="replica-pair-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    primary = Cluster(root / "primary", free_port(), binaries)
    replica = Cluster(root / "replica", free_port(), binaries)
    try:
        initdb = [str(binaries / "initdb"), "-D", str(primary.directory), "-U", SERVER_USER, "-A", "trust"]
        subprocess.run(_as_server_user([*initdb, "--no-sync"]), check=True, capture_output=True)
        with open(primary.directory / "postgresql.conf", "a") as settings:
            settings.write(_settings(primary.port, root))
        with open(primary.directory / "pg_hba.conf", "a") as rules:
            rules.write("host replication all 127.0.0.1/32 trust\n")
        primary.start()
        backup = [str(binaries / "pg_basebackup"), "-D", str(replica.directory), "-R", "-X", "stream"]
        backup += ["-h", "127.0.0.1", "-p", str(primary.port), "-U", SERVER_USER, "--no-sync"]
        subprocess.run(_as_server_user(backup), check=True, capture_output=True)
        with open(replica.directory / "postgresql.conf", "a") as settings:
            settings.write(f"port = {replica.port}\n")
        replica.start()
        pair = StreamingPair(primary, replica)
        wait_for(lambda: pair.replica_has("SELECT pg_is_in_recovery()"), 60, "the replica to accept connections")
        yield pair
    finally:
        for cluster in (replica, primary):
            with suppress(subprocess.CalledProcessError):  # it never started; its log says why
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
