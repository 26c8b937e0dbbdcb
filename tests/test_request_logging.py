"""One log line per request, tagged with the request id the proxy sent or a generated one."""

import json
import logging
import sys
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from tests.conftest import AppFactory
from webapp.request_logging import HANDLER_NAME, formatter_for


@pytest.fixture
def request_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The app's loggers do not propagate to the root (no double lines under gunicorn)."""
    logger = logging.getLogger("webapp")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "webapp.request"]


def test_each_request_is_logged_once_with_id_status_and_duration(
    client: FlaskClient, request_log: pytest.LogCaptureFixture
) -> None:
    response = client.get("/login?next=/admin/secret-search", headers={"X-Request-ID": "edge-42.a:b"}, buffered=True)
    assert response.headers["X-Request-ID"] == "edge-42.a:b"
    [record] = request_records(request_log)
    assert record.request_id == "edge-42.a:b"
    assert record.http["method"] == "GET"
    assert record.http["path"] == "/login"
    assert record.http["status"] == 200
    assert record.http["duration_ms"] >= 0
    assert "secret-search" not in record.getMessage()


@pytest.mark.parametrize(
    "sent", ["", "has space", 'quote"injection', "x" * 129, "tab\tseparated", "<script>", "ünïcode"]
)
def test_unacceptable_request_ids_are_replaced_by_a_generated_one(
    client: FlaskClient, request_log: pytest.LogCaptureFixture, sent: str
) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": sent}, buffered=True)
    generated = response.headers["X-Request-ID"]
    assert generated != sent
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert request_records(request_log)[0].request_id == generated


def test_requests_without_an_id_get_distinct_ones(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert first != second


def test_the_app_logs_to_stdout_one_json_object_per_line(
    make_app: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app(LOG_FORMAT="json")
    handler = next(h for h in logging.getLogger("webapp").handlers if h.get_name() == HANDLER_NAME)
    # The handler holds the stdout of the session; point it at this test's captured one.
    session_stdout = handler.stream
    handler.setStream(sys.stdout)
    try:
        response = app.test_client().get("/healthz", headers={"X-Request-ID": "abc"}, buffered=True)
        lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    finally:
        handler.setStream(session_stdout)
        handler.setFormatter(formatter_for("text"))
    assert response.status_code == 200
    [line] = lines
    entry = json.loads(line)
    assert entry["request_id"] == "abc"
    assert entry["logger"] == "webapp.request"
    assert entry["method"] == "GET" and entry["path"] == "/healthz" and entry["status"] == 200
    assert isinstance(entry["duration_ms"], float)


def test_json_log_keeps_a_traceback_inside_its_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("webapp", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = formatter_for("json").format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]
