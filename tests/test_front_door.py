"""Where an operator lands: the site's root leads to the admin's home, behind a proxy's prefix too,
and an empty list says it holds nothing rather than nothing at all."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import AppFactory, Auth
from tests.test_proxy import FORWARDED


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
