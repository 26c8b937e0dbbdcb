"""Server-side sessions: a cookie is only as good as the session the server still holds for it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests import factories
from tests.admin_support import get_as_deployed, signed_in_on_a_one_connection_pool
from tests.conftest import TEST_PASSWORD, AppFactory, Auth, csrf_token_from, require_postgres
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Operator, OperatorRole, OperatorSession, Task

COOKIE = "session"


def copy_of_cookie(source: FlaskClient, app: Flask) -> FlaskClient:
    """Another browser holding a copy of ``source``'s session cookie, as a thief would."""
    cookie = source.get_cookie(COOKIE)
    assert cookie is not None, "the client holds no session cookie"
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value)
    return thief


def is_signed_in(client: FlaskClient) -> bool:
    response = client.get("/admin/task/")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def sign_out(client: FlaskClient, auth: Auth) -> None:
    response = client.post("/logout", data={"csrf_token": auth.csrf_token("/admin/")})
    assert response.status_code == 302


def sessions_of(operator_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(OperatorSession).where(OperatorSession.operator_id == operator_id)
    )


def change_operator(app: Flask, operator_id: int, **values: object) -> None:
    with app.app_context():
        operator = db.session.get(Operator, operator_id)
        for name, value in values.items():
            setattr(operator, name, value)
        db.session.commit()


def test_a_cookie_saved_before_sign_out_no_longer_reads_pages(client: FlaskClient, auth: Auth, app: Flask) -> None:
    auth.login(OperatorRole.EDITOR)
    saved = copy_of_cookie(client, app)
    assert is_signed_in(saved)
    sign_out(client, auth)
    assert not is_signed_in(saved)
    assert saved.get("/admin/task/", headers={"Accept": "application/json"}).status_code == 401


def test_a_cookie_saved_before_sign_out_no_longer_writes(client: FlaskClient, auth: Auth, app: Flask) -> None:
    auth.login(OperatorRole.EDITOR)
    with app.app_context():
        owner_id = factories.make_user().id
    saved = copy_of_cookie(client, app)
    task = {"title": "Written", "owner": owner_id, "status": "active", "priority": "low"}
    token = Auth(app, saved).csrf_token("/admin/task/new/")
    assert saved.post("/admin/task/new/", data={**task, "csrf_token": token}).status_code == 302
    sign_out(client, auth)
    response = saved.post("/admin/task/new/", data={**task, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Task)) == 1


