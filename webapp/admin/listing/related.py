"""Records that belong to the one on a details page (a user's tasks, a tag's carriers), as that page
lists them: how many, the newest few, and the list filtered to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from webapp.admin.listing.row_urls import row_url
from webapp.extensions import db

# The newest related records a page shows; the filtered list has the rest.
RELATED_SHOWN = 10


@dataclass(frozen=True)
class RelatedRecords:
    noun: str
    count: int
    newest: list[tuple[str, str]]  # (title, details URL)
    list_url: str


def related_records(model: type[Any], belongs: Any, list_url: str) -> RelatedRecords:
    """The live ``model`` rows for which ``belongs`` holds: two statements, which the owner,
    author and tag-link indexes serve."""
    condition = (belongs, model.live())
    count = db.session.scalar(select(func.count()).select_from(model).where(*condition)) or 0
    newest_first = (model.created_at.desc(), model.id.desc())
    rows = db.session.execute(
        select(model.id, model.title).where(*condition).order_by(*newest_first).limit(RELATED_SHOWN)
    )
    endpoint = model.__name__.lower()
    return RelatedRecords(
        noun=endpoint,
        count=count,
        newest=[(title, row_url(f"{endpoint}.details_view", row_id)) for row_id, title in rows],
        list_url=list_url,
    )
