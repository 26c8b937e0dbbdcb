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
import functools
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import Select, String, cast, inspect, literal, select
from sqlalchemy.orm import MANYTOONE
from sqlalchemy.sql import ColumnElement

from webapp import audit_chain
from webapp.bulk_copy import copy_rows
from webapp.database import JSONDocument
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry

# Entries per write of record_rows (a COPY on PostgreSQL; on SQLite a multi-row INSERT whose
# bound values stay under its limit on parameters).
ROWS_PER_INSERT = 1000

P = ParamSpec("P")
R = TypeVar("R")

_BATCH: ContextVar[str | None] = ContextVar("audit_batch", default=None)

# Never written to the audit trail, whatever the model.
SECRET_FIELDS = frozenset({"password", "password_hash"})
# Bookkeeping that every update moves, values derived from others (a tag's name_key follows its
# name, which is recorded; its usage counts follow the records' own changes), and an operator's
# colour theme and chosen list columns (their own preferences, not changes anyone reviews):
# recording them would only add noise.
IGNORED_FIELDS = frozenset(
    {"version", "updated_at", "created_at", "name_key", "task_count", "post_count", "theme", "list_columns"}
)


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


def references(model: type[Any]) -> dict[str, Any]:
    """The model's many-to-one relationships (a task's owner) by name, which the trail records
    under that name with the related row's id: the history then shows the row's current name,
    linked, or that it was purged; a version can be reverted to it."""
    return {
        relationship.key: relationship
        for relationship in inspect(model).relationships
        if relationship.direction is MANYTOONE
    }


def reference(model: type[Any], field: str) -> Any | None:
    """The many-to-one relationship a recorded field stands for: by its name (``owner``) or by
    its foreign key (``owner_id``), as entries written before the trail used the name have it."""
    related = references(model)
    return related.get(field) or related.get(_reference_columns(model).get(field, ""))


def _reference_columns(model: type[Any]) -> dict[str, str]:
    """``owner_id`` → ``owner``: a foreign key set directly is recorded as its relationship."""
    return {column.key: key for key, relationship in references(model).items() for column in relationship.local_columns}


def _labels(items: Iterable[Any]) -> list[str]:
    return sorted(str(item) for item in items)


def _identity(row: Any) -> Any:
    return None if row is None else inspect(row).identity[0] if inspect(row).identity else row.id


def _field(obj: Any, key: str) -> str:
    return _reference_columns(type(obj)).get(key, key)


def recorded_value(obj: Any, key: str, value: Any) -> Any:
    """A value of ``obj``'s attribute ``key`` as the trail keeps it: a collection by its labels
    (tag names), a related row by its id, anything else as JSON."""
    if _is_collection(obj, key):
        return _labels(value or ())
    if key in references(type(obj)):
        return _identity(value)
    return json_safe(value)


def snapshot(obj: Any) -> dict[str, Any]:
    """Every recorded field of a row as the trail keeps it: the state its history starts from."""
    state: dict[str, Any] = {}
    columns = _reference_columns(type(obj))
    related = references(type(obj))
    for attribute in _recorded_attributes(obj):
        if attribute.key in columns:  # the foreign key says it without loading the related row
            state[columns[attribute.key]] = json_safe(attribute.value)
        elif attribute.key != "id" and attribute.key not in related:
            state[attribute.key] = recorded_value(obj, attribute.key, attribute.value)
    return state


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
            old = recorded_value(obj, attribute.key, history.deleted[0]) if history.deleted else None
            new = recorded_value(obj, attribute.key, history.added[0]) if history.added else None
        if old != new:
            changes.setdefault(_field(obj, attribute.key), [old, new])
    return changes


def creation_values(obj: Any) -> dict[str, list[Any]]:
    """``{field: [None, value]}`` for a new row's filled-in attributes."""
    values: dict[str, list[Any]] = {}
    for field, value in snapshot(obj).items():
        if value not in (None, "", [], {}):
            values[field] = [None, value]
    return values


def new_batch_id() -> str:
    return str(uuid.uuid4())


def current_batch() -> str | None:
    """The batch the entries written now belong to, if any."""
    return _BATCH.get()


def batched(operation: Callable[P, R]) -> Callable[P, R]:
    """Run ``operation`` as a batch of its own, unless it is a step of a batch already (a merge's
    move of its tags to the trash, an import's undo): every bulk action is then one batch, which
    the audit log shows together and undoes at once."""

    @functools.wraps(operation)
    def in_its_batch(*args: P.args, **kwargs: P.kwargs) -> R:
        if _BATCH.get() is not None:
            return operation(*args, **kwargs)
        with in_batch(new_batch_id()):
            return operation(*args, **kwargs)

    return in_its_batch


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
    rows = select(model.id, literal(changes or {}, JSONDocument)).where(criterion)
    return record_selected(action, model, rows, summary)


def record_selected(action: AuditAction, model: type[Any], rows: Select[Any], summary: str) -> int:
    """Write one entry per row of ``rows`` (a record's id, then its changes), in a single statement.

    The changes stay in the database: an import's hundred thousand entries are written from its
    planned rows without a decode, an encode and a hash each in Python."""
    operator_id, operator_email = _actor()
    found = rows.subquery()
    object_id, changes = found.c
    entries = select(
        literal(operator_id, db.Integer),
        literal(operator_email, String),
        literal(action.value, String),
        literal(model_name(model), String),
        cast(object_id, String),
        literal(summary[:500], String),
        changes,
        literal(_client_address(), String),
        literal(_BATCH.get(), String),
    ).select_from(found)
    return audit_chain.insert_from_select(AuditEntry.__table__, audit_chain.ENTRY_COLUMNS, entries)


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
