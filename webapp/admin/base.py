"""The shared bases of every admin view, each assembled from mixins with one job apiece.

- ``ProtectedView``, ``AdminHomeView``: a custom page and the home page, behind the sign-in and
  role checks of ``features.access``;
- ``AdminModelView``: a model view whose buttons follow the operator's role
  (``features.access``), whose every change is audited (``features.auditing``), whose refusals
  name the fields to fix (``features.refusals``), whose list and export are built by the list
  page engine (``listing.list_page``, ``listing.export``), and whose hooks into Flask-Admin's
  internals come from ``compat``; whose list shows the columns the operator chose
  (``features.column_choice``) and saves its state as a named view (``features.saved_views``).

Model views in ``views/`` declare columns, filters and search and list the ``features`` mixins
they opt into (soft delete, tags, versions) before the base. ``compat.check_mixin_order`` refuses,
when the class is created, a view whose mixins come after Flask-Admin's classes.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask_admin import AdminIndexView, BaseView
from flask_admin.contrib.sqla import ModelView

from webapp.admin.compat import ModelViewHooks, ViewHooks
from webapp.admin.features.access import ModelAccessMixin, ProtectedViewMixin
from webapp.admin.features.auditing import AuditedViewMixin
from webapp.admin.features.column_choice import ColumnChoiceMixin
from webapp.admin.features.refusals import RefusalsMixin
from webapp.admin.features.saved_views import SavedViewsMixin
from webapp.admin.inputs.filters import FilterConverter
from webapp.admin.inputs.forms import ModelConverter
from webapp.admin.listing.display import DETAIL_FORMATTERS, LIST_FORMATTERS
from webapp.admin.listing.export import StreamingExportMixin
from webapp.admin.listing.list_page import ListPageMixin


class ProtectedView(ProtectedViewMixin, ViewHooks, BaseView):
    """A custom (non-model) admin page."""


class AdminHomeView(ProtectedViewMixin, ViewHooks, AdminIndexView):
    """The admin home page."""


class AdminModelView(
    ModelAccessMixin,
    StreamingExportMixin,
    AuditedViewMixin,
    RefusalsMixin,
    SavedViewsMixin,
    ColumnChoiceMixin,
    ListPageMixin,
    ModelViewHooks,
    ModelView,
):
    """A model view as every model of the admin has it; its settings are Flask-Admin's."""

    page_size = 50
    page_size_options = (20, 50, 100, 200)
    filter_converter = FilterConverter()
    model_form_converter = ModelConverter
    can_set_page_size = True
    can_view_details = True
    column_display_pk = False
    named_filter_urls = True  # ?flt0_status_is=active rather than ?flt0_3=active: links can be built
    column_type_formatters = LIST_FORMATTERS
    column_type_formatters_detail = DETAIL_FORMATTERS
    # Exports get plain values from the type formatters, never a column formatter's HTML.
    column_formatters_export: ClassVar[dict[str, Any]] = {}
    list_template = "admin/records/list.html"
    create_template = "admin/records/create.html"
