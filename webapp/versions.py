"""A record's versions, rebuilt from its audit trail, and reverting it to one of them.

Every audited change to a versioned record moves its ``version`` by exactly one (form saves, bulk
actions, imports and the trash all bump it: ``tests/test_version_bumps.py``), so the newest entry
made the current version and each older one the version before. The record as it was at version
N is its current state with the old values of every newer entry put back, newest first; the
oldest entry's old values give the version before the recorded history (a record made before
auditing, or by the demo seed).

Reverting is a change like any other: applied to the ORM row, checked against the version the
operator saw, audited ("Reverted to version N"), and refused with a reason, writing nothing, when
the old state cannot be applied any more (:class:`RevertRefused`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import visitors

from webapp import audit
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Tag
from webapp.models.tags import tag_name_key

# The newest entries a record's History reads; older versions need more (see entries_of).
HISTORY_LIMIT = 500
# How far back a version page reaches: further would read an unbounded share of the trail.
MAX_ENTRIES_BACK = 10_000


@dataclass(frozen=True)
class Version:
    """The record as one change left it: ``entry`` is that change (None for the state before
    the recorded history), ``state`` every recorded field as the trail keeps it."""

    number: int
    entry: AuditEntry | None
    state: dict[str, Any] = field(repr=False)

    def changed_from(self, other: Version) -> set[str]:
        """The fields whose value differs between the two versions."""
        names = self.state.keys() | other.state.keys()
        return {name for name in names if self.state.get(name) != other.state.get(name)}


class RevertRefused(Exception):
    """Why a record cannot be reverted; nothing has been written."""


class StaleVersion(RevertRefused):
    """The record changed since the operator opened its history: refused as a stale save is."""


def entries_of(
    model: str, object_id: str, limit: int = HISTORY_LIMIT, operator_id: int | None = None
) -> list[AuditEntry]:
    """A record's newest entries, newest first (only ``operator_id``'s, if given): one indexed
    statement (model, object id)."""
    query = select(AuditEntry).where(AuditEntry.model == model, AuditEntry.object_id == object_id)
    if operator_id is not None:
        query = query.where(AuditEntry.operator_id == operator_id)
    return list(db.session.scalars(query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)))


def is_versioned(record: Any) -> bool:
    return record is not None and inspect(type(record)).version_id_col is not None


def versions_of(record: Any, entries: Sequence[AuditEntry], complete: bool = True) -> list[Version]:
    """The versions ``entries`` (newest first) made of ``record``, newest first, plus the one
    before the oldest of them when there was one: ``entries`` are all the record has
    (``complete``) and the oldest is not its creation."""
    state = audit.snapshot(record)
    found: list[Version] = []
    number = record.version
    for entry in entries:
        if number < 1:
            break  # more entries than versions: the trail is not this record's to count
        found.append(Version(number, entry, dict(state)))
        state = _before(state, entry.changes)
        number -= 1
    oldest = found[-1].entry if found else None
    if complete and number >= 1 and (oldest is None or oldest.action is not AuditAction.CREATE):
        found.append(Version(number, None, state))
    return found


def version_of(record: Any, model: str, number: int) -> tuple[Version, list[Version]] | None:
    """Version ``number`` of ``record`` and the versions after it, or None if there is no such one."""
    back = record.version - number
    if not 0 <= back < MAX_ENTRIES_BACK:
        return None
    entries = entries_of(model, str(record.id), back + 1)
    found = versions_of(record, entries, complete=len(entries) <= back)
    chosen = next((version for version in found if version.number == number), None)
    return None if chosen is None else (chosen, found)


def _before(state: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The state before a change: each changed field back to its old value."""
    earlier = dict(state)
    for name, values in changes.items():
        if not (isinstance(values, list) and len(values) == 2):
            continue  # not an old → new pair: nothing to put back
        old, new = values
        current = earlier.get(name)
        if isinstance(current, list) and not isinstance(old, list) and not isinstance(new, list):
            # A bulk tag action records the one tag it added or removed, not the whole list.
            kept = [item for item in current if item != new]
            earlier[name] = sorted({*kept, old}) if old is not None else kept
        else:
            earlier[name] = old
    return earlier


