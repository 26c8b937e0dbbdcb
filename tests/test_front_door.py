"""Where an operator lands: the site's root leads to the admin's home, behind a proxy's prefix too;
the home counts the records of each list and shows recent changes; an empty list says it holds
nothing rather than nothing at all."""

from __future__ import annotations

import dataclasses
import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import get_as_deployed
from tests.conftest import AppFactory, Auth, vacuum_analyze
from tests.test_proxy import FORWARDED
from webapp.admin.views.home import HOME_FINDINGS
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, OperatorRole
from webapp.monitoring import Monitoring

# The findings' panels (pool store, activity, statements, tables, database figures), each in a
# savepoint of its own: a ceiling (about 25 today), not an exact count.
FINDING_STATEMENTS = 30


def test_the_root_leads_to_the_admin_home(app: Flask, client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response.location == "/admin/"


def test_the_prefix_root_leads_to_the_prefixed_admin_home(app: Flask, make_app: AppFactory) -> None:
    client = make_app(TRUSTED_PROXY_COUNT="1").test_client()
    response = client.get("/", headers=FORWARDED)
    assert response.status_code == 302 and response.location.endswith("/ops/admin/")


def test_an_empty_lists_tab_reads_list_0(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    html = client.get("/admin/post/").get_data(as_text=True)
    assert "List (0)" in html


def test_the_home_counts_each_record_list_and_shows_admins_everyones_changes(
    app: Flask, client: FlaskClient, auth: Auth
) -> None:
    with app.app_context():
        factories.make_tasks(3)  # and their owner
        trashed = factories.make_task()  # and its owner
        trashed.deleted_at = utcnow()
        db.session.add(
            AuditEntry(
                operator_email="someone@example.org",
                action=AuditAction.CREATE,
                model="Tag",
                object_id="1",
                summary="Someone else's change",
                changes={},
            )
        )
        db.session.commit()
    auth.login(OperatorRole.ADMIN)
    html = unescape(client.get("/admin/").get_data(as_text=True))
    tiles = re.findall(r'<span class="h5 d-block mb-0">([^<]+)</span>(\w+)</span>', html)
    counts = {name: count for count, name in tiles}
    assert counts == {"Users": "2", "Tasks": "3", "Posts": "0", "Tags": "0"}
    assert "Recent changes by everyone" in html and "Someone else's change" in html


def test_the_home_shows_others_changes_to_admins_only(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.EDITOR)
    html = client.get("/admin/").get_data(as_text=True)
    assert "Recent changes by everyone" not in html and "Records" in html


@pytest.fixture
def every_finding(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds that every figure reaches: each panel's findings appear whatever the machine."""
    monitoring: Monitoring = app.extensions["monitoring"]
    reached = dataclasses.replace(monitoring.thresholds, checkout_wait_ms=0, slow_statement_ms=0)
    monkeypatch.setitem(app.extensions, "monitoring", dataclasses.replace(monitoring, thresholds=reached))


def home_statements(client: FlaskClient) -> tuple[str, list[str]]:
    response, statements = get_as_deployed(client, "/admin/")
    return unescape(response.get_data(as_text=True)), statements


@pytest.mark.postgres
@pytest.mark.usefixtures("every_finding")
def test_the_home_shows_admins_the_first_findings_with_a_link_to_the_dashboard(
    app: Flask, client: FlaskClient, auth: Auth
) -> None:
    auth.login(OperatorRole.ADMIN)
    client.get("/admin/")  # the session's first page reads the operator's settings too
    html, statements = home_statements(client)
    section = html.split('aria-labelledby="findings-heading"')[1].split("</section>")[0]
    shown = re.findall(r'<div class="alert alert-(\w+) py-2 mb-2">', section)
    assert 1 <= len(shown) <= HOME_FINDINGS and "success" not in shown, section
    assert 'href="/admin/dashboard/"' in section
    first_panel = next(n for n, statement in enumerate(statements) if statement.startswith("SAVEPOINT"))
    assert len(statements) - first_panel <= FINDING_STATEMENTS, statements[first_panel:]

    with app.app_context():
        factories.make_tasks(40)
        vacuum_analyze("tasks", "users")
    _html, more_rows = home_statements(client)
    assert len(but_text_lookups(more_rows)) == len(but_text_lookups(statements)), (
        "a fixed number of statements, whatever the tables hold"
    )


def but_text_lookups(statements: list[str]) -> list[str]:
    """Without the lookup of statement texts, which the process keeps once read: whether a page
    needs one depends on which statements rank first in pg_stat_statements (their times vary)."""
    return [statement for statement in statements if "queryid = ANY" not in statement]


def test_the_home_shows_no_findings_to_editors(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.EDITOR)
    assert "Database health" not in client.get("/admin/").get_data(as_text=True)
