"""A failed write is logged without the values it carried: no bound parameter, no row detail.

SQLAlchemy puts every bound value of a failed statement into the exception's text, and
PostgreSQL adds a DETAIL line with the clashing key or the whole failing row; the log would get
an operator's password hash, emails and record contents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError, PendingRollbackError, StatementError

from tests.admin_support import count_rows, text_of
from tests.conftest import AppFactory, Auth
from webapp import log_redaction
from webapp.extensions import db
from webapp.models import Operator, OperatorRole
from webapp.request_logging import HANDLER_NAME, formatter_for

pytestmark = pytest.mark.usefixtures("app_context")

RACED_EMAIL = "raced.operator@example.org"
PASSWORD = "a-passphrase-nobody-guesses-2026"
SECRET_HASH = "scrypt:32768:8:1$secret-salt$secret-hash"
# A value the database quotes back in its message, with the quotes a value may hold itself.
QUOTED_SECRETS = ['a"hunter2"b', "a'hunter2'b", 'a"hunter2', "a'hun\"ter2'b", 'a"hun\nter2"b', "«hunter2»"]


@contextmanager
def app_records(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every record the app logs lands in ``caplog.records`` (the app's loggers do not propagate
    to the root, so caplog's handler is attached to them directly)."""
    logger = logging.getLogger("webapp")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="webapp")
    try:
        yield
    finally:
        logger.removeHandler(caplog.handler)


@pytest.fixture
def app_log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    """Every record the app logs, as its own handler writes it."""
    handler = next(h for h in logging.getLogger("webapp").handlers if h.get_name() == HANDLER_NAME)
    with app_records(caplog):
        yield lambda: [handler.format(record) for record in caplog.records]


@pytest.fixture(params=["text", "json"])
def formatted_log(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything the app logs during the test, as one text in the test's LOG_FORMAT."""
    formatter = formatter_for(request.param)
    with app_records(caplog):
        yield lambda: "\n".join(formatter.format(record) for record in caplog.records)


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
    client: FlaskClient, auth: Auth, app_log_lines: Callable[[], list[str]]
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


def test_an_unhandled_database_error_logs_its_statement_without_values(app_log_lines: Callable[[], list[str]]) -> None:
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


def failed_flush_then_pending_rollback(operator: Operator) -> PendingRollbackError:
    """``operator`` refused by the database at flush, then the session used again without a
    rollback (a caller that swallowed the error): SQLAlchemy's PendingRollbackError, raised
    outside any except block, so with no cause or context, quotes the first error's text."""
    db.session.add(operator)
    with pytest.raises(IntegrityError):
        db.session.flush()
    with pytest.raises(PendingRollbackError) as raised:
        db.session.execute(select(Operator))
    db.session.rollback()
    assert raised.value.__cause__ is None and raised.value.__context__ is None
    return raised.value


@pytest.mark.parametrize(
    "refused",
    [
        pytest.param({"email": RACED_EMAIL.upper()}, id="duplicate email"),
        # PostgreSQL's DETAIL then holds the whole failing row, the password hash included.
        pytest.param({"email": None}, id="missing email"),
    ],
)
def test_a_pending_rollback_logs_none_of_the_failed_writes_values(
    refused: dict[str, Any], formatted_log: Callable[[], str]
) -> None:
    db.session.add(Operator(email=RACED_EMAIL, role=OperatorRole.VIEWER, password_hash="scrypt:first"))
    db.session.commit()
    error = failed_flush_then_pending_rollback(Operator(role=OperatorRole.VIEWER, password_hash=SECRET_HASH, **refused))
    logger = logging.getLogger("webapp.test")
    logger.error("failed", exc_info=error)
    logger.warning("failed: %s", error)
    logger.warning("failed: %r", error)
    logger.warning(error)
    log = formatted_log()
    assert "PendingRollbackError" in log and "Original exception was: (" in log, log
    assert "INSERT INTO operators" in log
    assert RACED_EMAIL not in log.lower(), log
    for value in ("secret-hash", "Failing row contains", "DETAIL:"):
        assert value not in log, log


@pytest.mark.postgres
def test_a_database_errors_text_logged_without_the_error_keeps_none_of_its_value_lines(
    formatted_log: Callable[[], str],
) -> None:
    """The last line of defence: with no error object to describe, the lines PostgreSQL gives
    values in are dropped wherever they appear."""
    error = failed_flush_then_pending_rollback(
        Operator(email=None, role=OperatorRole.VIEWER, password_hash=SECRET_HASH)
    )
    assert "Failing row contains" in str(error)
    logging.getLogger("webapp.test").warning("failed: %s", str(error))
    log = formatted_log()
    assert "NotNullViolation" in log
    assert "secret-hash" not in log and "DETAIL:" not in log, log


def test_a_pending_rollback_answered_500_logs_none_of_the_failed_writes_values(
    make_app: AppFactory, app_log_lines: Callable[[], list[str]]
) -> None:
    app = make_app(config={"PROPAGATE_EXCEPTIONS": False})  # answered 500 and logged, as in production

    @app.get("/swallows-a-failed-write")
    def swallows_a_failed_write() -> str:
        db.session.add(Operator(email=None, role=OperatorRole.VIEWER, password_hash=SECRET_HASH))
        with suppress(IntegrityError):
            db.session.flush()
        return str(db.session.scalars(select(Operator)).all())

    response = app.test_client().get("/swallows-a-failed-write", buffered=True)
    assert response.status_code == 500
    lines = app_log_lines()
    assert any("PendingRollbackError" in line for line in lines), lines
    assert not any("secret-hash" in line or "Failing row" in line for line in lines), lines


@pytest.mark.postgres
@pytest.mark.parametrize("value", QUOTED_SECRETS)
def test_a_value_with_quotes_is_not_logged_from_the_databases_message(
    value: str, formatted_log: Callable[[], str]
) -> None:
    with pytest.raises(StatementError) as raised:
        db.session.execute(text("SELECT CAST(:value AS integer)"), {"value": value})
    db.session.rollback()
    assert "ter2" in str(raised.value.orig)  # what the database said, quoted back
    logging.getLogger("webapp.test").error("failed", exc_info=raised.value)
    described = log_redaction.describe(raised.value)
    log = formatted_log()
    assert "invalid input syntax for type integer" in described and "SELECT CAST" in described
    for text_ in (described, log):
        assert "hun" not in text_ and "ter2" not in text_, text_


@pytest.mark.parametrize("value", QUOTED_SECRETS)
def test_a_value_with_quotes_refused_before_the_database_is_not_logged(
    value: str, formatted_log: Callable[[], str]
) -> None:
    """SQLAlchemy refuses a value no enum member has before sending it, quoting it in its message."""
    with pytest.raises(StatementError) as raised:
        db.session.execute(select(Operator).where(Operator.role == value))
    db.session.rollback()
    assert "ter2" in str(raised.value)
    logging.getLogger("webapp.test").error("failed", exc_info=raised.value)
    log = formatted_log()
    assert "LookupError" in log and "FROM operators" in log
    for text_ in (log_redaction.describe(raised.value), log):
        assert "hun" not in text_ and "ter2" not in text_, text_


def _values(parameters: Any) -> list[Any]:
    if isinstance(parameters, dict):
        return list(parameters.values())
    return list(parameters)


def test_every_engine_of_the_app_hides_parameters(app: Flask) -> None:
    assert db.engine.hide_parameters
    assert app.extensions["monitoring"].publisher.engine().hide_parameters
