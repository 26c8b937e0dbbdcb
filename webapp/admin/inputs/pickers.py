"""Search-as-you-type pickers for relationships (owner, author, tags) that never offer a deleted row.

A form with a plain select would load the whole users table; these answer a few rows per keystroke.
Soft-deleted rows are neither offered nor accepted when a crafted form submits their id.
"""

from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from sqlalchemy import Select, Unicode, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from webapp.admin import compat
from webapp.admin.inputs.ids import parse_id
from webapp.admin.inputs.search import LIKE_ESCAPE, MAX_WORD_LENGTH, MIN_WORD_LENGTH, escape_like, like_pattern, matches
from webapp.extensions import db
from webapp.models import Tag, User
from webapp.models.mixins import SoftDeleteMixin
from webapp.models.tags import tag_name_key

PICKER_PAGE_SIZE = 10
# What one lookup answers at most, whatever ``limit`` a hand-made request asks for.
PICKER_MAX_ROWS = PICKER_PAGE_SIZE * 5
# The most matching rows a lookup sorts for its page: the first found. A letter or two typed
# into the owner picker matches a sixteenth of a million users, and sorting all of them for the
# first ten took a read of the whole table per keystroke (0.2-0.9 s); when more match than this,
# the operator narrows by typing on, and what is offered stays sorted.
PICKER_CANDIDATES = 100


class LivePicker(QueryAjaxModelLoader):
    """Matches the typed text in ``fields`` (see :meth:`matching`), in any letter case,
    among live rows only."""

    candidates: int | None = PICKER_CANDIDATES  # how many matches a lookup sorts at most

    def __init__(self, name: str, model: type[Any], fields: tuple[str, ...], order_by: Any) -> None:
        placeholder = f"Type to search {model.__name__.lower()}s by {', '.join(fields).replace('_', ' ')}"
        super().__init__(
            name, db, model, fields=fields, order_by=order_by, page_size=PICKER_PAGE_SIZE, placeholder=placeholder
        )

    def _offered(self) -> Any:
        """The rows the picker offers and accepts (live ones), or None for all."""
        return self.model.live() if issubclass(self.model, SoftDeleteMixin) else None

    def _shown(self) -> Any:
        """The rows whose labels a filter's address may show, or None for all (deleted ones
        too: the filter still applies to them)."""
        return None

    def chosen(self, ids: set[int]) -> list[Any]:
        """The rows a filter's address names, for their labels."""
        return list(db.session.scalars(_where(select(self.model).where(self.model.id.in_(ids)), self._shown())))

    def get_one(self, pk: Any) -> Any:
        row_id = parse_id(pk)
        if row_id is None:
            return None  # the form then says "Not a valid choice"
        query = _where(select(self.model).where(self.model.id == row_id), self._offered())
        with db.session.no_autoflush:
            return db.session.scalars(query).first()

    def matching(self, term: str) -> ColumnElement[bool]:
        """Rows whose fields contain the typed text, in the shape the trigram indexes serve; one
        or two letters (too short for a trigram) at the start of a field, in the shape its
        prefix index serves (``prefix_index``), which is what a person typing the first letters
        of a name means. Cut like a search word."""
        typed = term.strip()[:MAX_WORD_LENGTH]
        fields = compat.loader_fields(self)
        if len(typed) >= MIN_WORD_LENGTH:
            return or_(*(matches(field, like_pattern(typed)) for field in fields))
        # Lowered by the database, as it lowers the column (Python's and SQLite's rules differ).
        start = func.lower(literal(escape_like(typed) + "%", Unicode))
        return or_(*(func.lower(field).like(start, escape=LIKE_ESCAPE) for field in fields))

    def get_list(self, term: str | None, offset: int | None = 0, limit: int | None = PICKER_PAGE_SIZE) -> list[Any]:
        """Flask-Admin passes ``query``, ``offset`` and ``limit`` from the URL as they come (a
        missing query as None, ``limit=-1``, which the database refuses): a sane page instead."""
        rows, skipped = min(max(limit or PICKER_PAGE_SIZE, 1), PICKER_MAX_ROWS), max(offset or 0, 0)
        if self.candidates is not None and skipped >= self.candidates:
            return []  # every candidate offered: the operator types on
        found = _where(select(self.model.id).where(self.matching(term or "")), self._offered())
        if self.candidates is not None:
            found = found.limit(self.candidates)
        query = select(self.model).where(self.model.id.in_(found.scalar_subquery()))
        return list(db.session.scalars(query.order_by(self.order_by).offset(skipped).limit(rows)))


class TagPicker(LivePicker):
    """Tags by name, compared as tag names are (``Tag.name_key``): "äp" finds "Äpfel" on SQLite
    too, and so does text pasted with an invisible character in it. Any typed text matches
    anywhere: tags are an operator-made vocabulary of a few hundred names, not a table to index,
    and every match is sorted: the first names in order, not the first found."""

    candidates = None

    def matching(self, term: str) -> ColumnElement[bool]:
        typed = tag_name_key(term)[:MAX_WORD_LENGTH]
        return Tag.name_key.like(f"%{escape_like(typed)}%", escape=LIKE_ESCAPE)


def _where(query: Select[Any], condition: Any) -> Select[Any]:
    return query if condition is None else query.where(condition)


def user_picker(name: str) -> LivePicker:
    return LivePicker(name, User, ("email", "username", "full_name"), User.email)


def tag_picker(name: str = "tags") -> LivePicker:
    return TagPicker(name, Tag, ("name",), Tag.name)