@dataclass
class Revert:
    """Reverting ``record`` to ``version``'s values of ``fields`` (the ones its form edits)."""

    record: Any
    version: Version
    fields: Sequence[str]
    noun: str = "record"

    def apply(self, seen_version: int | None) -> dict[str, list[Any]]:
        """Set the old values on the row and audit the change; what changed. Raises
        :class:`RevertRefused`, the session rolled back, when it cannot be applied."""
        try:
            return self._apply(seen_version)
        except RevertRefused:
            db.session.rollback()
            raise

    def _apply(self, seen_version: int | None) -> dict[str, list[Any]]:
        self._refuse_unless_applicable(seen_version)
        with db.session.no_autoflush:
            for name in self.fields:
                if name in self.version.state:
                    self._set(name, self.version.state[name])
            changes = audit.pending_changes(self.record)
        if not changes:
            raise RevertRefused(f"This {self.noun} already has the values of version {self.version.number}.")
        self._flush_or_refuse()
        audit.record(
            AuditAction.UPDATE,
            self.record,
            summary=f"Reverted “{self.record}” to version {self.version.number}",
            changes=changes,
        )
        return changes

    def _refuse_unless_applicable(self, seen_version: int | None) -> None:
        if getattr(self.record, "deleted_at", None) is not None:
            raise RevertRefused(f"This {self.noun} is in the trash: restore it before reverting it.")
        if seen_version != self.record.version:
            raise StaleVersion()

    def _set(self, name: str, value: Any) -> None:
        model = type(self.record)
        related = audit.references(model).get(name)
        if related is not None:
            setattr(self.record, name, _related_row(related, name, value, self.version.number))
        elif name in inspect(model).relationships:
            setattr(self.record, name, _tags_named(value or [], self.version.number))
        else:
            setattr(self.record, name, _stored(inspect(model).columns[name].type, value))

    def _flush_or_refuse(self) -> None:
        try:
            db.session.flush()
        except StaleDataError as error:
            raise StaleVersion() from error
        except IntegrityError as error:
            taken = _constrained_fields(type(self.record), error)
            raise RevertRefused(
                f"The {taken or 'value'} this {self.noun} had at version {self.version.number} is now used "
                "by another record, so it was not reverted."
            ) from error


def _related_row(relationship: Any, name: str, value: Any, number: int) -> Any:
    target = relationship.mapper.class_
    noun = name.replace("_", " ")
    if value is None:
        return None
    if not isinstance(value, int):
        raise RevertRefused(f"Version {number} names its {noun} only as “{value}”, so it cannot be restored.")
    row = db.session.get(target, value)
    if row is None:
        raise RevertRefused(
            f"The {noun} of version {number} (purged {target.__name__.lower()} {value}) no longer exists."
        )
    if getattr(row, "deleted_at", None) is not None:
        raise RevertRefused(f"The {noun} of version {number}, “{row}”, is in the trash: restore it first.")
    return row


def _tags_named(names: Iterable[str], number: int) -> list[Tag]:
    wanted = {tag_name_key(name): name for name in names}
    found = list(db.session.scalars(select(Tag).where(Tag.name_key.in_(wanted)))) if wanted else []
    missing = sorted(name for key, name in wanted.items() if key not in {tag.name_key for tag in found})
    if missing:
        raise RevertRefused(f"The tags of version {number} are gone: {', '.join(missing)}.")
    return sorted(found, key=lambda tag: tag.name)


def _stored(column_type: Any, value: Any) -> Any:
    """A trail value back to what the column holds: an enum member, a timestamp, or as is."""
    try:
        # A TypeDecorator (our UTC timestamps) says "object"; the type it decorates knows.
        kind = getattr(column_type, "impl_instance", column_type).python_type
    except NotImplementedError:
        return value
    if value is None or not isinstance(kind, type):
        return value
    if issubclass(kind, enum.Enum):
        return kind(value)
    if issubclass(kind, (datetime, date)):
        return kind.fromisoformat(value)
    return value


def _constrained_fields(model: type[Any], error: IntegrityError) -> str:
    """The columns of the unique index the database named, e.g. "email"."""
    name = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
    for index in model.__table__.indexes:
        if index.name == name:
            columns = [
                element.name
                for expression in index.expressions
                for element in visitors.iterate(expression)
                if isinstance(element, Column)
            ]
            return " and ".join(column.replace("_", " ") for column in columns)
    return ""
