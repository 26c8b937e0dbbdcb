"""Temporary tables of one transaction: the preview's comparison table, the apply's and the
undo's staging tables. Never migrated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, MetaData, Table, delete, text

from webapp.extensions import db


def temporary(name: str, *columns: Column[Any] | Index, reuse: bool = False) -> Table:
    """A temporary table for this transaction, created now. With ``reuse``, one left on the
    connection is emptied and used instead: SQLite creates a temporary table outside any
    transaction when none is open yet (a dry run opens none), so the rollback that ends the work
    brings back the table its end dropped. Its columns must then depend on ``name`` only. An
    ``Index`` among the columns is created with the table.

    Each table is on a metadata of its own: imports in two threads of a worker define tables of
    the same name at once, which one shared metadata would refuse or mix up."""
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    table.create(db.session.connection(), checkfirst=reuse)
    if reuse:
        empty(table)
    return table


def empty(*tables: Table) -> None:
    """Empty temporary tables between chunks. On PostgreSQL by ``TRUNCATE``, done in place for a
    table created in the same transaction: a ``DELETE`` leaves its rows behind as dead tuples,
    which no vacuum reaches in a temporary table, so every later chunk read them all again (a
    million rows' apply spent more time there than writing its tasks)."""
    if db.session.get_bind().dialect.name == "postgresql":
        preparer = db.session.get_bind().dialect.identifier_preparer
        db.session.execute(text("TRUNCATE " + ", ".join(preparer.format_table(table) for table in tables)))
        return
    for table in tables:
        db.session.execute(delete(table))


def drop(*tables: Table) -> None:
    for table in tables:
        table.drop(db.session.connection())
