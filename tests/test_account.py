"""An operator's own account page: changing their password, which ends their other sessions."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import TEST_PASSWORD, Auth
from tests.test_sessions import copy_of_cookie, is_signed_in
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Operator, OperatorRole

NEW_PASSWORD = "a-brand-new-passphrase-7"


def change_password(client: FlaskClient, auth: Auth, current: str, new: str, confirm: str | None = None):
    return client.post(
        "/account",
        data={
            "current_password": current,
            "password": new,
            "password_confirm": new if confirm is None else confirm,
            "csrf_token": auth.csrf_token("/account"),
        },
    )


def password_is(app: Flask, operator_id: int, password: str) -> bool:
    with app.app_context():
        return db.session.get(Operator, operator_id).check_password(password)


def test_the_account_page_is_linked_from_every_admin_page(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    assert 'href="/account"' in client.get("/admin/").get_data(as_text=True)
    html = client.get("/account").get_data(as_text=True)
    assert 'autocomplete="current-password"' in html and 'action="/logout/everywhere"' in html


def test_the_account_page_needs_a_signed_in_operator(client: FlaskClient) -> None:
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/account")


def test_changing_ones_password_keeps_this_browser_and_ends_the_others(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    laptop = app.test_client()
    Auth(app, laptop).login_as(operator.email)
    before = copy_of_cookie(client, app)
    response = change_password(client, auth, TEST_PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "every other session of yours has ended" in client.get("/account").get_data(as_text=True)
    assert is_signed_in(client)
    assert not is_signed_in(laptop) and not is_signed_in(before)  # this browser's old cookie too
    assert password_is(app, operator.id, NEW_PASSWORD)
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry))
        assert entry.action == AuditAction.UPDATE and entry.operator_id == operator.id
        assert entry.object_id == str(operator.id) and entry.changes == {}
    Auth(app, laptop).login_as(operator.email, NEW_PASSWORD)
    assert is_signed_in(laptop)


@pytest.mark.parametrize(
    "current, new, confirm, field, message",
    [
        ("not-my-password", NEW_PASSWORD, None, "current_password", "This is not your current password."),
        ("", NEW_PASSWORD, None, "current_password", "This field is required."),
        (TEST_PASSWORD, "short-1", None, "password", "at least 10 characters"),
        (TEST_PASSWORD, "password123", None, "password", "too common"),
        (TEST_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "password_confirm", "The two passwords differ."),
    ],
)
def test_a_refused_change_names_the_field_and_changes_nothing(
    client: FlaskClient, auth: Auth, app: Flask, current: str, new: str, confirm: str | None, field: str, message: str
) -> None:
    operator = auth.login(OperatorRole.EDITOR)
    laptop = app.test_client()
    Auth(app, laptop).login_as(operator.email)
    response = change_password(client, auth, current, new, confirm)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and message in html
    assert f'id="{field}"' in html.split(message)[0].rsplit("form-group", 1)[-1]
    assert password_is(app, operator.id, TEST_PASSWORD)
    assert is_signed_in(client) and is_signed_in(laptop)


def test_the_new_password_must_not_contain_the_email(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.login(OperatorRole.EDITOR, email="margaret.h@example.org")
    response = change_password(client, auth, TEST_PASSWORD, "margaret.h-2026-x")
    assert "must not contain the email" in response.get_data(as_text=True)
    assert password_is(app, operator.id, TEST_PASSWORD)


def test_guessing_the_current_password_is_throttled_like_signing_in(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    operator = auth.login(OperatorRole.EDITOR)
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit - 1):
        assert change_password(client, auth, "a-wrong-guess", NEW_PASSWORD).status_code == 200
    assert change_password(client, auth, "a-wrong-guess", NEW_PASSWORD).status_code == 429
    locked = change_password(client, auth, TEST_PASSWORD, NEW_PASSWORD)
    assert locked.status_code == 429 and "Too many failed sign-in attempts" in locked.get_data(as_text=True)
    assert password_is(app, operator.id, TEST_PASSWORD)
