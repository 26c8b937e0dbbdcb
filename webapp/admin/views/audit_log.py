"""The audit trail, read-only: the log of every change, and the history of one record.

Entries are shown only for models whose admin view the operator may open: a viewer does not
read the history of operators (admin only) through the back door of the audit log.
"""

from __future__ import annotations

from typing import Any

from flask import abort, render_template
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import exists, select

from webapp import audit_chain
from webapp.admin.base import AdminModelView
from webapp.admin.features.access import WRITE_ENDPOINTS
from webapp.admin.features.undoing import BatchUndoMixin
from webapp.admin.inputs.filters import EnumEqualFilter, LazyChoices, PickerFilter
from webapp.admin.inputs.pickers import LivePicker
from webapp.admin.listing.audit_labels import values_of_changes
from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.admin.views.history import PAGELESS_SUBJECTS, RecordHistoryMixin, audit_labels, model_views
from webapp.auth.permissions import current_operator_has
from webapp.extensions import db
from webapp.formatting import format_datetime
from webapp.models import AuditEntry, AuditVerification, Operator, OperatorRole


class ActionFilter(EnumEqualFilter):
    """Ignores a value no action has (a hand-edited URL), which the database would refuse as a
    500, under the name its links have always had (``flt0_action_equals``)."""

    def operation(self) -> str:
        return "equals"


class ReadOnlyViewMixin(ModelViewMixinBase):
    """Nobody, admin included, changes these rows through the app: no buttons, and a 403 for a
    forged request to any writing endpoint (Flask-Admin itself would only redirect)."""

    can_create = False
    can_edit = False
    can_delete = False
    can_export = False

    def refuse_request(self, endpoint: str) -> Any:
        refusal = super().refuse_request(endpoint)
        if refusal is None and endpoint in WRITE_ENDPOINTS:
            abort(403)
        return refusal


def render_changes(view: Any, entry: AuditEntry) -> Markup:
    """An entry's old → new values, labelled as the lists label them."""
    labels = audit_labels(view.admin, values_of_changes(entry.model, entry.changes))
    return Markup(
        render_template("admin/audit_log/changes.html", changes=entry.changes, model=entry.model, labels=labels)
    )


class OperatorPicker(LivePicker):
    """Operators by email. Admins may pick any; others only operators the log already names, so
    the picker (and a filter's label) does not show accounts (idle or deactivated ones) that only
    admins may see."""

    def __init__(self, name: str) -> None:
        super().__init__(name, Operator, ("email",), Operator.email)

    def _offered(self) -> Any:
        if current_operator_has(OperatorRole.ADMIN):
            return None
        return exists().where(AuditEntry.operator_id == Operator.id)

    def _shown(self) -> Any:
        return self._offered()


class OperatorFilter(PickerFilter):
    """The operator picked by search-as-you-type (a list of every operator to choose from cost the
    page a statement), under the name its links have always had (``flt0_operator_equals``)."""

    def operation(self) -> str:
        return "equals"


class AuditLogView(RecordHistoryMixin, ReadOnlyViewMixin, BatchUndoMixin, AdminModelView):
    has_history = False  # an entry is history; nothing records changes to entries
    list_template = "admin/audit_log/list.html"  # with the chains' last verification
    column_list = ("created_at", "operator_email", "action", "model", "object_id", "summary", "remote_addr")
    column_details_list = (
        "created_at",
        "operator_email",
        "action",
        "model",
        "object_id",
        "summary",
        "changes",
        "remote_addr",
    )
    column_labels = {
        "created_at": "When",
        "operator_email": "Operator",
        "object_id": "Object id",
        "remote_addr": "Client address",
    }
    column_sortable_list = ("created_at", "operator_email", "action", "model")
    column_list_reads = ("batch_id",)  # the summary links to its import
    column_default_sort = [("created_at", True), ("id", True)]
    column_searchable_list = ("object_id",)
    # The log only grows: counting every row for a page number would get slower every day.
    simple_list_pager = True
    named_filter_urls = True
    form_ajax_refs = {"operator": OperatorPicker("operator")}  # the operator filter's picker
    column_formatters = {
        "created_at": lambda view, context, entry, name: format_datetime(entry.created_at),
        "action": lambda view, context, entry, name: entry.action.label,
        "object_id": lambda view, context, entry, name: view.history_link(entry.model, entry.object_id),
        "summary": lambda view, context, entry, name: view.summary_with_batch(entry),
    }
    column_formatters_detail = {
        **column_formatters,
        "changes": lambda view, context, entry, name: render_changes(view, entry),
    }

    @property
    def column_filters(self) -> tuple[Any, ...]:
        return (
            OperatorFilter(AuditEntry.operator_id, "Operator", loader="operator"),
            FilterEqual(AuditEntry.model, "Model", options=LazyChoices(self._model_options)),
            ActionFilter(AuditEntry.action, "Action"),
            "created_at",
        )

    def _model_options(self) -> list[tuple[Any, str]]:
        return [(name, name) for name in sorted(model_views(self.admin))]

    def search_placeholder(self) -> str:
        return "Object id"

    def search_notice(self, search: str | None) -> str | None:
        return None  # one id, compared whole: one condition however long the search

    def search_query(self, query: Any, joins: dict[Any, Any], search: str) -> tuple[Any, dict[Any, Any]]:
        # An id is looked up exactly: "12" must not also find 112 and 120 (Flask-Admin's search is
        # a "contains", which also could not use an index).
        return query.filter(AuditEntry.object_id == search.strip()), joins

    def readable_models(self) -> list[str]:
        readable = [name for name, view in model_views(self.admin).items() if view.is_accessible()]
        return readable + list(PAGELESS_SUBJECTS) if current_operator_has(OperatorRole.ADMIN) else readable

    def get_query(self) -> Any:
        return super().get_query().filter(AuditEntry.model.in_(self.readable_models()))

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(AuditEntry.model.in_(self.readable_models()))

    def get_one(self, id: Any) -> Any:
        entry = super().get_one(id)
        return entry if entry is not None and entry.model in self.readable_models() else None

    def last_verification(self) -> AuditVerification | None:
        return audit_chain.last_verification()

    def history_link(self, model: str, object_id: str) -> Markup:
        url = self.get_url(".history", model=model, object_id=object_id)
        return Markup('<a href="{}" title="History of this record">{}</a>').format(url, object_id)

    def summary_with_batch(self, entry: AuditEntry) -> Markup | str:
        """An entry of a batch (a bulk action, an import) links to the batch's page and its undo."""
        if not entry.batch_id:
            return entry.summary
        url = self.get_url(".batch_view", batch_id=entry.batch_id)
        return Markup('<a href="{}" title="The batch this change was part of, and its undo">{}</a>').format(
            url, entry.summary
        )


def recent_actions(limit: int = 10, operator_id: int | None = None) -> list[AuditEntry]:
    """The newest audit entries: one operator's, or everyone's (for admins, who may read them all)."""
    query = select(AuditEntry).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc()).limit(limit)
    if operator_id is not None:
        query = query.where(AuditEntry.operator_id == operator_id)
    return list(db.session.scalars(query))


def recent_actions_of_current_operator(limit: int = 10) -> list[AuditEntry]:
    return recent_actions(limit, current_user.id)
