"""Recording the audit trail: who changed what, in the same transaction as the change itself.

Single changes go through :func:`record` (with :func:`pending_changes` or :func:`creation_values`
for the field diff); bulk actions go through :func:`record_bulk`, one ``INSERT … SELECT`` that
writes an entry per affected row without loading the rows; many rows each with changes of its own
(an import) go through :func:`record_rows`, a few multi-row ``INSERT`` statements.

Entries of one operation over many rows share a ``batch_id``, so that the
audit log can show them together and an undo can find them (:func:`batch_entries`); an import's
is its ``ImportBatch`` id. Every entry written inside :func:`in_batch` carries it, whichever
function writes it (the trash's, when an undo moves records there, too).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import String, cast, inspect, literal, select
from sqlalchemy.sql import ColumnElement

from webapp import audit_chain
from webapp.bulk_copy import copy_rows
from webapp.database import JSONDocument
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry

# Entries per write of record_rows (a COPY on PostgreSQL; on SQLite a multi-row INSERT whose
# bound values stay under its limit on parameters).
ROWS_PER_INSERT = 1000

_BATCH: ContextVar[str | None] = ContextVar("audit_batch", default=None)

# Never written to the audit trail, whatever the model.
SECRET_FIELDS = frozenset({"password", "password_hash"})
# Bookkeeping that every update moves, keys derived from another field (a tag's name_key follows
# its name, which is recorded), and an operator's colour theme (their own preference, not a change
# anyone reviews): recording them would only add noise.
IGNORED_FIELDS = frozenset({"version", "updated_at", "created_at", "name_key", "theme"})


def model_name(obj_or_class: Any) -> str:
    cls = obj_or_class if isinstance(obj_or_class, type) else type(obj_or_class)
    return cls.__name__


def json_safe(value: Any) -> Any:
    """Audit values are JSON: timestamps as ISO text, enums by value, related rows by their label."""
    if isinstance(value, enum.Enum):  # before str: our enums are str subclasses
        return value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(item) for item in value]
    return str(value)


def _recorded_attributes(obj: Any) -> Iterable[Any]:
    for attribute in inspect(obj).attrs:
        if attribute.key not in SECRET_FIELDS and attribute.key not in IGNORED_FIELDS:
            yield attribute


def _is_collection(obj: Any, key: str) -> bool:
    relationship = inspect(type(obj)).relationships.get(key)
    return relationship is not None and relationship.uselist


def _labels(items: Iterable[Any]) -> list[str]:
    return sorted(str(item) for item in items)


def pending_changes(obj: Any) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every attribute changed in the session and not yet flushed."""
    changes: dict[str, list[Any]] = {}
    for attribute in _recorded_attributes(obj):
        history = attribute.history
        if not history.has_changes():
            continue
        old: Any  # a collection's labels, or a JSON value
        new: Any
        if _is_collection(obj, attribute.key):
            kept = list(history.unchanged or ())
            old, new = _labels(kept + list(history.deleted)), _labels(kept + list(history.added))
        else:
            old = json_safe(history.deleted[0]) if history.deleted else None
            new = json_safe(history.added[0]) if history.added else None
        if old != new:
            changes[attribute.key] = [old, new]
    return changes


def creation_values(obj: Any) -> dict[str, list[Any]]:
    """``{field: [None, value]}`` for a new row's filled-in attributes."""
    values: dict[str, list[Any]] = {}
    for attribute in _recorded_attributes(obj):
        value = attribute.value
        if _is_collection(obj, attribute.key):
            value = _labels(value) or None
        elif inspect(type(obj)).relationships.get(attribute.key) is not None:
            continue  # the foreign key column already says it
        else:
            value = json_safe(value)
        if value not in (None, "", [], {}) and attribute.key != "id":
            values[attribute.key] = [None, value]
    return values


@contextmanager
def in_batch(batch_id: str) -> Iterator[None]:
    """Every entry written in the block belongs to the batch ``batch_id``."""
    token = _BATCH.set(batch_id)
    try:
        yield
    finally:
        _BATCH.reset(token)


