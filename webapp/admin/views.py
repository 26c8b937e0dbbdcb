"""Declarative admin views, one short class per model."""

from __future__ import annotations

from webapp.admin.base import AdminModelView
from webapp.admin.soft_delete import SoftDeleteViewMixin


class UserView(SoftDeleteViewMixin, AdminModelView):
    column_list = ("email", "username", "full_name", "is_active", "created_at")
    column_searchable_list = ("email", "username", "full_name")
    column_filters = ("is_active", "created_at", "updated_at")
    column_default_sort = [("created_at", True), ("id", True)]
    form_columns = ("email", "username", "full_name", "is_active", "bio")


class TaskView(SoftDeleteViewMixin, AdminModelView):
    column_list = ("title", "owner", "status", "priority", "tags", "due_at", "created_at")
    column_searchable_list = ("title", "description")
    column_filters = ("status", "priority", "due_at", "created_at", "updated_at")
    column_default_sort = [("created_at", True), ("id", True)]
    form_columns = ("title", "owner", "status", "priority", "tags", "due_at", "description")
    form_ajax_refs = {
        "owner": {"fields": ("email", "username", "full_name"), "page_size": 10},
        "tags": {"fields": ("name",), "page_size": 10},
    }


class PostView(SoftDeleteViewMixin, AdminModelView):
    column_list = ("title", "author", "status", "tags", "published_at", "created_at")
    column_searchable_list = ("title", "content")
    column_filters = ("status", "published_at", "created_at", "updated_at")
    column_default_sort = [("created_at", True), ("id", True)]
    form_columns = ("title", "author", "status", "tags", "published_at", "content")
    form_ajax_refs = {
        "author": {"fields": ("email", "username", "full_name"), "page_size": 10},
        "tags": {"fields": ("name",), "page_size": 10},
    }


class TagView(AdminModelView):
    column_list = ("name", "color", "created_at")
    column_searchable_list = ("name",)
    column_default_sort = "name"
    form_columns = ("name", "color")
