"""PgBouncer in transaction mode in front of the test database (the pooler most sites put in
front of PostgreSQL): a fixture for the tests that must hold through it, and the runner the
scaled-out end-to-end stack (tests/e2e/topology.py) starts it with."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.e2e.stack import free_port
from tests.programs import required_program
from tests.waits import wait_for
from webapp.config import normalize_database_url


def accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def pgbouncer_binary() -> str:
    return required_program("pgbouncer", "pgbouncer", fallback="/usr/sbin/pgbouncer")


@contextmanager
def running_pgbouncer(
    database_url: str,
    directory: Path,
    pool_size: int = 1,
    admin_users: str = "",
    query_wait_timeout: int | None = None,
) -> Iterator[str]:
    """PgBouncer in transaction mode in front of ``database_url``'s database, with ``pool_size``
    server connections; stopped by its pid. Yields the URL of the database through it.
    ``admin_users`` may sign in to its admin console (``admin_console_url``); a client waits at
    most ``query_wait_timeout`` seconds for a server connection (PgBouncer's default: 120)."""
    binary = pgbouncer_binary()
    server = make_url(normalize_database_url(database_url))
    port = free_port()
    config = directory / "pgbouncer.ini"
    config.write_text(f"""
[databases]
{server.database} = host={server.host} port={server.port or 5432} dbname={server.database} user={server.username}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {pool_size}
admin_users = {admin_users}
; After a failed server login (PostgreSQL restarting) PgBouncer waits this long before the next
; try, refusing clients meanwhile: its default of 15 s outlasts a restart by far.
server_login_retry = 1
{"" if query_wait_timeout is None else f"query_wait_timeout = {query_wait_timeout}"}
""")
    log = directory / "pgbouncer.log"
    # PgBouncer refuses to run as root (CI's containers): it then drops to an unprivileged user.
    as_user = ["-u", "nobody"] if os.geteuid() == 0 else []
    with open(log, "w") as output:
        process = subprocess.Popen([binary, *as_user, str(config)], stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is not None or accepts_connections(port), 30, "pgbouncer to listen")
        assert process.poll() is None, log.read_text()
        yield server.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(30)


def admin_console_url(pooled_url: str, user: str) -> str:
    """The admin console of the PgBouncer ``pooled_url`` goes through, as ``user``."""
    pooled = make_url(pooled_url)
    return f"postgresql://{user}@{pooled.host}:{pooled.port}/pgbouncer"


@pytest.fixture
def pgbouncer(database_url: str, tmp_path: Path) -> Iterator[str]:
    """PgBouncer with ONE server connection: every client's transactions run on it in turn, so a
    setting that outlived its transaction would reach the next client."""
    with running_pgbouncer(database_url, tmp_path) as url:
        yield url
