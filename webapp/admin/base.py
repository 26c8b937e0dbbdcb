"""The shared base of every admin view: sign-in and role checks on the server, per request.

Model views below declare columns, filters and search; behaviour shared by several models
(soft delete, tagging, audit) lives in mixins next to this module, written once.
"""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_admin import AdminIndexView, BaseView
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user

from webapp.admin.auditing import AuditedViewMixin
from webapp.admin.datetimes import FilterConverter, ModelConverter
from webapp.auth.permissions import current_operator_has, login_redirect
from webapp.models.enums import OperatorRole

# Flask-Admin endpoint names that change data; everything else on a model view only reads.
WRITE_ENDPOINTS = frozenset(
    {"create_view", "edit_view", "delete_view", "action_view", "ajax_update", "export"}
)


class ProtectedViewMixin:
    """Signed-out visitors are sent to sign in; an operator below the required role gets 403.

    ``required_role`` may be raised per view (operators: admin only); write endpoints need at
    least ``write_role``.
    """

    required_role: OperatorRole = OperatorRole.VIEWER
    write_role: OperatorRole = OperatorRole.EDITOR

    def is_accessible(self) -> bool:
        return current_operator_has(self.required_role)

    def role_for_endpoint(self, name: str) -> OperatorRole:
        if name in WRITE_ENDPOINTS:
            return max(self.required_role, self.write_role, key=lambda role: role.rank)
        return self.required_role

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_redirect()
        if not current_operator_has(self.role_for_endpoint(name)):
            abort(403)
        return None


class ProtectedView(ProtectedViewMixin, BaseView):
    """A custom (non-model) admin page."""


class AdminHomeView(ProtectedViewMixin, AdminIndexView):
    """The admin home page."""


class AdminModelView(ProtectedViewMixin, AuditedViewMixin, ModelView):
    """A model view whose buttons follow the operator's role (the server checks regardless) and
    whose every change is audited."""

    page_size = 50
    filter_converter = FilterConverter()
    model_form_converter = ModelConverter
    can_set_page_size = True
    can_view_details = True
    can_export = True
    export_types = ["csv"]
    column_display_pk = False

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        return current_operator_has(self.write_role)

    @property
    def can_edit(self) -> bool:  # type: ignore[override]
        return current_operator_has(self.write_role)

    @property
    def can_delete(self) -> bool:  # type: ignore[override]
        return current_operator_has(self.write_role)

    @property
    def can_export(self) -> bool:  # type: ignore[override]
        return current_operator_has(self.write_role)
