"""How far a running preview, apply or undo has got, readable by any worker while it runs.

The work itself is one transaction, committed once at its end (a worker killed mid-way leaves
nothing). Its progress cannot live in that transaction, which nobody else sees until it commits,
nor on the batch's row, which the apply holds locked: each chunk writes ``import_progress`` on a
connection of its own, in a short transaction that commits at once. The work's own commit deletes
the row, so a finished import has no progress, only its state and result; a row left behind by a
killed worker stops moving and reads as stopped after :data:`STALE_AFTER`.

That connection is opened at a step's first write and closed at its end, outside the app's
pool (which a pool of one, ``DB_POOL_SIZE=1``, could not spare while the step holds its own); a
step writes at most :data:`WRITES_PER_STEP` times (and at least a thousand rows apart). Progress is only
shown: a write that fails is logged, and the step goes on. On SQLite, which has one writer at a
time, the second connection would wait for the step's own transaction: nothing is written there,
and the page simply waits for the answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Connection, Engine, create_engine, delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from webapp import heartbeat
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import ImportProgress
from webapp.models.imports import new_batch_id

# gunicorn replaces a worker silent for 30 s; a chunk that took longer than this is a worker gone.
STALE_AFTER = timedelta(seconds=60)
WRITES_PER_STEP = 50
ENGINE = "import_progress_engine"
logger = logging.getLogger(__name__)


@dataclass
class Progress:
    """One step's progress on one batch: ``done`` of ``total`` rows in ``phase``.

    Used as a context manager around the step: its side connection, opened at the first write
    and kept for the step's next ones (a new connection for each was most of their cost), is
    closed at its end, whichever way the step ends."""

    batch_id: str
    phase: str
    total: int | None = None
    done: int = 0
    step: str = field(default_factory=new_batch_id)
    written: int = 0
    connection: Connection | None = field(default=None, repr=False)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None = None, *exception: object) -> None:
        if self.connection is None:
            return
        if kind is not None:
            self._forget()
        self.connection.close()
        self.connection = None

    def _forget(self) -> None:
        """The step failed, whatever the error, and its transaction rolls back: its progress goes
        too, or the page would show a step still running, then one stopped by its worker."""
        assert self.connection is not None
        mine = delete(ImportProgress).where(ImportProgress.batch_id == self.batch_id, ImportProgress.step == self.step)
        try:
            _commit_alone(self.connection, mine)
        except SQLAlchemyError as error:
            logger.warning("import progress not removed: %s", type(error).__name__)

    def start(self, phase: str, total: int | None) -> None:
        self.phase, self.total, self.done = phase, total, 0
        self._write()

    def advance(self, rows: int) -> None:
        """Count a chunk done, visibly to other workers, and tell gunicorn the worker is busy,
        not hung."""
        self.done += rows
        if self.done - self.written >= max(1000, (self.total or 0) // WRITES_PER_STEP):
            self._write()
        heartbeat.beat()

    def finish(self) -> None:
        """Delete the progress in the work's own transaction: its commit ends both at once."""
        db.session.execute(delete(ImportProgress).where(ImportProgress.batch_id == self.batch_id))

    def _write(self) -> None:
        self.written = self.done
        if db.engine.dialect.name != "postgresql":
            return
        values = {"phase": self.phase, "done": self.done, "total": self.total, "updated_at": utcnow()}
        statement = insert(ImportProgress).values(batch_id=self.batch_id, step=self.step, **values)
        try:
            if self.connection is None:
                self.connection = _side_engine().connect()
            upsert = statement.on_conflict_do_update(index_elements=["batch_id", "step"], set_=values)
            _commit_alone(self.connection, upsert)
        except SQLAlchemyError as error:
            logger.warning("import progress not recorded: %s", type(error).__name__)
            self.__exit__()


def _commit_alone(connection: Connection, statement: Any) -> None:
    """Run ``statement`` in a short transaction of its own, committed at once."""
    with connection.begin():
        # Only shown, and soon replaced: not worth a wait for the disk at each commit.
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        connection.execute(statement)


def _beside(statement: Any) -> None:
    """Run ``statement`` on a connection of its own (PostgreSQL)."""
    if db.engine.dialect.name != "postgresql":
        return
    try:
        with _side_engine().connect() as connection:
            _commit_alone(connection, statement)
    except SQLAlchemyError as error:
        logger.warning("import progress not recorded: %s", type(error).__name__)


def _side_engine() -> Engine:
    """The app's database, without a pool (so nothing crosses gunicorn's fork, and no connection
    stays open between writes)."""
    engine = current_app.extensions.get(ENGINE)
    if engine is None:
        options = current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
        engine = create_engine(
            db.engine.url, poolclass=NullPool, hide_parameters=True, connect_args=options.get("connect_args", {})
        )
        current_app.extensions[ENGINE] = engine
    return engine


def abandon(batch_id: str) -> None:
    """The work was rolled back: its progress goes too (on the side connection, which wrote it)."""
    _beside(delete(ImportProgress).where(ImportProgress.batch_id == batch_id))


def current(batch_id: str) -> ImportProgress | None:
    """The batch's progress as last written, or None (not started, finished, or rolled back)."""
    statement = (
        select(ImportProgress)
        .where(ImportProgress.batch_id == batch_id)
        .order_by(ImportProgress.updated_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(statement).first()


def is_running(progress: ImportProgress | None) -> bool:
    return progress is not None and utcnow() - progress.updated_at < STALE_AFTER


def forget_stale() -> None:
    """Progress rows that stopped moving long ago (their worker was killed), in the caller's
    transaction."""
    db.session.execute(delete(ImportProgress).where(ImportProgress.updated_at < utcnow() - timedelta(days=1)))
