"""Headers, cookies, error pages and CSRF: what every response and every POST must carry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from tests import factories
from tests.conftest import AppFactory, Auth
from webapp.extensions import db
from webapp.models import Operator, OperatorRole, Tag, Task


def page(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/admin/",
        "/admin/tag/",
        "/static/css/admin.css",
        "/admin/static/vendor/jquery.min.js",
        "/no/such/page",
    ],
)
def test_every_response_carries_the_security_headers(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert "http" not in policy  # no third-party origin is trusted


def test_signed_in_pages_carry_the_headers_too(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    assert client.get("/admin/operator/").headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/task/", "/admin/task/?page_size=20", "/admin/dashboard/data.json", "/account"]
)
def test_signed_in_pages_are_never_stored_by_a_cache(client: FlaskClient, auth: Auth, path: str) -> None:
    auth.login()
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_files_keep_their_own_caching(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    for path in ("/static/css/admin.css", "/favicon.ico"):
        with client.get(path) as response:
            assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", ""), path


def test_https_only_cookies_come_with_strict_transport_security(client: FlaskClient, make_app: AppFactory) -> None:
    secure_app = make_app(SESSION_COOKIE_SECURE="true")
    for path in ("/login", "/healthz", "/static/css/admin.css"):
        with secure_app.test_client().get(path, base_url="https://localhost") as response:
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000", path
    assert "Strict-Transport-Security" not in client.get("/login").headers


def session_cookie(response) -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    assert cookies, "no session cookie set"
    return cookies[-1]


def test_session_cookie_is_httponly_and_samesite_lax(client: FlaskClient, auth: Auth) -> None:
    operator = auth.create_operator()
    response = client.post(
        "/login",
        data={"email": operator.email, "password": "correct-horse-battery-staple", "csrf_token": auth.csrf_token()},
    )
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # testing runs over plain HTTP


def test_session_cookie_is_secure_when_configured(make_app: AppFactory) -> None:
    secure_app = make_app(SESSION_COOKIE_SECURE="true")
    cookie = session_cookie(secure_app.test_client().get("/login"))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# Error pages --------------------------------------------------------------------------------


def test_a_forbidden_page_is_a_readable_403_in_the_admin_look(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    response = client.get("/admin/operator/")
    assert response.status_code == 403
    html = page(response)
    assert "Not allowed" in html and "Your role does not allow this" in html
    assert "bootstrap.min.css" in html and 'action="/logout"' in html


def test_json_clients_get_json_errors(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    response = client.get("/admin/operator/", headers={"Accept": "application/json"})
    assert response.status_code == 403 and response.json["error"] == "Not allowed"


def test_not_found_is_a_readable_page(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "There is nothing at this address." in page(response)


def test_an_unexpected_error_shows_no_traceback_or_sql(make_app: AppFactory) -> None:
    failing_app = make_app(config={"PROPAGATE_EXCEPTIONS": False})

    def broken_view() -> str:
        db.session.execute(text("SELECT secret_column FROM no_such_table"))
        return "unreachable"

    failing_app.add_url_rule("/broken", view_func=broken_view)
    response = failing_app.test_client().get("/broken")
    html = page(response)
    assert response.status_code == 500
    assert "The request failed on our side and nothing was saved" in html
    for leak in ("no_such_table", "SELECT", "Traceback", "sqlalchemy"):
        assert leak not in html


def test_a_database_refusal_in_an_admin_form_is_explained_without_sql(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    with app.app_context():
        factories.make_tag(name="urgent")
    auth.login(OperatorRole.EDITOR)
    response = client.post(
        "/admin/tag/new/", data={"name": "URGENT", "color": "#000000", "csrf_token": auth.csrf_token("/admin/tag/new/")}
    )
    html = page(response)
    assert response.status_code == 200
    for leak in ("INSERT", "IntegrityError", "UniqueViolation", "uq_tags_name_key"):
        assert leak not in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Tag)) == 1


# CSRF on every kind of state-changing POST ---------------------------------------------------


@dataclass
class StateChange:
    """A POST an operator can make, and how to see whether it changed anything."""

    role: OperatorRole
    path: Callable[[dict], str]
    data: Callable[[dict], dict]
    state: Callable[[dict], object]


def tag_state(ids: dict) -> object:
    return sorted((tag.id, tag.name) for tag in db.session.scalars(select(Tag)))


def task_state(ids: dict) -> object:
    return sorted(db.session.scalars(select(Task.id).where(Task.live())))


def operator_state(ids: dict) -> object:
    return sorted(
        (op.email, op.role.value, op.is_active, op.password_hash) for op in db.session.scalars(select(Operator))
    )


STATE_CHANGES = {
    "model create form": StateChange(
        OperatorRole.EDITOR, lambda ids: "/admin/tag/new/", lambda ids: {"name": "new", "color": "#000000"}, tag_state
    ),
    "model edit form": StateChange(
        OperatorRole.EDITOR,
        lambda ids: f"/admin/tag/edit/?id={ids['tag']}",
        lambda ids: {"name": "renamed", "color": "#000000"},
        tag_state,
    ),
    "list delete": StateChange(
        OperatorRole.EDITOR, lambda ids: "/admin/task/delete/", lambda ids: {"id": ids["task"]}, task_state
    ),
    "bulk action": StateChange(
        OperatorRole.EDITOR,
        lambda ids: "/admin/task/action/",
        lambda ids: {"action": "delete", "rowid": [ids["task"]]},
        task_state,
    ),
    "operator create": StateChange(
        OperatorRole.ADMIN,
        lambda ids: "/admin/operator/new/",
        lambda ids: {
            "email": "new@example.org",
            "role": "viewer",
            "is_active": "y",
            "password": "a-fine-passphrase-1",
            "password_confirm": "a-fine-passphrase-1",
        },
        operator_state,
    ),
    "operator edit": StateChange(
        OperatorRole.ADMIN,
        lambda ids: f"/admin/operator/edit/?id={ids['operator']}",
        lambda ids: {"email": "changed@example.org", "role": "admin", "is_active": "y"},
        operator_state,
    ),
    "operator password reset": StateChange(
        OperatorRole.ADMIN,
        lambda ids: f"/admin/operator/password/?id={ids['operator']}",
        lambda ids: {"password": "a-fine-passphrase-1", "password_confirm": "a-fine-passphrase-1"},
        operator_state,
    ),
}


@pytest.fixture
def records(app: Flask) -> dict:
    with app.app_context():
        return {
            "tag": factories.make_tag(name="kept").id,
            "task": factories.make_task(title="kept").id,
            "operator": factories.make_operator(role=OperatorRole.VIEWER).id,
        }


@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing token", "invalid token"])
@pytest.mark.parametrize("kind", list(STATE_CHANGES))
def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(
    client: FlaskClient, auth: Auth, app: Flask, records: dict, kind: str, token: str | None
) -> None:
    change = STATE_CHANGES[kind]
    auth.login(change.role)
    with app.app_context():
        before = change.state(records)
    data = change.data(records) | ({"csrf_token": token} if token else {})
    response = client.post(change.path(records), data=data)
    assert response.status_code == 400
    html = page(response)
    assert "Form expired or not sent from this site" in html
    assert ("The CSRF token is missing." if token is None else "The CSRF token is invalid.") in html
    with app.app_context():
        assert change.state(records) == before


@pytest.mark.parametrize("kind", list(STATE_CHANGES))
def test_the_same_post_with_the_token_goes_through(
    client: FlaskClient, auth: Auth, app: Flask, records: dict, kind: str
) -> None:
    """The counterpart of the refusal above: the forms are wired right, the token is the only difference."""
    change = STATE_CHANGES[kind]
    auth.login(change.role)
    with app.app_context():
        before = change.state(records)
    data = change.data(records) | {"csrf_token": auth.csrf_token("/admin/")}
    response = client.post(change.path(records), data=data)
    assert response.status_code == 302, page(response)[:3000]
    with app.app_context():
        assert change.state(records) != before


def test_a_token_from_another_session_is_refused(client: FlaskClient, auth: Auth, app: Flask) -> None:
    stranger = app.test_client()
    foreign_token = Auth(app, stranger).csrf_token()
    auth.login(OperatorRole.EDITOR)
    response = client.post("/admin/tag/new/", data={"name": "x", "color": "#000000", "csrf_token": foreign_token})
    assert response.status_code == 400


@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing token", "invalid token"])
def test_logout_without_a_valid_token_keeps_the_operator_signed_in(
    client: FlaskClient, auth: Auth, token: str | None
) -> None:
    auth.login()
    response = client.post("/logout", data={"csrf_token": token} if token else {})
    assert response.status_code == 400 and "Form expired" in page(response)
    assert client.get("/admin/").status_code == 200


def test_sign_in_without_a_token_is_refused(client: FlaskClient, auth: Auth) -> None:
    operator = auth.create_operator()
    response = client.post("/login", data={"email": operator.email, "password": "correct-horse-battery-staple"})
    assert response.status_code == 400 and "Form expired" in page(response)
    assert client.get("/admin/").status_code == 302
