"""Users: the people whose records operators manage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from wtforms.validators import Email, Regexp

from webapp.admin.base import AdminModelView
from webapp.admin.features.concurrency import VersionedViewMixin
from webapp.admin.features.importing import ImportingViewMixin
from webapp.admin.features.soft_delete import SoftDeleteViewMixin
from webapp.admin.inputs.forms import UniqueIgnoringCase
from webapp.admin.listing.keyset import KeysetPaginationMixin
from webapp.admin.listing.row_urls import row_url
from webapp.extensions import db
from webapp.models import Post, Task, User

# The newest of a user's tasks and posts shown on their page; the list has the rest.
RELATED_SHOWN = 10


@dataclass(frozen=True)
class RelatedRecords:
    """One kind of record that belongs to a user, as their page shows it."""

    noun: str
    count: int
    newest: list[tuple[str, str]]  # (title, details URL)
    list_url: str


def related_records(model: type[Any], person: Any, user: User, endpoint: str, filter_argument: str) -> RelatedRecords:
    """The user's live ``model`` rows (``person``: the owner or author column): how many, the
    newest few, and the list filtered to them. Two statements, served by the person's index."""
    mine = (person == user.id, model.live())
    count = db.session.scalar(select(func.count()).select_from(model).where(*mine)) or 0
    newest_first = (model.created_at.desc(), model.id.desc())
    newest = db.session.execute(select(model.id, model.title).where(*mine).order_by(*newest_first).limit(RELATED_SHOWN))
    return RelatedRecords(
        noun=model.__name__.lower(),
        count=count,
        newest=[(title, row_url(f"{endpoint}.details_view", row_id)) for row_id, title in newest],
        list_url=row_url(f"{endpoint}.index_view", user.email, argument=filter_argument),
    )


class UserView(ImportingViewMixin, KeysetPaginationMixin, SoftDeleteViewMixin, VersionedViewMixin, AdminModelView):
    column_list = ("email", "username", "full_name", "is_active", "created_at")
    column_details_list = ("email", "username", "full_name", "is_active", "bio", "created_at", "updated_at")
    column_labels = {"is_active": "Active", "created_at": "Created", "updated_at": "Updated"}
    details_template = "admin/users/details.html"
    column_sortable_list = ("email", "username", "full_name", "created_at")
    column_searchable_list = ("email", "username", "full_name")
    column_filters = ("is_active", "created_at", "updated_at")
    column_default_sort = [("created_at", True), ("id", True)]
    form_columns = ("email", "username", "full_name", "is_active", "bio")
    form_args = {
        "email": {
            "validators": [Email("Enter an email address like name@example.org."), UniqueIgnoringCase(User.email)],
            "filters": [lambda value: value.strip() if value else value],
        },
        "username": {
            "validators": [
                Regexp(r"^[\w.@+-]+$", message="Use letters, digits and . @ + - _ only."),
                UniqueIgnoringCase(User.username),
            ],
            "filters": [lambda value: value.strip() if value else value],
        },
    }

    def related(self, user: User) -> list[RelatedRecords]:
        """What the user's page lists under the record: their tasks and their posts."""
        return [
            related_records(Task, Task.owner_id, user, "task", "flt0_owner_is_email_or_username"),
            related_records(Post, Post.author_id, user, "post", "flt0_author_is_email_or_username"),
        ]
