"""Search-as-you-type pickers for relationships (owner, author, tags) that never offer a deleted row.

A form with a plain select would load the whole users table; these answer a few rows per keystroke.
Soft-deleted rows are neither offered nor accepted when a crafted form submits their id.
"""

from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from sqlalchemy import func, or_, select
from sqlalchemy.sql import ColumnElement

from webapp.admin.ids import parse_id
from webapp.extensions import db
from webapp.models import Tag, User
from webapp.models.mixins import SoftDeleteMixin
from webapp.models.tags import tag_name_key

PICKER_PAGE_SIZE = 10


class LivePicker(QueryAjaxModelLoader):
    """Matches the typed text anywhere in ``fields``, in any letter case, among live rows only."""

    def __init__(self, name: str, model: type[Any], fields: tuple[str, ...], order_by: Any) -> None:
        placeholder = f"Type to search {model.__name__.lower()}s by {', '.join(fields).replace('_', ' ')}"
        super().__init__(
            name, db, model, fields=fields, order_by=order_by, page_size=PICKER_PAGE_SIZE, placeholder=placeholder
        )

    def _live(self) -> Any:
        return self.model.live() if issubclass(self.model, SoftDeleteMixin) else None

    def get_one(self, pk: Any) -> Any:
        row_id = parse_id(pk)
        if row_id is None:
            return None  # the form then says "Not a valid choice"
        query = select(self.model).where(self.model.id == row_id)
        if self._live() is not None:
            query = query.where(self._live())
        with db.session.no_autoflush:
            return db.session.scalars(query).first()

    def matching(self, term: str) -> ColumnElement[bool]:
        """Rows whose fields contain the typed text."""
        pattern = _containing(term.strip().lower())
        return or_(*(func.lower(field).like(pattern, escape="\\") for field in self._cached_fields))

    def get_list(self, term: str, offset: int = 0, limit: int = PICKER_PAGE_SIZE) -> list[Any]:
        query = select(self.model).where(self.matching(term))
        if self._live() is not None:
            query = query.where(self._live())
        query = query.order_by(self.order_by).offset(offset or 0).limit(min(limit, PICKER_PAGE_SIZE * 5))
        return list(db.session.scalars(query))


class TagPicker(LivePicker):
    """Tags by name, compared as tag names are (``Tag.name_key``): "äp" finds "Äpfel" on SQLite
    too, and so does text pasted with an invisible character in it."""

    def matching(self, term: str) -> ColumnElement[bool]:
        return Tag.name_key.like(_containing(tag_name_key(term)), escape="\\")


def _containing(text: str) -> str:
    """A ``LIKE`` pattern for values containing ``text`` (escaped with a backslash)."""
    return f"%{_escape_like(text)}%"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def user_picker(name: str) -> LivePicker:
    return LivePicker(name, User, ("email", "username", "full_name"), User.email)


def tag_picker(name: str = "tags") -> LivePicker:
    return TagPicker(name, Tag, ("name",), Tag.name)
