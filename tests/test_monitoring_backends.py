"""Admins cancel or terminate a long-running backend of this database from the dashboard: a
confirmation naming the statement's fingerprint, audited; never the dashboard's own connection,
never another database's backend, never a statement other than the one confirmed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from tests.admin_support import text_of
from tests.conftest import AppFactory, Auth
from tests.monitoring_support import Sleeper
from tests.waits import wait_for
from webapp.config import normalize_database_url
from webapp.extensions import db
from webapp.models import AuditEntry, OperatorRole
from webapp.models.enums import AuditAction
from webapp.monitoring.backends import find_backend

pytestmark = pytest.mark.postgres


@pytest.fixture
def sleeper(app: Flask, database_url: str) -> Iterator[Sleeper]:
    running = Sleeper(database_url)
    wait_for(lambda: running.running(app), 30, "the long statement to start")
    yield running
    running.stop()


@pytest.fixture
def other_database_sleeper(app: Flask, database_url: str) -> Iterator[Sleeper]:
    """The same, on the server's ``postgres`` database: not ours to stop."""
    url = make_url(normalize_database_url(database_url)).set(database="postgres")
    running = Sleeper(url.render_as_string(hide_password=False))
    wait_for(lambda: running.running(app), 30, "the other database's statement to start")
    yield running
    running.stop()


def confirmation(auth: Auth, pid: int) -> tuple[str, dict[str, str]]:
    response = auth.client.get(f"/admin/dashboard/backend/{pid}")
    assert response.status_code == 200, text_of(response)
    html = text_of(response)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html))
    return html, fields


def signal(auth: Auth, pid: int, fields: dict[str, str], action: str) -> str:
    response = auth.client.post(f"/admin/dashboard/backend/{pid}/signal", data={**fields, "signal": action})
    assert response.status_code == 302
    return text_of(auth.client.get("/admin/dashboard/"))


def signal_audits(app: Flask) -> list[AuditEntry]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEntry).where(AuditEntry.action.in_([AuditAction.CANCEL, AuditAction.TERMINATE]))
            )
        )


@pytest.mark.parametrize("action", ["cancel", "terminate"])
def test_an_admin_stops_a_long_statement_after_a_confirmation_naming_its_fingerprint(
    app: Flask, make_app: AppFactory, sleeper: Sleeper, action: str
) -> None:
    quick = make_app(FINDING_LONG_RUNNING_SECONDS="1")
    auth = Auth(quick, quick.test_client())
    auth.login(OperatorRole.ADMIN)

    def listed() -> list[dict]:
        data = auth.client.get("/admin/dashboard/data.json").get_json()
        return [row for row in data["activity"]["long_running"] if row["pid"] == sleeper.pid]

    [row] = wait_for(listed, 30, "the statement to be listed as long-running")
    assert row["stop_url"] == f"/admin/dashboard/backend/{sleeper.pid}"
    html, fields = confirmation(auth, sleeper.pid)
    fingerprint = fields["fingerprint"]
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint)
    assert f"Cancel statement {fingerprint}" in html and "SELECT pg_sleep($1)" in html
    page = signal(auth, sleeper.pid, fields, action)
    sleeper.thread.join(30)
    assert sleeper.ended_by == [action]
    assert fingerprint in page
    [entry] = signal_audits(app)
    assert entry.action == AuditAction(action) and entry.object_id == str(sleeper.pid)
    assert fingerprint in entry.summary and "pg_sleep($1)" in entry.summary


def test_a_confirmation_for_another_statement_sends_nothing(app: Flask, auth: Auth, sleeper: Sleeper) -> None:
    auth.login(OperatorRole.ADMIN)
    _, fields = confirmation(auth, sleeper.pid)
    page = signal(auth, sleeper.pid, {**fields, "fingerprint": "0123456789abcdef"}, "terminate")
    assert "has moved on to another statement since you confirmed: nothing was sent" in page
    assert sleeper.running(app) and signal_audits(app) == []


@pytest.mark.parametrize("role", [OperatorRole.VIEWER, OperatorRole.EDITOR])
def test_only_admins_may_stop_a_backend(app: Flask, auth: Auth, sleeper: Sleeper, role: OperatorRole) -> None:
    auth.login(role)
    assert auth.client.get(f"/admin/dashboard/backend/{sleeper.pid}").status_code == 403
    token = auth.csrf_token("/admin/dashboard/")
    response = auth.client.post(
        f"/admin/dashboard/backend/{sleeper.pid}/signal",
        data={"csrf_token": token, "signal": "terminate", "fingerprint": "0123456789abcdef", "query_start": "x"},
    )
    assert response.status_code == 403
    data = auth.client.get("/admin/dashboard/data.json").get_json()
    assert all("stop_url" not in row for row in data["activity"]["long_running"])
    assert sleeper.running(app)


def test_another_databases_backend_is_not_ours_to_stop(app: Flask, auth: Auth, other_database_sleeper: Sleeper) -> None:
    auth.login(OperatorRole.ADMIN)
    response = auth.client.get(f"/admin/dashboard/backend/{other_database_sleeper.pid}")
    assert response.status_code == 404
    assert "is not another connection to this database" in text_of(response)
    token = auth.csrf_token("/admin/dashboard/")
    page = signal(
        auth,
        other_database_sleeper.pid,
        {"csrf_token": token, "fingerprint": "0123456789abcdef", "query_start": "2026-01-01T00:00:00+00:00"},
        "terminate",
    )
    assert "nothing was sent" in page
    assert other_database_sleeper.running(app) and signal_audits(app) == []


def test_the_dashboards_own_connection_is_never_offered(app: Flask) -> None:
    with app.app_context():
        connection = db.session.connection()
        own = connection.scalar(text("SELECT pg_backend_pid()"))
        assert find_backend(connection, own) is None
        db.session.rollback()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"fingerprint": "nope", "query_start": "2026-01-01T00:00:00+00:00"}, "fingerprint must be 16 hexadecimal"),
        ({"fingerprint": "0123456789abcdef", "query_start": "yesterday"}, "query_start must be the time shown"),
    ],
)
def test_a_malformed_stop_request_is_a_clear_400_that_sends_nothing(
    app: Flask, auth: Auth, sleeper: Sleeper, fields: dict[str, str], message: str
) -> None:
    auth.login(OperatorRole.ADMIN)
    token = auth.csrf_token("/admin/dashboard/")
    response = auth.client.post(
        f"/admin/dashboard/backend/{sleeper.pid}/signal", data={**fields, "csrf_token": token, "signal": "cancel"}
    )
    assert response.status_code == 400 and message in text_of(response)
    assert sleeper.running(app) and signal_audits(app) == []


def test_an_unknown_signal_sends_nothing(app: Flask, auth: Auth, sleeper: Sleeper) -> None:
    auth.login(OperatorRole.ADMIN)
    _, fields = confirmation(auth, sleeper.pid)
    page = signal(auth, sleeper.pid, fields, "kill -9")
    assert "Unknown action" in page
    assert sleeper.running(app)