def _actor() -> tuple[int | None, str]:
    if has_request_context() and current_user.is_authenticated:
        return current_user.id, current_user.email
    return None, ""


def _client_address() -> str | None:
    return request.remote_addr if has_request_context() else None


def record(
    action: AuditAction, obj: Any, summary: str | None = None, changes: dict[str, list[Any]] | None = None
) -> AuditEntry:
    """Add one entry for a row to the current session; it commits (or rolls back) with the change."""
    return record_event(
        action,
        model_name(obj),
        str(inspect(obj).identity[0] if inspect(obj).identity else obj.id),
        summary or f"{action.label} {model_name(obj).lower()} “{obj}”",
        changes,
    )


def record_event(
    action: AuditAction,
    subject: str,
    object_id: str,
    summary: str,
    changes: dict[str, list[Any]] | None = None,
    batch_id: str | None = None,
) -> AuditEntry:
    """Add one entry about something that is not a row (e.g. the dashboard's statistics)."""
    operator_id, operator_email = _actor()
    entry = AuditEntry(
        operator_id=operator_id,
        operator_email=operator_email,
        action=action,
        model=subject,
        object_id=object_id,
        summary=summary[:500],
        changes=changes or {},
        remote_addr=_client_address(),
        batch_id=batch_id or _BATCH.get(),
    )
    audit_chain.stamp(entry)
    db.session.add(entry)
    return entry


def record_bulk(
    action: AuditAction,
    model: type[Any],
    criterion: ColumnElement[bool],
    summary: str,
    changes: dict[str, list[Any]] | None = None,
) -> int:
    """Write one entry per row of ``model`` matching ``criterion``, in a single statement.

    Call it in the same transaction as the bulk change, before the change when the change makes
    the criterion stop matching (e.g. restoring rows selected by ``deleted_at IS NOT NULL``).
    """
    operator_id, operator_email = _actor()
    rows = select(
        literal(operator_id, db.Integer),
        literal(operator_email, String),
        literal(action.value, String),
        literal(model_name(model), String),
        cast(model.id, String),
        literal(summary[:500], String),
        literal(changes or {}, JSONDocument),
        literal(_client_address(), String),
        literal(_BATCH.get(), String),
    ).where(criterion)
    return audit_chain.insert_from_select(AuditEntry.__table__, audit_chain.ENTRY_COLUMNS, rows)


@dataclass(frozen=True)
class RowChange:
    """One row's entry in :func:`record_rows`."""

    action: AuditAction
    object_id: Any
    summary: str
    changes: dict[str, list[Any]]


def record_rows(model: type[Any], rows: Iterable[RowChange], batch_id: str) -> int:
    """Write one entry per row, each with its own changes, all under ``batch_id``; how many.

    Streamed into the table (``webapp.bulk_copy``), :data:`ROWS_PER_INSERT` entries at a time,
    not an ORM object per row: an import of a hundred thousand rows writes as many entries."""
    operator_id, operator_email = _actor()
    common = (operator_id, operator_email, model_name(model), _client_address(), batch_id)
    written = 0
    pending: list[tuple[Any, ...]] = []
    for row in rows:
        pending.append((*common, row.action, str(row.object_id), row.summary[:500], row.changes))
        if len(pending) == ROWS_PER_INSERT:
            written += _insert_entries(pending)
            pending = []
    return written + (_insert_entries(pending) if pending else 0)


_ROW_COLUMNS = (
    "operator_id",
    "operator_email",
    "model",
    "remote_addr",
    "batch_id",
    "action",
    "object_id",
    "summary",
    "changes",
)


def _insert_entries(entries: Sequence[tuple[Any, ...]]) -> int:
    columns, stamped = audit_chain.stamped_rows(_ROW_COLUMNS, entries)
    copy_rows(AuditEntry.__table__, columns, stamped)
    return len(entries)


def batch_entries(batch_id: str) -> Any:
    """The statement selecting a batch's entries, in the order they were written."""
    return select(AuditEntry).where(AuditEntry.batch_id == batch_id).order_by(AuditEntry.id)
