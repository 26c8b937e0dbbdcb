"""`flask db upgrade` on two hosts at once: it connects where MIGRATION_DATABASE_URL says (never
the pooler DATABASE_URL names), and the schema is migrated exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from tests.e2e.stack import Database, free_port, libpq_url
from tests.waits import wait_for
from webapp.database import MIGRATION_LOCK_KEY

pytestmark = pytest.mark.postgres

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIRST_MIGRATION = "Running upgrade  -> 0001_initial,"


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[Database]:
    database = Database(libpq_url(database_url), f"{make_url(database_url).database}_migrate_{os.getpid()}")
    database.create()
    try:
        yield database
    finally:
        database.drop()


def upgrade_command(database: Database, home: Path) -> subprocess.Popen:
    """The release step as a host runs it, with DATABASE_URL at a port nothing listens on: a
    pooler that would refuse (or mangle) a migration's session lock."""
    environment = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "APP_ENV": "production",
        "SECRET_KEY": "migration-test-secret",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        "MIGRATION_DATABASE_URL": database.url,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def waiting_for_the_lock(database: Database) -> int:
    [(waiting,)] = database.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event = 'advisory'", database.name
    )
    return waiting


def test_two_hosts_upgrading_a_fresh_database_at_once_migrate_it_once(fresh_database: Database, tmp_path: Path) -> None:
    with fresh_database.connect() as holder:
        # Both start while a third holder has the lock, so both provably reach it at the same time.
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        hosts = [upgrade_command(fresh_database, tmp_path) for _ in range(2)]
        try:
            wait_for(lambda: waiting_for_the_lock(fresh_database) == 2, 120, "both upgrades to wait on the lock")
        finally:
            with holder.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
            outputs = [host.communicate(timeout=120)[0] for host in hosts]
    assert [host.returncode for host in hosts] == [0, 0], outputs
    assert sum(output.count(FIRST_MIGRATION) for output in outputs) == 1, outputs
    assert sum("Running upgrade" in output for output in outputs) == 1, "one host ran every migration"
    [(version,)] = fresh_database.query("SELECT version_num FROM alembic_version")
    assert version == ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_current_head()
    # pg_locks is the whole cluster's: other databases' tests take advisory locks of their own.
    [(locks,)] = fresh_database.query(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    assert locks == 0, "the lock is released when the upgrade ends"
