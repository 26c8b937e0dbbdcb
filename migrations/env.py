"""Alembic environment, run by Flask-Migrate inside the app context.

It connects to ``MIGRATION_DATABASE_URL`` when set (a direct connection, when the app's
``DATABASE_URL`` goes through PgBouncer), else uses the app's own engine (``db.engine``; the
generated template's ``db.get_engine()`` is deprecated). It uses the models' metadata, and renders
SQLite migrations in batch mode.

On PostgreSQL the upgrade runs under a session advisory lock, so that two hosts deploying at once
migrate exactly once: the second waits for the first, then reads the version table the first
committed and finds nothing left to do.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from webapp.database import MIGRATION_LOCK_KEY

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate_extension = current_app.extensions["migrate"]
db = migrate_extension.db
target_metadata = db.metadata


def migration_engine() -> Engine:
    """A connection of its own for a separate URL (closed when the upgrade ends), else the app's."""
    url = current_app.config.get("MIGRATION_DATABASE_URL")
    return create_engine(url, poolclass=NullPool) if url else db.engine


@contextmanager
def migration_lock(connection: Connection) -> Iterator[None]:
    """Hold the deploy's advisory lock on this connection (PostgreSQL) while migrations run.

    A session lock, not a transaction one: Alembic may commit more than once (one transaction per
    migration with ``transaction_per_migration``), and the lock must cover them all. It is taken and
    committed before Alembic looks at the version table, so what Alembic reads is what the previous
    holder committed. This is why migrations never go through a pooler in transaction mode.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()  # a failed migration's transaction, so the unlock can run
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
        connection.commit()


def include_object(obj, name, type_, reflected, compare_to):
    """Alembic's own version table is not part of the models, and an index the models declare
    for one database only (``info={"only_on": ...}``, e.g. trigram indexes) is not expected on
    the others."""
    if type_ == "table" and name == "alembic_version":
        return False
    only_on = obj.info.get("only_on") if type_ == "index" and not reflected else None
    return only_on is None or only_on == db.engine.dialect.name


def run_migrations_offline() -> None:
    context.configure(
        url=migration_engine().url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        include_object=include_object,
        **migrate_extension.configure_args,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def skip_empty_autogenerate(context_, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    configure_args = dict(migrate_extension.configure_args)
    configure_args.setdefault("process_revision_directives", skip_empty_autogenerate)
    engine = migration_engine()
    try:
        with engine.connect() as connection, migration_lock(connection):
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                include_object=include_object,
                **configure_args,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if engine is not db.engine:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
