"""Error pages in the admin's look, JSON errors for JSON clients, and 503 when the database is out.

A page never shows a traceback, SQL or exception text: the details go to the log under the
request id, and the page shows that id so an operator can quote it.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify
from sqlalchemy.exc import InterfaceError, OperationalError, TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.wrappers import Response

from webapp.auth.permissions import wants_json
from webapp.extensions import db
from webapp.request_logging import current_request_id

logger = logging.getLogger(__name__)

# What operators read; codes not listed here show Werkzeug's generic name and description.
PAGES = {
    403: ("Not allowed", "Your role does not give access to this page or action."),
    404: ("Page not found", "There is nothing at this address. It may have been moved or deleted."),
    500: ("Something went wrong",
          "The request failed on our side. If it happens again, quote the reference below."),
    503: ("Temporarily unavailable",
          "The database cannot be reached right now. Please try again in a moment."),
}
RETRY_AFTER_SECONDS = 5
# A lost connection (server restarted, connection killed), a refused one and a pool with no free
# connection within DB_POOL_TIMEOUT all mean "try again shortly", not "the code is broken".
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError)


def error_page(**context: object) -> str:
    """Render without Flask's context processors: Flask-Login's loads the operator from the
    database, which is exactly what fails when this page is a 503."""
    return current_app.jinja_env.get_template("errors/error.html").render(**context)


def render_error(error: HTTPException) -> Response:
    code = error.code or 500
    title, message = PAGES.get(code, (error.name, error.description or ""))
    if wants_json():
        response = jsonify(error=title, status=code, request_id=current_request_id())
    else:
        response = Response(
            error_page(code=code, title=title, message=message, request_id=current_request_id()),
            mimetype="text/html",
        )
    response.status_code = code
    if code == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def render_database_unavailable(error: Exception) -> Response:
    logger.warning("database unavailable: %s: %s", type(error).__name__, str(error).partition("\n")[0])
    return render_error(ServiceUnavailable())


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
    # Covers unhandled exceptions too: Flask logs them with the traceback, then hands this
    # handler an InternalServerError.
    app.register_error_handler(HTTPException, render_error)
    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, render_database_unavailable)
    # Flask runs teardowns in reverse order of registration: this one, registered after
    # Flask-SQLAlchemy's, runs first and leaves that one nothing to do.
    app.teardown_appcontext(release_session_after_lost_connection)