def test_sign_out_ends_only_the_session_it_is_sent_from(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    laptop = app.test_client()
    Auth(app, laptop).login_as(operator.email)
    sign_out(client, auth)
    assert is_signed_in(laptop)


def test_sign_out_everywhere_ends_every_session_of_the_operator(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    laptop = app.test_client()
    Auth(app, laptop).login_as(operator.email)
    someone_else = app.test_client()
    Auth(app, someone_else).login(OperatorRole.VIEWER)
    response = client.post("/logout/everywhere", data={"csrf_token": auth.csrf_token("/account")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert not is_signed_in(client) and not is_signed_in(laptop)
    assert is_signed_in(someone_else)
    with app.app_context():
        assert sessions_of(operator.id) == 0


@pytest.mark.parametrize(
    "change",
    [{"is_active": False}, {"role": OperatorRole.VIEWER}, {"password_hash": "pbkdf2:sha256:1$x$y"}],
    ids=["deactivated", "role-changed", "password-changed"],
)
def test_changing_who_an_operator_is_ends_their_sessions(
    client: FlaskClient, auth: Auth, app: Flask, change: dict
) -> None:
    operator = auth.login(OperatorRole.EDITOR)
    change_operator(app, operator.id, **change)
    assert not is_signed_in(client)
    with app.app_context():
        assert sessions_of(operator.id) == 0


def test_reactivating_an_operator_does_not_bring_old_sessions_back(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.login(OperatorRole.EDITOR)
    stolen = copy_of_cookie(client, app)
    change_operator(app, operator.id, is_active=False)
    change_operator(app, operator.id, is_active=True)
    assert not is_signed_in(stolen) and not is_signed_in(client)
    Auth(app, client).login_as(operator.email)
    assert is_signed_in(client) and not is_signed_in(stolen)


def test_an_unrelated_edit_of_an_operator_keeps_their_sessions(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.login(OperatorRole.EDITOR)
    change_operator(app, operator.id, email="renamed@example.org", role=OperatorRole.EDITOR)
    assert is_signed_in(client)


def age_sessions(app: Flask, operator_id: int, created: timedelta, last_seen: timedelta) -> None:
    """Move an operator's sessions into the past, as if time had passed since they were used."""
    with app.app_context():
        for stored in db.session.scalars(select(OperatorSession).where(OperatorSession.operator_id == operator_id)):
            stored.created_at -= created
            stored.last_seen_at -= last_seen
        db.session.commit()


def test_an_idle_session_expires(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    age_sessions(app, operator.id, created=timedelta(minutes=59), last_seen=timedelta(minutes=59))
    assert is_signed_in(client)  # which counts as use: idle since now
    age_sessions(app, operator.id, created=timedelta(minutes=61), last_seen=timedelta(minutes=61))
    assert not is_signed_in(client)
    with app.app_context():
        assert sessions_of(operator.id) == 0


def test_use_keeps_a_session_alive_but_not_past_its_lifetime(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    age_sessions(app, operator.id, created=timedelta(hours=11, minutes=50), last_seen=timedelta(minutes=50))
    assert is_signed_in(client)  # seen again: the idle clock restarts
    age_sessions(app, operator.id, created=timedelta(minutes=5), last_seen=timedelta(minutes=5))
    assert is_signed_in(client)
    age_sessions(app, operator.id, created=timedelta(minutes=6), last_seen=timedelta(0))
    assert not is_signed_in(client)  # 12 hours and a minute after sign-in, however busy


def test_the_lifetimes_follow_the_settings(client: FlaskClient, auth: Auth, app: Flask) -> None:
    saved = app.config["SESSION_IDLE_MINUTES"], app.config["SESSION_MAX_HOURS"]
    app.config.update(SESSION_IDLE_MINUTES=5, SESSION_MAX_HOURS=1)
    try:
        operator = auth.login(OperatorRole.VIEWER)
        age_sessions(app, operator.id, created=timedelta(minutes=6), last_seen=timedelta(minutes=6))
        assert not is_signed_in(client)
        auth.login_as(operator.email)
        age_sessions(app, operator.id, created=timedelta(minutes=61), last_seen=timedelta(0))
        assert not is_signed_in(client)
    finally:
        app.config.update(SESSION_IDLE_MINUTES=saved[0], SESSION_MAX_HOURS=saved[1])


def test_checking_a_session_costs_one_statement_and_writes_at_most_once_a_minute(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    operator = auth.login(OperatorRole.VIEWER)

    def statements_of_a_page() -> list[str]:
        response, statements = get_as_deployed(client, "/admin/")
        assert response.status_code == 200
        return statements

    statements = statements_of_a_page()
    lookups = [statement for statement in statements if "operator_sessions" in statement]
    assert len(lookups) == 1 and "JOIN operators" in lookups[0], statements
    assert not [statement for statement in statements if statement.lstrip().upper().startswith("UPDATE")]
    age_sessions(app, operator.id, created=timedelta(minutes=2), last_seen=timedelta(minutes=2))
    touched = [statement for statement in statements_of_a_page() if "operator_sessions" in statement]
    assert len(touched) == 2 and touched[1].startswith("UPDATE operator_sessions SET last_seen_at")
    assert not [statement for statement in statements_of_a_page() if statement.lstrip().upper().startswith("UPDATE")]


def test_the_table_holds_no_usable_token(client: FlaskClient, auth: Auth, app: Flask) -> None:
    auth.login(OperatorRole.VIEWER)
    cookie = client.get_cookie(COOKIE).value
    with app.app_context():
        stored = db.session.scalars(select(OperatorSession.id)).all()
    assert len(stored) == 1
    with app.test_request_context():
        token = app.session_interface.get_signing_serializer(app).loads(cookie)["session_token"]
    assert token not in stored[0] and stored[0] not in cookie


def end_sessions(client: FlaskClient, auth: Auth, *operator_ids: int):
    return client.post(
        "/admin/operator/action/",
        data={"action": "end_sessions", "rowid": list(operator_ids), "csrf_token": auth.csrf_token("/admin/operator/")},
    )


def test_an_admin_ends_another_operators_sessions_and_it_is_audited(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    auth.login(OperatorRole.ADMIN)
    victim_client = app.test_client()
    victim = Auth(app, victim_client).login(OperatorRole.EDITOR)
    bystander_client = app.test_client()
    Auth(app, bystander_client).login(OperatorRole.EDITOR)
    assert "End sessions" in client.get("/admin/operator/").get_data(as_text=True)
    response = end_sessions(client, auth, victim.id)
    assert response.status_code == 302
    assert not is_signed_in(victim_client) and is_signed_in(bystander_client) and is_signed_in(client)
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry))
        assert entry.action == AuditAction.UPDATE and entry.object_id == str(victim.id)
        assert entry.summary == f"Ended the sessions of “{victim.email}”"
    Auth(app, victim_client).login_as(victim.email, TEST_PASSWORD)
    assert is_signed_in(victim_client)


def test_only_admins_end_other_operators_sessions(client: FlaskClient, auth: Auth, app: Flask) -> None:
    victim_client = app.test_client()
    victim = Auth(app, victim_client).login(OperatorRole.EDITOR)
    auth.login(OperatorRole.EDITOR)
    token = auth.csrf_token("/admin/")
    response = client.post(
        "/admin/operator/action/", data={"action": "end_sessions", "rowid": [victim.id], "csrf_token": token}
    )
    assert response.status_code == 403
    assert is_signed_in(victim_client)


@pytest.mark.postgres
def test_keeping_a_session_needs_no_second_connection(make_app: AppFactory, app: Flask) -> None:
    """The once-a-minute touch and the sign-out write go on the request's own connection: with a
    pool of one, a second checkout would wait out the pool timeout and answer 503."""
    require_postgres()  # SQLite has no pool sizing
    auth = signed_in_on_a_one_connection_pool(make_app)
    with auth.app.app_context():
        operator_id = db.session.scalars(select(OperatorSession.operator_id)).one()
    age_sessions(auth.app, operator_id, created=timedelta(minutes=2), last_seen=timedelta(minutes=2))

    assert auth.client.get("/admin/").status_code == 200
    with auth.app.app_context():
        [last_seen] = db.session.scalars(select(OperatorSession.last_seen_at)).all()
    assert utcnow() - last_seen < timedelta(minutes=1), "the touch was written"
    signed_out = auth.client.post("/logout", data={"csrf_token": csrf_token_from(auth.client.get("/admin/").text)})
    assert signed_out.status_code == 302
    with auth.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OperatorSession)) == 0
