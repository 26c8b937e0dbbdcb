"""Who may open which admin page: sign-in and role checks on the server, per request and endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flask import abort
from flask_login import current_user

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

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_redirect()
        if not current_operator_has(self.role_for_endpoint(name)):
            abort(403)
        return None


def highest_role(*roles: OperatorRole) -> OperatorRole:
    return max(roles, key=lambda role: role.rank)
