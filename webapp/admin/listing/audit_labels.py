"""Audit values as the lists show them: enum labels, related records by name and linked.

The trail keeps stored values (``"medium"``, an owner's id); a person reads "Medium" and "Ada
Byron". The related rows a page names are read up front, one statement per related model for the
whole page (:meth:`AuditLabels.read`), never one per entry.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from markupsafe import Markup
from sqlalchemy import Enum, inspect, select

from webapp import audit
from webapp.admin.inputs.ids import parse_id
from webapp.admin.listing.display import enum_label, related_link
from webapp.extensions import db
from webapp.formatting import format_audit_value

# (model name, field, value): one value the page shows.
Shown = tuple[str, str, Any]


def values_of_changes(model: str, changes: Mapping[str, Any]) -> Iterable[Shown]:
    for field, values in changes.items():
        for value in values if isinstance(values, list) else [values]:
            yield model, field, value


def values_of_state(model: str, state: Mapping[str, Any]) -> Iterable[Shown]:
    return ((model, field, value) for field, value in state.items())


class AuditLabels:
    """How one page shows audit values, for the models it knows (class and column names by the
    model's name: an entry names its model by class name)."""

    def __init__(self, models: Mapping[str, type[Any]], column_name: Callable[[str, str], str]) -> None:
        self.models = models
        self.column_name = column_name
        self.rows: dict[tuple[type[Any], int], Any] = {}

    def read(self, shown: Iterable[Shown]) -> AuditLabels:
        """Load every related row the values name: one ``IN`` statement per related model."""
        wanted: dict[type[Any], set[int]] = {}
        for model, field, value in shown:
            target = self._target(model, field)
            number = parse_id(value) if isinstance(value, int) and not isinstance(value, bool) else None
            if target is not None and number is not None:
                wanted.setdefault(target, set()).add(number)
        for target, ids in wanted.items():
            for row in db.session.scalars(select(target).where(target.id.in_(sorted(ids)))):
                self.rows[(target, row.id)] = row
        return self

    def field(self, model: str, field: str) -> str:
        return self.column_name(model, field)

    def value(self, model: str, field: str, value: Any) -> Markup | str:
        """One old, new or past value as the lists show the field."""
        if value is None or value == "" or value == []:
            return format_audit_value(value)
        target = self._target(model, field)
        if target is not None and isinstance(value, int) and not isinstance(value, bool):
            return self._related(target, value)
        member = self._enum_member(model, field, value)
        return enum_label(member) if member is not None else format_audit_value(value)

    def _related(self, target: type[Any], value: int) -> Markup:
        row = self.rows.get((target, value))
        noun = target.__name__.lower()
        if row is None:
            return Markup('<span class="text-muted">(purged {} {})</span>').format(noun, value)
        if getattr(row, "deleted_at", None) is not None:
            return Markup('{} <span class="text-muted">(in the trash)</span>').format(
                getattr(row, "full_name", None) or str(row)
            )
        return related_link(row)

    def _target(self, model: str, field: str) -> type[Any] | None:
        cls = self.models.get(model)
        relationship = audit.reference(cls, field) if cls is not None else None
        return relationship.mapper.class_ if relationship is not None else None

    def _enum_member(self, model: str, field: str, value: Any) -> enum.Enum | None:
        cls = self.models.get(model)
        column = inspect(cls).columns.get(field) if cls is not None else None
        if column is None or not isinstance(column.type, Enum) or column.type.enum_class is None:
            return None
        try:
            return column.type.enum_class(value)
        except ValueError:
            return None  # a value the enum no longer has: shown as stored
