"""Tasks: owned by a user, tagged, with a status, a priority and a due date."""

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
from webapp.models import Task


class TaskView(
    ImportingViewMixin,
    KeysetPaginationMixin,
    SoftDeleteViewMixin,
    TaggableViewMixin,
    RevertViewMixin,
    VersionedViewMixin,
    AdminModelView,
):
    column_list = ("title", "owner", "status", "priority", "tags", "due_at", "created_at")
    column_details_list = (
        "title",
        "owner",
        "status",
        "priority",
        "tags",
        "due_at",
        "description",
        "metadata_",
        "created_at",
        "updated_at",
    )
    column_labels = {"due_at": "Due", "created_at": "Created", "updated_at": "Updated", "metadata_": "Metadata"}
    column_formatters = {"owner": person_link}
    column_sortable_list = ("title", "status", "priority", "due_at", "created_at")
    column_searchable_list = ("title", "description")
    column_filters = (
        "status",
        "priority",
        PickerFilter(Task.owner_id, "Owner", loader="owner"),
        PersonFilter(Task.owner_id, "Owner"),
        TagFilter(Task),
        "due_at",
        "created_at",
        "updated_at",
    )
    column_default_sort = [("created_at", True), ("id", True)]
    form_columns = ("title", "owner", "status", "priority", "tags", "due_at", "description", "metadata_")
    form_args = {"due_at": {"validators": [YearBetween()]}, "metadata_": {"label": "Metadata"}}
    form_widget_args = {"description": {"rows": 6}, "metadata_": {"rows": 6, "class": "form-control text-monospace"}}
    form_ajax_refs = {"owner": user_picker("owner"), "tags": tag_picker()}
