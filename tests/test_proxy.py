"""Behind a reverse proxy: forwarded headers are believed only from as many proxies as configured."""

import logging

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import TEST_PASSWORD, AppFactory, Auth, csrf_token_from

FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "admin.example.org",
    "X-Forwarded-Prefix": "/ops",
    "X-Forwarded-For": "203.0.113.9",
}

# What the browser sees; the test client's cookie jar honours Secure and Path against it.
PUBLIC_URL = "https://admin.example.org/ops"


def proxied_client(make_app: AppFactory, trusted: int) -> FlaskClient:
    return make_app(TRUSTED_PROXY_COUNT=str(trusted), SESSION_COOKIE_SECURE="true").test_client()


def sign_in(client: FlaskClient, email: str, path: str, referer: str) -> TestResponse:
    """Post the sign-in form as a browser on the public URL would, Referer included."""
    token = csrf_token_from(client.get("/login", headers=FORWARDED, base_url=PUBLIC_URL).get_data(as_text=True))
    return client.post(
        path,
        data={"email": email, "password": TEST_PASSWORD, "csrf_token": token},
        headers={**FORWARDED, "Referer": referer},
        base_url=PUBLIC_URL,
    )


def test_trusted_proxy_headers_set_scheme_host_and_prefix_of_urls(make_app: AppFactory) -> None:
    response = proxied_client(make_app, trusted=1).get("/admin/user", headers=FORWARDED)
    assert response.status_code == 308
    assert response.headers["Location"] == "https://admin.example.org/ops/admin/user/"


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(make_app: AppFactory) -> None:
    response = proxied_client(make_app, trusted=0).get("/admin/user", headers=FORWARDED)
    assert response.headers["Location"] == "http://localhost/admin/user/"


def test_client_address_comes_from_the_trusted_proxy(make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("webapp")
    logger.addHandler(caplog.handler)
    try:
        proxied_client(make_app, trusted=1).get("/healthz", headers=FORWARDED, buffered=True)
        proxied_client(make_app, trusted=0).get("/healthz", headers=FORWARDED, buffered=True)
    finally:
        logger.removeHandler(caplog.handler)
    addresses = [record.http["remote_addr"] for record in caplog.records if record.name == "webapp.request"]
    assert addresses == ["203.0.113.9", "127.0.0.1"]
    assert [record.http["path"] for record in caplog.records if record.name == "webapp.request"] == [
        "/ops/healthz",
        "/healthz",
    ]


def test_sign_in_under_a_prefix_keeps_the_prefix_and_scopes_the_secure_cookie(make_app: AppFactory, auth: Auth) -> None:
    operator = auth.create_operator()
    client = proxied_client(make_app, trusted=1)
    to_sign_in = client.get("/admin/", headers=FORWARDED, base_url=PUBLIC_URL)
    assert to_sign_in.headers["Location"] == "/ops/login?next=/ops/admin/"

    signed_in = sign_in(client, operator.email, "/login?next=/ops/admin/", referer=f"{PUBLIC_URL}/login")
    assert signed_in.status_code == 302, signed_in.get_data(as_text=True)
    assert signed_in.headers["Location"] == "/ops/admin/"
    [cookie] = [value for value in signed_in.headers.getlist("Set-Cookie") if value.startswith("session=")]
    assert "Path=/ops" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert client.get("/admin/", headers=FORWARDED, base_url=PUBLIC_URL).status_code == 200


def test_post_from_a_foreign_page_is_refused_once_the_app_knows_it_is_on_https(
    make_app: AppFactory, auth: Auth
) -> None:
    operator = auth.create_operator()
    client = proxied_client(make_app, trusted=1)
    response = sign_in(client, operator.email, "/login", referer="https://evil.example.net/ops/login")
    assert response.status_code == 400
    assert "referrer does not match" in response.get_data(as_text=True)
