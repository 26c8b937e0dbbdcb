"""A failed write is logged without the values it carried: no bound parameter, no row detail.

SQLAlchemy puts every bound value of a failed statement into the exception's text, and
PostgreSQL adds a DETAIL line with the clashing key or the whole failing row; the log would get
an operator's password hash, emails and record contents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, insert

from tests.admin_support import count_rows, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import Operator, OperatorRole
from webapp.request_logging import HANDLER_NAME

pytestmark = pytest.mark.usefixtures("app_context")

RACED_EMAIL = "raced.operator@example.org"
PASSWORD = "a-passphrase-nobody-guesses-2026"


@pytest.fixture
def app_log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    """Every record the app logs, as its own handler writes it (the app's loggers do not
    propagate to the root, so caplog's handler is attached to them directly)."""
    logger = logging.getLogger("webapp")
    handler = next(h for h in logger.handlers if h.get_name() == HANDLER_NAME)
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="webapp")
    yield lambda: [handler.format(record) for record in caplog.records]
    logger.removeHandler(caplog.handler)


@contextmanager
def raced_operator_insert() -> Iterator[list[dict[str, Any]]]:
    """Another operator with the same email is committed just before the next INSERT of an
    operator, as a second admin would in a race the form's uniqueness check cannot see. Yields
    the parameters the failed INSERT carried."""
    sent: list[dict[str, Any]] = []

    def before_insert(connection: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if not statement.lstrip().startswith("INSERT INTO operators") or sent:
            return
        sent.append(parameters)
        with db.engine.begin() as other:
            other.execute(insert(Operator).values(email=RACED_EMAIL, role=OperatorRole.VIEWER, password_hash="x"))

    event.listen(db.engine, "before_cursor_execute", before_insert)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", before_insert)


def test_a_failed_write_logs_neither_its_parameters_nor_the_rows_values(
    client: FlaskClient, auth: Auth, app_log_lines: Any
) -> None:
    auth.login(OperatorRole.ADMIN)
    token = auth.csrf_token("/admin/operator/new/")
    form = {
        "email": RACED_EMAIL,
        "role": "editor",
        "is_active": "y",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    with raced_operator_insert() as raced:
        # buffered: the body is read and closed here, so the request's own log line is written.
        response = client.post("/admin/operator/new/", data={**form, "csrf_token": token}, buffered=True)
    assert response.status_code == 200
    assert "Nothing was saved" in text_of(response)
    assert count_rows(Operator, Operator.email == RACED_EMAIL) == 1  # the raced one only
    [parameters] = raced
    password_hash = next(value for value in _values(parameters) if str(value).startswith(("scrypt:", "pbkdf2:")))
    lines = app_log_lines()
    assert any("uq_operators_email_lower" in line for line in lines), lines
    assert any("POST /admin/operator/new/ 200" in line for line in lines), lines
    for line in lines:
        assert password_hash not in line
        assert RACED_EMAIL not in line
        assert PASSWORD not in line


def test_an_unhandled_database_error_logs_its_statement_without_values(app_log_lines: Any) -> None:
    db.session.add(Operator(email=RACED_EMAIL, role=OperatorRole.VIEWER, password_hash="scrypt:first"))
    db.session.commit()
    db.session.add(Operator(email=RACED_EMAIL.upper(), role=OperatorRole.VIEWER, password_hash="scrypt:secret-hash"))
    with pytest.raises(Exception) as raised:
        db.session.commit()
    db.session.rollback()
    logging.getLogger("webapp.test").error("failed", exc_info=raised.value)
    [line] = app_log_lines()
    assert "INSERT INTO operators" in line
    assert "scrypt:secret-hash" not in line and RACED_EMAIL.upper() not in line and RACED_EMAIL not in line


def _values(parameters: Any) -> list[Any]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    return list(parameters)


def test_every_engine_of_the_app_hides_parameters(app: Flask) -> None:
    assert db.engine.hide_parameters
    assert app.extensions["monitoring"].publisher.engine().hide_parameters
