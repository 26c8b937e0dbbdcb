"""The scaled-out stack: two app hosts behind one nginx upstream, both on PgBouncer in
transaction mode, migrations on a direct connection, list pages on a streaming replica (README,
"Scaling out"; docs/scaling.md).

It is ``stack.Stack`` with more hosts: the same database, release step, operator, TLS and /ops/.
Every process is started and stopped by its pid, PgBouncer included.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from tests.e2e.stack import THREADS, Database, Host, Stack, libpq_url, procfile_command
from tests.pgbouncer import running_pgbouncer
from tests.replica import StreamingPair, streaming_pair

HOSTS = ("host-a", "host-b")
WORKERS_PER_HOST = 2
# Each worker's pool serves its threads without waiting; PgBouncer multiplexes the clients of
# every host (hosts × workers × (pool + the publisher's one)) onto fewer server connections.
POOL_SIZE = THREADS
SERVER_CONNECTIONS = 8
# How long a transaction waits in PgBouncer for a server connection before the client is told
# query_wait_timeout (the request then answers 503): long enough for a slow machine's ordinary
# load, short against PgBouncer's 120 s default (docs/scaling.md, "Connection budget").
QUERY_WAIT_TIMEOUT = 5
MONITORING_INTERVAL_SECONDS = 1
METRICS_TOKEN = "scaled-out-metrics-token"
# Generous: the deploy path's tests read a list right after their write, on a machine that may be
# slow; within this the writer's pages read the primary.
READ_YOUR_WRITES_SECONDS = 30
# A paused replay must not read as too far behind while a test looks (its fallback is tested in
# tests/test_read_replica.py).
REPLICA_MAX_LAG_SECONDS = 600


class ScaledStack(Stack):
    workers = WORKERS_PER_HOST
    host_names: tuple[str, ...] = HOSTS

    def __init__(self, admin_url: str, directory: Path) -> None:
        super().__init__(admin_url, directory)
        self.pooled_url = ""
        self.replica_url = ""
        self.pair: StreamingPair | None = None
        self._pooler = ExitStack()

    def environment(self, host: Host | None = None) -> dict[str, str]:
        return {
            **super().environment(host),
            "DATABASE_URL": self.pooled_url,
            "DATABASE_REPLICA_URL": self.replica_url,
            "READ_YOUR_WRITES_SECONDS": str(READ_YOUR_WRITES_SECONDS),
            "REPLICA_MAX_LAG_SECONDS": str(REPLICA_MAX_LAG_SECONDS),
            "MIGRATION_DATABASE_URL": self.database.url,
            "DB_POOL_SIZE": str(POOL_SIZE),
            "MONITORING_INTERVAL_SECONDS": str(MONITORING_INTERVAL_SECONDS),
            "METRICS_TOKEN": METRICS_TOKEN,
        }

    def start(self) -> None:
        """The primary and its replica first (clusters of their own: the machine's does not
        replicate), then PgBouncer in front of the primary, then the hosts."""
        self.pair = self._pooler.enter_context(streaming_pair())
        self.database = Database(libpq_url(self.pair.primary.url), self.database.name)
        self.replica_url = libpq_url(self.pair.replica.url, self.database.name)
        self.pooled_url = self._pooler.enter_context(
            running_pgbouncer(
                self.database.url, self.directory, pool_size=SERVER_CONNECTIONS, query_wait_timeout=QUERY_WAIT_TIMEOUT
            )
        )
        super().start()
        with self.database.connect() as connection, connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            connection.commit()

    def release(self) -> None:
        """Both hosts' release steps at once, as two hosts deploying together run them."""
        with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
            self.release_output = list(
                pool.map(lambda host: self.run(procfile_command("release"), host=host), self.hosts)
            )

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._pooler.close()

    def restart_database(self) -> None:
        """Restart the primary (the stack's own cluster); PgBouncer and the replica reconnect."""
        assert self.pair is not None
        self.pair.primary.restart()

    def ensure_database_running(self) -> None:
        assert self.pair is not None
        if not (self.pair.primary.directory / "postmaster.pid").exists():
            self.pair.primary.start()

    @property
    def replica_database(self) -> Database:
        """The stack's database on the replica (read only)."""
        assert self.pair is not None
        return Database(libpq_url(self.pair.replica.url), self.database.name)

    def host(self, name: str) -> Host:
        return next(host for host in self.hosts if host.name == name)

    def host_address(self, name: str) -> str:
        """The host's own address (gunicorn's), where Prometheus scrapes it."""
        return f"127.0.0.1:{self.host(name).port}"

    def pinned_origin(self, name: str) -> str:
        """nginx's server for one host alone: the same TLS, prefix and locations."""
        return f"https://127.0.0.1:{self.host(name).pinned_port}"

    def kill_host(self, name: str) -> set[int]:
        """SIGKILL the host's master and workers at once, as a machine that loses power: nothing
        finishes its requests or leaves the dashboard's store. Returns the killed pids."""
        host = self.host(name)
        assert host.process is not None
        victims = {host.process.pid, *self.worker_pids(host)}
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        host.process.wait(timeout=30)
        return victims

    def restart_host(self, name: str) -> None:
        host = self.host(name)
        self.start_host(host)
        self.wait_until_serving()
