"""Helpers for admin tests: posting forms the way a browser does, and watching the SQL they cause."""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select, text, update
from werkzeug.test import TestResponse

from tests import conftest
from tests.conftest import Auth
from webapp import create_app
from webapp.extensions import db
from webapp.models import OperatorRole, Task

VERSION_INPUT = re.compile(r'<input id="version" name="version" type="hidden" value="(\d+)">')


def opened_version(client: FlaskClient, edit_path: str) -> str:
    """The version an edit form carries when opened, as a browser would submit it back."""
    match = VERSION_INPUT.search(client.get(edit_path).get_data(as_text=True))
    assert match, f"no version field on {edit_path}"
    return match.group(1)


def post_form(client: FlaskClient, auth: Auth, path: str, data: dict[str, Any], token_page: str | None = None) -> Any:
    """POST with a CSRF token read from a rendered page (the form's own page unless it has none)."""
    token = auth.csrf_token(token_page or path)
    return client.post(path, data={**data, "csrf_token": token})


@contextmanager
def recorded_statements() -> Iterator[list[str]]:
    """Every SQL statement the app sends while the block runs (needs an app context).

    Requests made in the block reuse the test's app context, and so its session and ``g``: they
    skip the sign-in check a deployed worker makes. To count what a request costs, use
    :func:`get_as_deployed`."""
    with statements_sent_to(db.engine) as statements:
        yield statements


@contextmanager
def statements_sent_to(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement sent through ``engine`` while the block runs, by any thread."""
    statements: list[str] = []

    def remember(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def get_as_deployed(client: FlaskClient, path: str) -> tuple[TestResponse, list[str]]:
    """GET ``path`` as a deployed worker serves it, with every SQL statement the request sends.

    A worker pushes a fresh app context for each request, and with it a new Flask-SQLAlchemy
    session (scoped to the app context: an empty identity map) and a new ``g`` (where Flask-Login
    keeps the operator it loaded). Flask 3.1 makes a test client's request reuse an app context
    the test has pushed (the ``app_context`` fixture): the operator then comes from ``g`` and the
    session row from the identity map, and the sign-in check costs nothing. Clearing the identity
    map would not undo that (``g`` stays); so the request runs in an empty ``contextvars.Context``,
    where no app context is pushed, as in a worker. The body is read in it too (an export streams).
    Not counted: the check-out's time limits (``webapp.database_limits``), sent on the driver's
    cursor once per request whatever the page, as the pool's liveness check.
    """
    app = client.application
    with app.app_context():
        engine = db.engine
    with statements_sent_to(engine) as statements:
        response = contextvars.Context().run(client.get, path, buffered=True)
    return response, statements


@contextmanager
def task_changed_before_our_update(task_id: int) -> Iterator[list[bool]]:
    """Another transaction renames the task ("Theirs") and bumps its version just before the
    block's first ``UPDATE tasks``: the race a version check made earlier cannot see. The list
    says whether it happened."""
    raced: list[bool] = []

    def commit_a_competing_change(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if raced or not statement.startswith("UPDATE tasks"):
            return
        raced.append(True)
        with db.engine.connect() as other:
            other.execute(update(Task).where(Task.id == task_id).values(title="Theirs", version=Task.version + 1))
            other.commit()

    event.listen(db.engine, "before_cursor_execute", commit_a_competing_change)
    try:
        yield raced
    finally:
        event.remove(db.engine, "before_cursor_execute", commit_a_competing_change)


def count_rows(model: Any, *criteria: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*criteria)) or 0


def text_of(response: Any) -> str:
    return response.get_data(as_text=True)


@contextmanager
def app_serving(database_url: str, view: Any) -> Iterator[Flask]:
    """A second app (same database) that serves an extra admin view: the session app has already
    served requests, and Flask refuses new routes after that."""
    app = create_app(env=conftest.test_env(database_url))
    app.extensions["admin"][0].add_view(view)
    # The app may outlive one test (a module's fixture): its monitoring thread, which the first
    # request would start, starts now, so that it is no single test's leak.
    app.extensions["monitoring"].publisher.ensure_running()
    conftest.SHARED_APPS.append(app)
    try:
        yield app
    finally:
        conftest.SHARED_APPS.remove(app)
        conftest.close_app(app)


def signed_in_on_a_one_connection_pool(make_app: conftest.AppFactory) -> Auth:
    """A viewer signed in to an app whose pool has a single connection and waits 1 s for it."""
    small_pool = make_app(DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="1")
    auth = Auth(small_pool, small_pool.test_client())
    auth.login(OperatorRole.VIEWER)
    return auth


@contextmanager
def only_connection_taken(app: Flask) -> Iterator[None]:
    """The test holds the one connection of ``app``'s pool while the block runs."""
    with app.app_context():
        held = db.engine.connect()
        try:
            yield
        finally:
            held.close()


@contextmanager
def table_missing(app: Flask, table: str) -> Iterator[None]:
    """``table`` is gone while the block runs (a half-applied migration, a dropped table): renamed
    away, and back afterwards."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(f"ALTER TABLE {table} RENAME TO {table}_away"))
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as connection:
            connection.execute(text(f"ALTER TABLE {table}_away RENAME TO {table}"))
