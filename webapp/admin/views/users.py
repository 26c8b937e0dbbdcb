"""Users: the people whose records operators manage."""

from __future__ import annotations

from wtforms.validators import Email, Regexp

from webapp.admin.base import AdminModelView
from webapp.admin.features.concurrency import VersionedViewMixin
from webapp.admin.features.importing import ImportingViewMixin
from webapp.admin.features.soft_delete import SoftDeleteViewMixin
from webapp.admin.features.versions import RevertViewMixin
from webapp.admin.inputs.forms import UniqueIgnoringCase
from webapp.admin.listing.keyset import KeysetPaginationMixin
from webapp.admin.listing.related import RelatedRecords, related_records
from webapp.admin.listing.row_urls import row_url
from webapp.models import Post, Task, User


class UserView(
    ImportingViewMixin, KeysetPaginationMixin, SoftDeleteViewMixin, RevertViewMixin, VersionedViewMixin, AdminModelView
):
    column_list = ("email", "username", "full_name", "is_active", "created_at")
    column_details_list = ("email", "username", "full_name", "is_active", "bio", "created_at", "updated_at")
    column_labels = {"is_active": "Active", "created_at": "Created", "updated_at": "Updated"}
    details_template = "admin/records/details_with_related.html"
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
            related_records(Task, Task.owner_id == user.id, person_filter_url("task", "owner", user)),
            related_records(Post, Post.author_id == user.id, person_filter_url("post", "author", user)),
        ]


def person_filter_url(endpoint: str, column: str, user: User) -> str:
    """A list filtered to one user's rows (``PickerFilter`` on ``column``, by id)."""
    return row_url(f"{endpoint}.index_view", user.id, argument=f"flt0_{column}_is")
