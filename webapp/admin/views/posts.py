"""Posts: written by a user, tagged, drafted then published."""

from __future__ import annotations

from webapp.admin.base import AdminModelView
from webapp.admin.features.concurrency import VersionedViewMixin
from webapp.admin.features.importing import ImportingViewMixin
from webapp.admin.features.soft_delete import SoftDeleteViewMixin
from webapp.admin.features.tag_actions import TaggableViewMixin
from webapp.admin.features.versions import RevertViewMixin
from webapp.admin.inputs.filters import PersonFilter, PickerFilter, TagFilter
from webapp.admin.inputs.forms import YearBetween
from webapp.admin.inputs.pickers import tag_picker, user_picker
from webapp.admin.listing.display import person_link
from webapp.admin.listing.keyset import KeysetPaginationMixin
from webapp.models import Post


class PostView(
    ImportingViewMixin,
    KeysetPaginationMixin,
    SoftDeleteViewMixin,
    TaggableViewMixin,
    RevertViewMixin,
    VersionedViewMixin,
    AdminModelView,
):
    column_list = ("title", "author", "status", "tags", "published_at", "created_at")
    column_details_list = ("title", "author", "status", "tags", "published_at", "content", "created_at", "updated_at")
    column_labels = {"published_at": "Published", "created_at": "Created", "updated_at": "Updated"}
    column_formatters = {"author": person_link}
    column_sortable_list = ("title", "status", "published_at", "created_at")
    column_searchable_list = ("title", "content")
    column_filters = (
        "status",
        PickerFilter(Post.author_id, "Author", loader="author"),
        PersonFilter(Post.author_id, "Author"),
        TagFilter(Post),
        "published_at",
        "created_at",
        "updated_at",
    )
    column_default_sort = [("created_at", True), ("id", True)]
    form_columns = ("title", "author", "status", "tags", "published_at", "content")
    form_args = {"published_at": {"validators": [YearBetween()]}}
    form_widget_args = {"content": {"rows": 10}}
    form_ajax_refs = {"author": user_picker("author"), "tags": tag_picker()}
