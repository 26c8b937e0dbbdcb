"""Who may open which admin page: sign-in and role checks on the server, per request and endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flask import abort, request
from flask_login import current_user

from webapp.admin.mixin_bases import ModelViewMixinBase
from webapp.auth.permissions import current_operator_has, login_redirect
from webapp.models.enums import OperatorRole

# Flask-Admin endpoint names that change data; everything else on a model view only reads.
WRITE_ENDPOINTS = frozenset({"create_view", "edit_view", "delete_view", "action_view", "ajax_update"})
# Exporting only reads, but hands a whole table out of the console: it needs the write role too.
WRITE_ROLE_ENDPOINTS = WRITE_ENDPOINTS | {"export"}


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

    def declared_roles(self, attribute: str) -> dict[str, OperatorRole]:
        """``endpoint_roles``/``action_roles`` of the view and of every mixin it is made of: each
        mixin declares the roles of the endpoints it adds, and none hides another's."""
        merged: dict[str, OperatorRole] = {}
        for cls in reversed(type(self).__mro__):
            merged.update(vars(cls).get(attribute, {}))
        return merged

    def role_for_endpoint(self, name: str) -> OperatorRole:
        declared = self.declared_roles("endpoint_roles")
        if name in declared:
            return highest_role(self.required_role, declared[name])
        if name in WRITE_ROLE_ENDPOINTS:
            return highest_role(self.required_role, self.write_role)
        return self.required_role

    def may(self, endpoint: str) -> bool:
        """Whether the signed-in operator may use an endpoint: templates show controls by it."""
        return current_operator_has(self.role_for_endpoint(endpoint))

    def refuse_request(self, endpoint: str) -> Any:
        if not current_user.is_authenticated:
            return login_redirect()
        if not current_operator_has(self.role_for_endpoint(endpoint)):
            abort(403)
        return None


class ModelAccessMixin(ProtectedViewMixin, ModelViewMixinBase):
    """A model view whose buttons and bulk actions follow the operator's role; the server checks
    every request regardless (``refuse_request``, ``handle_action``)."""

    # Bulk actions (``@action``) need ``write_role`` unless listed here (e.g. merge: admin).
    action_roles: ClassVar[Mapping[str, OperatorRole]] = {}

    @property
    def can_create(self) -> bool:
        return current_operator_has(self.write_role)

    @property
    def can_edit(self) -> bool:
        return current_operator_has(self.write_role)

    @property
    def can_delete(self) -> bool:
        return current_operator_has(self.role_for_endpoint("delete_view"))

    @property
    def can_export(self) -> bool:
        return current_operator_has(self.write_role)

    def role_for_action(self, name: str) -> OperatorRole:
        return highest_role(self.required_role, self.declared_roles("action_roles").get(name, self.write_role))

    def is_action_allowed(self, name: str) -> bool:
        return current_operator_has(self.role_for_action(name)) and super().is_action_allowed(name)

    def handle_action(self, return_view: str | None = None) -> Any:
        # Flask-Admin answers a forbidden action with a flash and a redirect; a forged POST
        # deserves a plain 403.
        action = request.form.get("action", "")
        if action and not current_operator_has(self.role_for_action(action)):
            abort(403)
        return super().handle_action(return_view)


def highest_role(*roles: OperatorRole) -> OperatorRole:
    return max(roles, key=lambda role: role.rank)
