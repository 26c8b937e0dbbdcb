"""Error pages in the admin's look: a readable reason, never a traceback or a SQL statement."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from webapp.auth.permissions import wants_json

log = logging.getLogger(__name__)

EXPLANATIONS = {
    400: "The request could not be understood.",
    403: "Your role does not allow this. Nothing was changed. Ask an admin if you need access.",
    404: "There is nothing at this address.",
    405: "This address does not accept that kind of request.",
    429: "Too many requests. Wait a little, then try again.",
    500: "Something went wrong on our side and nothing was saved. The error has been logged.",
}


def render_error(status: int, title: str, explanation: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=title, detail=explanation), status
    return render_template("errors/error.html", status=status, title=title, explanation=explanation), status


def handle_http_error(error: HTTPException) -> tuple[Response | str, int]:
    status = error.code or 500
    return render_error(status, error.name, EXPLANATIONS.get(status, error.description or ""))


def handle_csrf_error(error: CSRFError) -> tuple[Response | str, int]:
    explanation = (
        f"{error.description} The form was not sent with a valid security token, so nothing was "
        "changed. This happens when a page stays open too long or the form came from another "
        "site: go back, reload the page and submit again."
    )
    return render_error(400, "Form expired or not sent from this site", explanation)


def handle_unexpected_error(error: Exception) -> tuple[Response | str, int]:
    """Log the details for us; show the operator only that it failed."""
    original = getattr(error, "original_exception", None) or error
    log.error("Unhandled error", exc_info=original)
    return render_error(500, InternalServerError.name, EXPLANATIONS[500])


def register_error_pages(app: Flask) -> None:
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(InternalServerError, handle_unexpected_error)
    app.register_error_handler(HTTPException, handle_http_error)
