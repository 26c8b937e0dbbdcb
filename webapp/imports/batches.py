"""A preview kept in the database (an ``ImportBatch`` and its ``ImportRow``\\ s), so that the apply,
the undo and the result page can run in any worker, after any delay; and what the operator reads
of it (counts, the first changes, the refusals, and the refusals as a CSV to fix and import again).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any

from flask import current_app, has_request_context
from flask_login import current_user
from sqlalchemy import delete, select

from webapp.bulk_copy import CopyBehind
from webapp.database import utcnow
from webapp.extensions import db
from webapp.formatting import formula_guarded
from webapp.imports import progress
from webapp.imports.files import read_table
from webapp.imports.planning import Options, PlannedRow, Planner
from webapp.imports.specs import PROBLEM_HEADER, spec_for
from webapp.models import ImportBatch, ImportRow, ImportState, RowAction
from webapp.models.imports import new_batch_id

SAMPLE_ROWS = 20
SHOWN_REFUSALS = 200
ROWS_PER_INSERT = 1000
# How long a preview waits to be applied before the next upload deletes it.
PREVIEW_KEPT = timedelta(days=2)


def planner_for(model: str, stream: IO[bytes], filename: str, options: Options) -> Planner:
    """The planner of a file for a model, within the app's limits; ``FileRefused`` if the file,
    or its header row, cannot be imported."""
    config = current_app.config
    max_bytes = config["IMPORT_MAX_MB"] * 1024 * 1024
    table = read_table(stream, filename, max_bytes=max_bytes, max_rows=config["IMPORT_MAX_ROWS"])
    return Planner(spec_for(model, config["DISPLAY_TIMEZONE"]), table, options)


@dataclass
class Summary:
    """What a preview found: counts per action, the first changed rows and the first refusals."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: list[PlannedRow] = field(default_factory=list)
    refusals: list[PlannedRow] = field(default_factory=list)

    def add(self, row: PlannedRow) -> None:
        self.counts[row.action.value] += 1
        if row.action is RowAction.REFUSED:
            if len(self.refusals) < SHOWN_REFUSALS:
                self.refusals.append(row)
        elif row.changes and len(self.samples) < SAMPLE_ROWS:
            self.samples.append(row)

    def as_counts(self) -> dict[str, int]:
        return {action.value: self.counts.get(action.value, 0) for action in RowAction}


def summarize(planner: Planner) -> Summary:
    """Plan every row and keep only the summary: the dry run, which writes nothing at all."""
    summary = Summary()
    for row in planner.rows():
        summary.add(row)
    return summary


def store_preview(planner: Planner, filename: str, options: Options, batch_id: str | None = None) -> ImportBatch:
    """Plan every row into a new batch (the caller commits); no record is written. ``batch_id``
    is the id the page polls the progress of (a fresh one when None)."""
    forget_stale_previews()
    operator_id, operator_email = _operator()
    batch = ImportBatch(
        id=batch_id or new_batch_id(),
        model=planner.spec.name,
        filename=filename[:255],
        operator_id=operator_id,
        operator_email=operator_email,
        options={
            "update_matching": options.update_matching,
            "create_missing_tags": options.create_missing_tags,
            "header": planner.table.header,
            "columns": [column.attr for column in planner.layout.columns],
        },
    )
    db.session.add(batch)
    db.session.flush()
    summary = Summary()
    pending: list[tuple[Any, ...]] = []
    # Each batch of planned rows goes in while the next is read and converted: the planner waits
    # for it before its own statements.
    with progress.Progress(batch.id, "reading") as tracked, CopyBehind(ImportRow.__table__, STORED_COLUMNS) as stored:
        tracked.start("reading", None)
        for row in planner.rows(tracked, before_statements=stored.wait):
            summary.add(row)
            pending.append(_stored_row(batch.id, row))
            if len(pending) == ROWS_PER_INSERT:
                stored.send(pending)
                pending = []
        stored.send(pending)
        stored.wait()
        batch.counts = summary.as_counts()
        tracked.finish()
    return batch


STORED_COLUMNS = (
    "batch_id",
    "row_number",
    "action",
    "object_id",
    "expected_version",
    "values",
    "previous",
    "changes",
    "problems",
    "cells",
)


def forget_stale_previews() -> None:
    """Previews nobody applied within :data:`PREVIEW_KEPT` are deleted with their rows (an
    applied import keeps its rows: the undo needs them)."""
    stale = select(ImportBatch.id).where(
        ImportBatch.state == ImportState.PREVIEWED, ImportBatch.created_at < utcnow() - PREVIEW_KEPT
    )
    # Rows first: SQLite does not enforce the foreign key's ON DELETE CASCADE.
    db.session.execute(delete(ImportRow).where(ImportRow.batch_id.in_(stale)))
    db.session.execute(delete(ImportBatch).where(ImportBatch.id.in_(stale)))
    progress.forget_stale()


def _stored_row(batch_id: str, row: PlannedRow) -> tuple[Any, ...]:
    return (
        batch_id,
        row.row_number,
        row.action,
        row.object_id,
        row.expected_version,
        row.values,
        row.previous,
        row.changes,
        row.problems,
        row.kept_cells(),
    )


def _operator() -> tuple[int | None, str]:
    if has_request_context() and current_user.is_authenticated:
        return current_user.id, current_user.email
    return None, ""


def sample_rows(batch: ImportBatch, *actions: RowAction, limit: int = SAMPLE_ROWS) -> list[ImportRow]:
    """The batch's first rows with one of these actions, in file order."""
    statement = (
        select(ImportRow)
        .where(ImportRow.batch_id == batch.id, ImportRow.action.in_(actions))
        .order_by(ImportRow.row_number)
        .limit(limit)
    )
    return list(db.session.scalars(statement))


def refusals_csv(batch: ImportBatch) -> Iterator[str]:
    """The refused rows as the file had them, with a last column saying what to fix: the same
    file, fixed, imports again (the reader ignores that column)."""
    header = [*batch.options.get("header", []), PROBLEM_HEADER]
    yield _csv_line(header)
    last = 0
    while True:
        statement = (
            select(ImportRow.row_number, ImportRow.cells, ImportRow.problems)
            .where(ImportRow.batch_id == batch.id, ImportRow.action == RowAction.REFUSED)
            .where(ImportRow.row_number > last)
            .order_by(ImportRow.row_number)
            .limit(ROWS_PER_INSERT)
        )
        rows = db.session.execute(statement).all()
        if not rows:
            return
        for number, cells, problems in rows:
            width = len(header) - 1
            padded = [*cells[:width], *[""] * (width - len(cells))]
            yield _csv_line([*padded, problem_text(number, problems)])
        last = rows[-1][0]


def problem_text(number: int, problems: list[list[str]]) -> str:
    parts = [f"{column}: {message}" if column else message for column, message in problems]
    return f"Row {number}: " + " ".join(parts)


def _csv_line(cells: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([formula_guarded(str(cell)) for cell in cells])
    return buffer.getvalue()
