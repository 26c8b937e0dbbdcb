"""Saved views: a list's state (filters, search, sort, page size, columns) that an operator named.

The state is kept by meaning, not as the query string it came from: a filter is its column's
name, its operation and its value; the sort is a column name and a direction. Flask-Admin's filter
parameters (``flt0_status_is``) are derived from a filter's position and label and change when
either does; a view rebuilds its URL from the filters the list has when it is opened
(``webapp.admin.listing.list_state``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, false, func, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.database import JSONDocument
from webapp.extensions import db

NAME_MAX_LENGTH = 80


# db.Model is an attribute of the SQLAlchemy object, which mypy cannot take as a base (python/mypy#8603).
class SavedView(db.Model):  # type: ignore[name-defined]
    """One named list state; private to its owner unless ``shared`` with every operator."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"), nullable=False)
    # The list's endpoint ("task"), which names the admin view the state belongs to.
    list_endpoint: Mapped[str] = mapped_column(String(50), nullable=False)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), nullable=False)
    shared: Mapped[bool] = mapped_column(nullable=False, default=False, server_default=false())
    state: Mapped[dict[str, Any]] = mapped_column(JSONDocument, nullable=False)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)

    __table_args__ = (
        # One name per owner and list, in any letter case; the menu's "mine" half reads it too.
        Index("uq_saved_views_owner_list_name", operator_id, list_endpoint, func.lower(name), unique=True),
        # The menu's "shared" half.
        Index("ix_saved_views_shared", list_endpoint, postgresql_where=text("shared"), sqlite_where=text("shared")),
    )

    def __str__(self) -> str:
        return self.name
