"""Imports in the database, so that every gunicorn worker sees the same ones: the batch (what was
read, from whom, in which state) and its rows as the preview planned them, which the apply and the
undo then write from, set-based."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.database import JSONDocument, utcnow
from webapp.extensions import db
from webapp.models.enums import LabelledEnum, enum_column_type


class ImportState(LabelledEnum):
    PREVIEWED = "previewed"
    APPLIED = "applied"
    UNDONE = "undone"


class RowAction(LabelledEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


def new_batch_id() -> str:
    return str(uuid.uuid4())


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class ImportBatch(db.Model):  # type: ignore[name-defined]
    """One uploaded file: its preview's counts, then its apply's and undo's results.

    ``id`` is also the ``batch_id`` of every audit entry the apply and the undo write, which is how
    the audit log links back here.
    """

    __tablename__ = "import_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_batch_id)
    model: Mapped[str] = mapped_column(String(50), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id", ondelete="SET NULL"), index=True)
    operator_email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    state: Mapped[ImportState] = mapped_column(
        enum_column_type(ImportState, "import_state"), nullable=False, default=ImportState.PREVIEWED
    )
    options: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
    applied_at: Mapped[datetime | None] = mapped_column(default=None)
    undone_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_import_batches_created_at", "created_at"),)

    def __str__(self) -> str:
        return f"import of {self.filename}"


class ImportRow(db.Model):  # type: ignore[name-defined]
    """One data row of the file as the preview planned it.

    ``values`` holds the row's fields in stored form (ids for relations, enum values, ISO
    timestamps); ``previous`` the stored values it replaces (what an undo writes back);
    ``changes`` the same as people read them, ``[old, new]`` per field; ``problems`` a refused row's
    ``[column, message]`` pairs, with its ``cells`` as read, for the refusals' CSV.
    """

    __tablename__ = "import_rows"

    batch_id: Mapped[str] = mapped_column(ForeignKey("import_batches.id", ondelete="CASCADE"), primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    action: Mapped[RowAction] = mapped_column(enum_column_type(RowAction, "import_row_action"), nullable=False)
    object_id: Mapped[int | None] = mapped_column(default=None)
    expected_version: Mapped[int | None] = mapped_column(default=None)
    # json, not jsonb (migration 0024): written by the hundred thousand, read only whole.
    values: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    previous: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    problems: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)
    cells: Mapped[list[Any]] = mapped_column(JSON, nullable=False, default=list)

    # An apply reads a batch's rows by action, a chunk at a time in row order: one range each.
    __table_args__ = (Index("ix_import_rows_batch_id_action_row_number", "batch_id", "action", "row_number"),)


class ImportProgress(db.Model):  # type: ignore[name-defined]
    """How far a running preview, apply or undo has got: ``done`` of ``total`` rows (``total`` is
    None while a preview reads a file whose length it cannot know ahead).

    Written in short transactions of its own, beside the work's one transaction, so that any
    worker reads it while the work runs; deleted by the work's own commit. No foreign key: a
    preview's batch is not committed while its progress is written, and a key would also wait for
    the lock the apply holds on its batch.
    """

    __tablename__ = "import_progress"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # One row per step (a fresh id each): a step never waits for a row that another, finished but
    # not yet committed step of the same transaction deleted (``flask import`` previews and applies
    # in one transaction).
    step: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_batch_id)
    phase: Mapped[str] = mapped_column(String(20), nullable=False)
    done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)
