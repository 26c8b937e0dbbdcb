"""Enumerations stored as short strings with a CHECK constraint (portable, easy to migrate)."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Enum


class LabelledEnum(enum.StrEnum):
    """An enum whose value is stored and whose label is shown to people."""

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.label) for member in cls]


class TaskStatus(LabelledEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PENDING = "pending"


class TaskPriority(LabelledEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class PostStatus(LabelledEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class OperatorRole(LabelledEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        # Looked up a few dozen times per page (menu entries, buttons): a dict, not a walk of
        # the members.
        return _ROLE_RANKS[self]

    def at_least(self, other: OperatorRole) -> bool:
        return self.rank >= other.rank


_ROLE_RANKS = {role: rank for rank, role in enumerate(OperatorRole)}


class AuditAction(LabelledEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESTORE = "restore"
    PURGE = "purge"
    TAG = "tag"
    UNTAG = "untag"
    MERGE = "merge"
    # The database health dashboard: EXPLAIN ANALYZE run, a backend's statement cancelled or
    # its connection terminated.
    EXPLAIN = "explain"
    CANCEL = "cancel"
    TERMINATE = "terminate"
    # A batch of changes taken back (webapp.undo): the entry is about the batch, not a record.
    UNDO = "undo"


def enum_column_type(enum_class: type[enum.Enum], name: str) -> Enum:
    """A VARCHAR holding the enum's values, guarded by a named CHECK constraint."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(member.value) for member in enum_class),
        values_callable=_values,
    )


def _values(enum_class: Any) -> list[str]:
    return [member.value for member in enum_class]
