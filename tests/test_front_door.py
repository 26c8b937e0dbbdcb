"""Where an operator lands: the site's root leads to the admin's home, behind a proxy's prefix too;
the home counts the records of each list and shows recent changes; an empty list says it holds
nothing rather than nothing at all."""

from __future__ import annotations

import re
from html import unescape

from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.conftest import AppFactory, Auth
from tests.test_proxy import FORWARDED
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, OperatorRole


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
