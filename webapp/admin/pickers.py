"""Search-as-you-type pickers for relationships (owner, author, tags) that never offer a deleted row.

A form with a plain select would load the whole users table; these answer a few rows per keystroke.
Soft-deleted rows are neither offered nor accepted when a crafted form submits their id.
"""

from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from sqlalchemy import func, or_, select

from webapp.admin.ids import parse_id
from webapp.extensions import db
from webapp.models import Tag, User
from webapp.models.mixins import SoftDeleteMixin

PICKER_PAGE_SIZE = 10
# What one lookup answers at most, whatever ``limit`` a hand-made request asks for.
PICKER_MAX_ROWS = PICKER_PAGE_SIZE * 5
# Longer than any email or name: more is no search anyone typed, only a costly pattern.
PICKER_MAX_TERM = 200


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

    def get_list(self, term: str | None, offset: int | None = 0, limit: int | None = PICKER_PAGE_SIZE) -> list[Any]:
        """Flask-Admin passes ``query``, ``offset`` and ``limit`` from the URL as they come (a
        missing query as None, ``limit=-1``, which the database refuses): a sane page instead."""
        rows = min(max(limit or PICKER_PAGE_SIZE, 1), PICKER_MAX_ROWS)
        pattern = f"%{_escape_like((term or '').strip().lower()[:PICKER_MAX_TERM])}%"
        query = select(self.model).where(
            or_(*(func.lower(field).like(pattern, escape="\\") for field in self._cached_fields))
        )
        if self._live() is not None:
            query = query.where(self._live())
        query = query.order_by(self.order_by).offset(max(offset or 0, 0)).limit(rows)
        return list(db.session.scalars(query))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def user_picker(name: str) -> LivePicker:
    return LivePicker(name, User, ("email", "username", "full_name"), User.email)


def tag_picker(name: str = "tags") -> LivePicker:
    return LivePicker(name, Tag, ("name",), Tag.name)
