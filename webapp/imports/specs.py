"""What can be imported into each model: its columns (the export's headers, in the export's
order), which of them a new record needs, and which identify a record without its id.

The admin's import-enabled lists export exactly these columns (``features/importing.py``), so an
export is a file this module reads back, and changes nothing when it is: every column a person
edits, long texts (a task's description, a post's content, a user's bio) included, up to the
reader's cell limit (``files.MAX_CELL_CHARS``). Not exported, so not imported: the trash's
columns, versions, the last change's time, and a task's Metadata (a JSON document, which no
field here reads yet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlalchemy.sql import ColumnElement

from webapp.imports import fields
from webapp.models import Post, PostStatus, Tag, Task, TaskPriority, TaskStatus, User
from webapp.models.mixins import SoftDeleteMixin, TaggableMixin, VersionMixin
from webapp.models.tags import tag_name_key

ID_HEADER = "ID"
# The column the refusals' CSV adds after the file's own; reading ignores it, so the operator
# fixes the cells and imports that file again.
PROBLEM_HEADER = "Problem"


@dataclass
class Column:
    """One importable column: ``attr`` is the model attribute the export reads (``owner``), and
    ``target`` the column the import writes (``owner_id``; None for tags, which are links)."""

    header: str
    attr: str
    field: fields.Field
    target: str | None
    required: bool = False
    has_default: bool = False


@dataclass
class UniqueKey:
    """A value no two records share (in any letter case): refused when taken, and, for the natural
    key, what "update matching" finds a record by."""

    attr: str
    stored: Callable[[Any], Any]  # the model's column (or expression) the key is compared with
    key: Callable[[str], str]


@dataclass
class ModelSpec:
    model: type[Any]
    columns: list[Column]
    read_only: tuple[str, ...] = ("Created", PROBLEM_HEADER)
    unique: list[UniqueKey] = field(default_factory=list)
    # Columns a set-based write must fill itself, which the ORM would derive (a tag's name_key).
    derived: Callable[[dict[str, Any]], dict[str, Any]] = lambda values: {}

    @property
    def name(self) -> str:
        return self.model.__name__.lower()

    @property
    def headers(self) -> list[str]:
        return [ID_HEADER, *(column.header for column in self.columns), "Created"]

    def header_of(self, attr: str) -> str:
        """The file's name of a field (``due_at`` is "Due"), as refusals and changes name it."""
        return next((column.header for column in self.columns if column.attr == attr), attr.replace("_", " "))

    @property
    def natural_key(self) -> UniqueKey | None:
        return self.unique[0] if self.unique else None

    @property
    def versioned(self) -> bool:
        return issubclass(self.model, VersionMixin)

    @property
    def soft_deletes(self) -> bool:
        return issubclass(self.model, SoftDeleteMixin)

    @property
    def taggable(self) -> bool:
        return issubclass(self.model, TaggableMixin)

    def export_columns(self) -> list[tuple[str, str]]:
        """``(attribute, header)`` pairs for Flask-Admin's export."""
        pairs = [("id", ID_HEADER), *((column.attr, column.header) for column in self.columns)]
        return [*pairs, ("created_at", "Created")]


def _lower(column: Any) -> Callable[[Any], ColumnElement[Any]]:
    return lambda model: func.lower(column)


def _users(timezone: str) -> ModelSpec:
    return ModelSpec(
        User,
        [
            Column("Email", "email", fields.Email(), "email", required=True),
            Column("Username", "username", fields.Username(), "username", required=True),
            # An empty text, not NULL, for an empty cell (the forms may empty it): no default kept.
            Column("Full Name", "full_name", fields.Text(200, empty=""), "full_name"),
            Column("Active", "is_active", fields.Boolean(), "is_active", has_default=True),
            Column("Bio", "bio", fields.Text(), "bio"),
        ],
        unique=[
            UniqueKey("email", _lower(User.email), str.lower),
            UniqueKey("username", _lower(User.username), str.lower),
        ],
    )


def _owned(person: str, status: Any) -> list[Column]:
    return [
        Column("Title", "title", fields.Text(200, nullable=False), "title", required=True),
        Column(person.capitalize(), person, fields.Person(), f"{person}_id", required=True),
        Column("Status", "status", fields.Choice(status), "status", has_default=True),
    ]


def _tasks(timezone: str) -> ModelSpec:
    return ModelSpec(
        Task,
        [
            *_owned("owner", TaskStatus),
            Column("Priority", "priority", fields.Choice(TaskPriority), "priority", has_default=True),
            Column("Tags", "tags", fields.Tags(), None),
            Column("Due", "due_at", fields.Moment(timezone), "due_at"),
            Column("Description", "description", fields.Text(), "description"),
        ],
    )


def _posts(timezone: str) -> ModelSpec:
    return ModelSpec(
        Post,
        [
            *_owned("author", PostStatus),
            Column("Tags", "tags", fields.Tags(), None),
            Column("Published", "published_at", fields.Moment(timezone), "published_at"),
            Column("Content", "content", fields.Text(empty=""), "content"),
        ],
    )


def _tags(timezone: str) -> ModelSpec:
    return ModelSpec(
        Tag,
        [
            Column("Name", "name", fields.TagName(), "name", required=True),
            Column("Colour", "color", fields.Colour(), "color", has_default=True),
        ],
        unique=[UniqueKey("name", lambda model: Tag.name_key, tag_name_key)],
        derived=lambda values: {"name_key": tag_name_key(values["name"])} if "name" in values else {},
    )


BUILDERS: dict[str, Callable[[str], ModelSpec]] = {"user": _users, "task": _tasks, "post": _posts, "tag": _tags}


def spec_for(name: str, timezone: str) -> ModelSpec:
    """A fresh spec for the model named ``name`` (``task``): its lookups remember what they read,
    so each import has its own."""
    try:
        return BUILDERS[name.lower()](timezone)
    except KeyError:
        raise KeyError(f"{name!r} cannot be imported; choose one of {', '.join(BUILDERS)}") from None


def importable_models() -> list[str]:
    return list(BUILDERS)
