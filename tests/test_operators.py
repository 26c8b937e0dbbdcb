"""Managing operators: creation with a policy-checked password, roles, deactivation, the last admin."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests import factories
from tests.conftest import TEST_PASSWORD, Auth
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Operator, OperatorRole

GOOD_PASSWORD = "a-fine-passphrase-1"


def post(client: FlaskClient, auth: Auth, path: str, data: dict):
    return client.post(path, data={**data, "csrf_token": auth.csrf_token("/admin/")})


def edit(client: FlaskClient, auth: Auth, operator: Operator, **fields):
    data = {"email": operator.email, "role": operator.role.value, "is_active": "y", **fields}
    data = {key: value for key, value in data.items() if value is not None}  # an unchecked box is absent
    return post(client, auth, f"/admin/operator/edit/?id={operator.id}", data)


def operator_named(email: str) -> Operator | None:
    return db.session.scalar(select(Operator).where(Operator.email == email))


def count_operators() -> int:
    return db.session.scalar(select(func.count()).select_from(Operator))


def test_an_admin_creates_an_operator_who_can_then_sign_in(client: FlaskClient, auth: Auth, app: Flask) -> None:
    auth.login()
    response = post(
        client,
        auth,
        "/admin/operator/new/",
        {
            "email": " new.editor@example.org ",
            "role": "editor",
            "is_active": "y",
            "password": GOOD_PASSWORD,
            "password_confirm": GOOD_PASSWORD,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    with app.app_context():
        created = operator_named("new.editor@example.org")
        assert created.role == OperatorRole.EDITOR and created.is_active
        assert created.check_password(GOOD_PASSWORD)
    newcomer = app.test_client()
    Auth(app, newcomer).login_as("new.editor@example.org", GOOD_PASSWORD)
    assert newcomer.get("/admin/tag/new/").status_code == 200


@pytest.mark.parametrize(
    "password, confirmation, reason",
    [
        ("short-1", "short-1", "at least 10 characters"),
        ("password123", "password123", "too common"),
        ("new.editor-2026", "new.editor-2026", "must not contain the email"),
        (GOOD_PASSWORD, GOOD_PASSWORD + "x", "The two passwords differ."),
        ("", "", "This field is required."),
    ],
)
def test_a_password_against_the_policy_creates_nobody(
    client: FlaskClient, auth: Auth, app: Flask, password: str, confirmation: str, reason: str
) -> None:
    auth.login()
    response = post(
        client,
        auth,
        "/admin/operator/new/",
        {
            "email": "new.editor@example.org",
            "role": "editor",
            "is_active": "y",
            "password": password,
            "password_confirm": confirmation,
        },
    )
    assert response.status_code == 200 and reason in response.get_data(as_text=True)
    with app.app_context():
        assert operator_named("new.editor@example.org") is None


def test_an_email_taken_in_another_case_creates_nobody(client: FlaskClient, auth: Auth, app: Flask) -> None:
    admin = auth.login()
    response = post(
        client,
        auth,
        "/admin/operator/new/",
        {
            "email": admin.email.upper(),
            "role": "viewer",
            "password": GOOD_PASSWORD,
            "password_confirm": GOOD_PASSWORD,
        },
    )
    assert "Another operator already has this email." in response.get_data(as_text=True)
    with app.app_context():
        assert count_operators() == 1


def test_the_edit_form_shows_the_current_role_and_no_password(client: FlaskClient, auth: Auth, app: Flask) -> None:
    auth.login()
    editor = auth.create_operator(OperatorRole.EDITOR)
    html = client.get(f"/admin/operator/edit/?id={editor.id}").get_data(as_text=True)
    assert '<option selected value="editor">Editor</option>' in html
    assert 'type="password"' not in html


def test_password_hashes_are_never_shown(client: FlaskClient, auth: Auth, app: Flask) -> None:
    admin = auth.login()
    with app.app_context():
        stored_hash = db.session.get(Operator, admin.id).password_hash
    algorithm = stored_hash.split(":", 1)[0]
    pages = ["/admin/operator/", f"/admin/operator/details/?id={admin.id}", f"/admin/operator/edit/?id={admin.id}"]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        assert stored_hash not in html and f"{algorithm}:" not in html and "password_hash" not in html.lower()
    assert client.get("/admin/operator/export/csv/").mimetype != "text/csv"


def test_an_admin_changes_a_role_and_deactivates_an_operator(client: FlaskClient, auth: Auth, app: Flask) -> None:
    auth.login()
    viewer = auth.create_operator(OperatorRole.VIEWER)
    assert edit(client, auth, viewer, role="editor").status_code == 302
    with app.app_context():
        assert db.session.get(Operator, viewer.id).role == OperatorRole.EDITOR
        viewer = db.session.get(Operator, viewer.id)
        db.session.expunge(viewer)
    assert edit(client, auth, viewer, is_active=None).status_code == 302
    with app.app_context():
        assert db.session.get(Operator, viewer.id).is_active is False


def test_deactivating_an_operator_ends_their_open_session(client: FlaskClient, auth: Auth, app: Flask) -> None:
    other_client = app.test_client()
    victim = Auth(app, other_client).login(OperatorRole.EDITOR)
    assert other_client.get("/admin/task/").status_code == 200
    auth.login()
    assert edit(client, auth, victim, is_active=None).status_code == 302
    response = other_client.get("/admin/task/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_reactivating_an_operator_through_the_form_revives_none_of_their_sessions(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    victim_client = app.test_client()
    victim = Auth(app, victim_client).login(OperatorRole.EDITOR)
    auth.login()
    assert edit(client, auth, victim, is_active=None).status_code == 302
    assert edit(client, auth, victim, is_active="y").status_code == 302
    with app.app_context():
        assert db.session.get(Operator, victim.id).is_active
    response = victim_client.get("/admin/task/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("change", [{"role": "editor"}, {"is_active": None}], ids=["demote", "deactivate"])
def test_the_last_active_admin_cannot_be_demoted_or_deactivated(
    client: FlaskClient, auth: Auth, app: Flask, change: dict
) -> None:
    admin = auth.login()
    with app.app_context():
        # An inactive admin does not count: it cannot sign in to manage anything.
        dormant = factories.make_operator(role=OperatorRole.ADMIN)
        db.session.get(Operator, dormant.id).is_active = False
        db.session.commit()
    response = edit(client, auth, admin, **change)
    assert response.status_code == 200
    assert "is the last active admin" in response.get_data(as_text=True)
    with app.app_context():
        unchanged = db.session.get(Operator, admin.id)
        assert unchanged.role == OperatorRole.ADMIN and unchanged.is_active
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    assert client.get("/admin/operator/").status_code == 200


def test_an_admin_may_step_down_when_another_admin_remains(client: FlaskClient, auth: Auth, app: Flask) -> None:
    admin = auth.login()
    with app.app_context():
        factories.make_operator(role=OperatorRole.ADMIN)
    assert edit(client, auth, admin, role="viewer").status_code == 302
    with app.app_context():
        assert db.session.get(Operator, admin.id).role == OperatorRole.VIEWER
    # A role change ends the operator's sessions, their own included: they sign in as a viewer.
    assert client.get("/admin/operator/").status_code == 302
    auth.login_as(admin.email)
    assert client.get("/admin/operator/").status_code == 403


def test_operators_are_deactivated_not_deleted(client: FlaskClient, auth: Auth, app: Flask) -> None:
    auth.login()
    viewer = auth.create_operator(OperatorRole.VIEWER)
    post(client, auth, "/admin/operator/delete/", {"id": viewer.id})
    post(client, auth, "/admin/operator/action/", {"action": "delete", "rowid": [viewer.id]})
    with app.app_context():
        assert db.session.get(Operator, viewer.id) is not None


def test_a_password_reset_sets_a_new_password_and_is_audited_without_it(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    auth.login()
    viewer = auth.create_operator(OperatorRole.VIEWER)
    path = f"/admin/operator/password/?id={viewer.id}"
    form = client.get(path).get_data(as_text=True)
    assert viewer.email in form and 'autocomplete="new-password"' in form
    weak = post(client, auth, path, {"password": "short", "password_confirm": "short"})
    assert weak.status_code == 200 and "at least 10 characters" in weak.get_data(as_text=True)
    assert post(client, auth, path, {"password": GOOD_PASSWORD, "password_confirm": GOOD_PASSWORD}).status_code == 302
    with app.app_context():
        operator = db.session.get(Operator, viewer.id)
        assert operator.check_password(GOOD_PASSWORD) and not operator.check_password(TEST_PASSWORD)
        entry = db.session.scalar(select(AuditEntry))
        assert entry.action == AuditAction.UPDATE and entry.object_id == str(viewer.id)
        assert entry.summary == f"Reset the password of “{viewer.email}”"
        assert entry.changes == {}


def test_a_password_reset_ends_the_sessions_opened_with_the_old_password(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    other_client = app.test_client()
    victim = Auth(app, other_client).login(OperatorRole.EDITOR)
    assert other_client.get("/admin/task/").status_code == 200
    auth.login()
    path = f"/admin/operator/password/?id={victim.id}"
    assert post(client, auth, path, {"password": GOOD_PASSWORD, "password_confirm": GOOD_PASSWORD}).status_code == 302
    response = other_client.get("/admin/task/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    Auth(app, other_client).login_as(victim.email, GOOD_PASSWORD)
    assert other_client.get("/admin/task/").status_code == 200


def test_resetting_the_password_of_nobody_is_a_clear_message(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    response = client.get("/admin/operator/password/?id=999", follow_redirects=True)
    assert response.status_code == 200 and "That operator does not exist." in response.get_data(as_text=True)
