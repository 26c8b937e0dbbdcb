"""The shared base of every admin view: sign-in and role checks on the server, per request.

Model views below declare columns, filters and search; behaviour shared by several models
(soft delete, tagging, audit) lives in mixins next to this module, written once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from flask import abort, flash, request
from flask_admin import AdminIndexView, BaseView
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from sqlalchemy.exc import DBAPIError, IntegrityError

from webapp.admin.auditing import AuditedViewMixin
from webapp.admin.datetimes import FilterConverter, ModelConverter
from webapp.auth.permissions import current_operator_has, login_redirect
from webapp.models.enums import OperatorRole

log = logging.getLogger(__name__)

# Flask-Admin endpoint names that change data; everything else on a model view only reads.
WRITE_ENDPOINTS = frozenset(
    {"create_view", "edit_view", "delete_view", "action_view", "ajax_update", "export"}
)


class ProtectedViewMixin:
    """Signed-out visitors are sent to sign in; an operator below the required role gets 403.

    ``required_role`` may be raised per view (operators: admin only); Flask-Admin's write endpoints
    need at least ``write_role``; endpoints a view adds with ``@expose`` declare their role in
    ``endpoint_roles`` (undeclared ones need only ``required_role``, so declare every write).
    """

    required_role: OperatorRole = OperatorRole.VIEWER
    write_role: OperatorRole = OperatorRole.EDITOR
    endpoint_roles: ClassVar[Mapping[str, OperatorRole]] = {}

    def is_accessible(self) -> bool:
        return current_operator_has(self.required_role)

    def role_for_endpoint(self, name: str) -> OperatorRole:
        if name in self.endpoint_roles:
            return _highest(self.required_role, self.endpoint_roles[name])
        if name in WRITE_ENDPOINTS:
            return _highest(self.required_role, self.write_role)
        return self.required_role

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_redirect()
        if not current_operator_has(self.role_for_endpoint(name)):
            abort(403)
        return None


def _highest(*roles: OperatorRole) -> OperatorRole:
    return max(roles, key=lambda role: role.rank)


class ProtectedView(ProtectedViewMixin, BaseView):
    """A custom (non-model) admin page."""


class AdminHomeView(ProtectedViewMixin, AdminIndexView):
    """The admin home page."""


class AdminModelView(ProtectedViewMixin, AuditedViewMixin, ModelView):
    """A model view whose buttons follow the operator's role (the server checks regardless) and
    whose every change is audited."""

    # Bulk actions (``@action``) need ``write_role`` unless listed here (e.g. purge: admin).
    action_roles: ClassVar[Mapping[str, OperatorRole]] = {}

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

    def role_for_action(self, name: str) -> OperatorRole:
        return _highest(self.required_role, self.action_roles.get(name, self.write_role))

    def is_action_allowed(self, name: str) -> bool:
        return current_operator_has(self.role_for_action(name)) and super().is_action_allowed(name)

    def handle_action(self, return_view: str | None = None) -> Any:
        # Flask-Admin answers a forbidden action with a flash and a redirect; a forged POST
        # deserves a plain 403.
        action = request.form.get("action", "")
        if action and not current_operator_has(self.role_for_action(action)):
            abort(403)
        return super().handle_action(return_view)

    def handle_view_exception(self, exc: Exception) -> bool:
        # Flask-Admin flashes str(exc), which for a database error is the SQL statement and its
        # parameters: log those for us, tell the operator what happened in words.
        if isinstance(exc, DBAPIError):
            log.warning("Database refused an admin change: %s", exc)
            if isinstance(exc, IntegrityError):
                flash("Not saved: a value that must be unique is already taken, or a required "
                      "related record is missing.", "error")
            else:
                flash("Not saved: the database refused the change. Nothing was modified.", "error")
            return True
        return super().handle_view_exception(exc)  # type: ignore[no-any-return]
