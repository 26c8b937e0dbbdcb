"""Role checks enforced on the server for every request (hiding buttons is only a courtesy)."""

from __future__ import annotations

from flask import jsonify, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp.models.enums import OperatorRole


def current_operator_has(role: OperatorRole) -> bool:
    return bool(current_user.is_authenticated and current_user.has_role(role))


def wants_json() -> bool:
    return request.path.endswith(".json") or request.accept_mimetypes.best == "application/json"


def login_redirect() -> Response:
    """401 for JSON clients, a redirect to the sign-in page (coming back here) for browsers."""
    if wants_json():
        response = jsonify(error="authentication required")
        response.status_code = 401
        return response
    # script_root: mounted under a prefix (/ops), the page to come back to is /ops/admin/.
    return redirect(url_for("auth.login", next=request.script_root + request.full_path.rstrip("?")))
