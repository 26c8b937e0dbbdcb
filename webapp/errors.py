"""Error pages in the admin's look, JSON errors for JSON clients, 503 when the database is out and
409 when it stopped the request's transaction because another one collided with it.

A page never shows a traceback, SQL or exception text: the details go to the log under the
request id, and the page shows that id so an operator can quote it.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, has_request_context, jsonify, request
from flask_login import AnonymousUserMixin, current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import (
    BadRequest,
    Conflict,
    HTTPException,
    InternalServerError,
    RequestEntityTooLarge,
    ServiceUnavailable,
)
from werkzeug.wrappers import Response

from webapp import log_redaction
from webapp.auth.permissions import wants_json
from webapp.extensions import db
from webapp.request_logging import current_request_id

logger = logging.getLogger(__name__)

# Two transactions that each waited for a row the other held (40P01, a deadlock), or that could not
# be ordered (40001, a serialization failure): the database stopped this one and rolled it back.
# Nothing is wrong with the database, and the same request usually succeeds when sent again.
COLLISIONS = frozenset({"40P01", "40001"})
COLLIDED = "Another change to the same records collided with this one, so it was stopped. Nothing was saved. Try again."
# What operators read; codes not listed here show Werkzeug's generic name and description.
PAGES = {
    400: ("Bad request", "The request could not be understood. Nothing was changed."),
    403: ("Not allowed", "Your role does not allow this. Nothing was changed. Ask an admin if you need access."),
    404: ("Page not found", "There is nothing at this address. It may have been moved or deleted."),
    405: ("Not allowed here", "This address does not accept that kind of request."),
    409: ("Changed at the same time", COLLIDED),
    413: ("Request too large", "The form sent more than this site accepts ({limit}). Nothing was changed."),
    429: ("Too many requests", "Wait a little, then try again."),
    500: (
        "Something went wrong",
        "The request failed on our side and nothing was saved. If it happens again, quote the reference below.",
    ),
    503: ("Temporarily unavailable", "The database cannot be reached right now. Please try again in a moment."),
}
# A statement stopped by DB_STATEMENT_TIMEOUT or DB_LOCK_TIMEOUT (webapp.database_limits), by
# SQLSTATE: what the 503 page says instead of "cannot be reached".
TIMEOUTS = {
    "57014": (
        "The database took too long to answer, so the request was stopped. Nothing was saved. "
        "Try again in a moment; if it keeps happening, narrow the search or the filters."
    ),
    "55P03": (
        "A table this page needs is locked by other work (such as a migration), so the request "
        "stopped waiting. Nothing was saved. Try again in a moment."
    ),
}
RETRY_AFTER_SECONDS = 5
# The database answers, but every pooled connection stayed busy for DB_POOL_TIMEOUT.
POOL_EXHAUSTED = "Every database connection is in use right now (the pool is exhausted). Please try again in a moment."
# A lost connection (server restarted, connection killed), a refused one and a pool with no free
# connection within DB_POOL_TIMEOUT all mean "try again shortly", not "the code is broken".
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError)


def _signed_in_operator(code: int) -> Any:
    """The operator for the page's links, or an anonymous one when loading it could fail.

    The page is rendered without Flask's context processors: Flask-Login's loads the operator from
    the database, which is exactly what fails when this page is a 503.
    """
    if code == 503:
        return AnonymousUserMixin()
    try:
        return current_user._get_current_object()
    except SQLAlchemyError:
        db.session.rollback()
        return AnonymousUserMixin()


def error_page(code: int, title: str, message: str) -> str:
    return current_app.jinja_env.get_template("errors/error.html").render(
        code=code,
        title=title,
        message=message,
        request_id=current_request_id(),
        current_user=_signed_in_operator(code),
    )


def error_response(code: int, title: str, message: str) -> Response:
    response: Response  # jsonify's flask.Response is a Werkzeug Response too
    if wants_json():
        response = jsonify(error=title, detail=message, status=code, request_id=current_request_id())
    else:
        response = Response(error_page(code, title, message), mimetype="text/html")
    response.status_code = code
    if code == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def render_error(error: HTTPException) -> Response:
    """Our wording for each status, unless the code that raised it said something specific
    (``abort(400, "hours must be one of 1, 6, 24")``)."""
    code = error.code or 500
    title, message = PAGES.get(code, (error.name, error.description or ""))
    if code == RequestEntityTooLarge.code:
        limit = request.max_content_length if has_request_context() else None
        message = message.format(limit=_size(limit or current_app.config["MAX_CONTENT_LENGTH"]))
    if error.description and error.description != type(error).description:
        message = error.description
    return error_response(code, title, message)


def _size(limit: int) -> str:
    for unit, size in (("MB", 1024 * 1024), ("kB", 1024)):
        if limit >= size:
            return f"at most {limit / size:.3g} {unit}"
    return f"at most {limit} bytes"


def render_csrf_error(error: CSRFError) -> Response:
    message = (
        f"{error.description} The form was not sent with a valid security token, so nothing was "
        "changed. This happens when a page stays open too long or the form came from another "
        "site: go back, reload the page and submit again."
    )
    return error_response(BadRequest.code, "Form expired or not sent from this site", message)


def is_database_unavailable(error: Exception) -> bool:
    """Whether the error means "the database cannot serve us right now" rather than a bug.

    SQLite reports a missing table as an OperationalError too; only its "locked" is transient.
    """
    if isinstance(error, (PoolTimeoutError, InterfaceError)) or getattr(error, "connection_invalidated", False):
        return True
    original = getattr(error, "orig", None)
    if type(original).__module__ == "sqlite3":
        return "locked" in str(original)
    return isinstance(error, OperationalError)


def _sqlstate(error: Exception) -> str:
    return getattr(getattr(error, "orig", None), "pgcode", None) or ""


def is_collision(error: Exception) -> bool:
    """Whether the database stopped the transaction for colliding with another one."""
    return _sqlstate(error) in COLLISIONS


def stopped_message(error: Exception) -> str | None:
    """Why the database stopped the statement (a timeout, a collision), for the operator; else None."""
    return COLLIDED if is_collision(error) else TIMEOUTS.get(_sqlstate(error))


def render_database_error(error: Exception) -> Response:
    if is_collision(error):
        logger.warning("transaction collided: %s: %s", type(error).__name__, log_redaction.describe(error))
        return render_error(Conflict(COLLIDED))
    if not is_database_unavailable(error):
        logger.error("database error", exc_info=error)
        return render_error(InternalServerError())
    logger.warning("database unavailable: %s: %s", type(error).__name__, log_redaction.describe(error))
    if isinstance(error, PoolTimeoutError):
        return render_error(ServiceUnavailable(POOL_EXHAUSTED))
    return render_error(ServiceUnavailable(stopped_message(error)))


def release_session_after_lost_connection(error: BaseException | None) -> None:
    """End the request's session even when its connection died after the response was made.

    Flask-SQLAlchemy's own teardown rolls back with ``session.remove()``; on a connection the
    server has just dropped that rollback raises, the exception escapes the WSGI call and
    gunicorn answers its own 500 for a request that had already been served. The failed rollback
    has already invalidated the connection and returned it to the pool, so the second
    ``remove()`` only discards the session.
    """
    try:
        db.session.remove()
    except DATABASE_UNAVAILABLE as lost:
        logger.warning("connection lost at the end of a request: %s", type(lost).__name__)
        db.session.remove()


def init_error_pages(app: Flask) -> None:
    app.register_error_handler(CSRFError, render_csrf_error)
    # Covers unhandled exceptions too: Flask logs them with the traceback, then hands this
    # handler an InternalServerError.
    app.register_error_handler(HTTPException, render_error)
    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, render_database_error)
    # Flask runs teardowns in reverse order of registration: this one, registered after
    # Flask-SQLAlchemy's, runs first and leaves that one nothing to do.
    app.teardown_appcontext(release_session_after_lost_connection)
