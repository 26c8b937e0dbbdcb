"""Signing in and out: credentials, where the operator lands, throttling, deactivation."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests import factories
from tests.conftest import TEST_PASSWORD, AppFactory, Auth
from webapp.auth import throttle
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import LoginFailure, Operator, OperatorRole

LOCKED = "Too many failed sign-in attempts"


def sign_in(client: FlaskClient, auth: Auth, email: str, password: str, next_url: str | None = None):
    path = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(path, data={"email": email, "password": password, "csrf_token": auth.csrf_token(path)})


def page(response) -> str:
    return response.get_data(as_text=True)


def without(html: str, email: str) -> str:
    """The page minus what legitimately differs: the typed email and the (timestamped) CSRF token."""
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html).replace(email, "")


def test_login_page_is_a_styled_form_with_a_csrf_token(client: FlaskClient, auth: Auth) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    html = page(response)
    assert "bootstrap.min.css" in html and 'name="csrf_token"' in html
    assert 'autocomplete="current-password"' in html


def test_correct_credentials_sign_in_and_record_the_time(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.create_operator(OperatorRole.EDITOR)
    before = utcnow()
    response = sign_in(client, auth, operator.email.upper(), TEST_PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    with app.app_context():
        assert db.session.get(Operator, operator.id).last_login_at >= before


@pytest.mark.parametrize(
    "target, landing",
    [
        ("/admin/task/", "/admin/task/"),
        ("https://evil.example.com/", "/admin/"),
        ("//evil.example.com/", "/admin/"),
        ("/\\evil.example.com", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
    ],
)
def test_next_is_followed_only_when_it_stays_on_this_site(
    client: FlaskClient, auth: Auth, target: str, landing: str
) -> None:
    operator = auth.create_operator()
    response = sign_in(client, auth, operator.email, TEST_PASSWORD, next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == landing


def test_wrong_password_and_unknown_email_get_the_same_answer(client: FlaskClient, auth: Auth) -> None:
    operator = auth.create_operator()
    wrong_password = sign_in(client, auth, operator.email, "not-the-password")
    unknown_email = sign_in(client, auth, "nobody@example.org", "not-the-password")
    assert wrong_password.status_code == unknown_email.status_code == 200
    assert "Invalid email or password." in page(wrong_password)
    assert without(page(wrong_password), operator.email) == without(page(unknown_email), "nobody@example.org")
    assert client.get("/admin/").status_code == 302


def test_an_unknown_email_still_costs_a_password_hash(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp.auth import views

    checked: list[str] = []
    real_check = views.check_password_hash
    monkeypatch.setattr(views, "check_password_hash", lambda hash_, pw: checked.append(hash_) or real_check(hash_, pw))
    with app.app_context():
        assert views.authenticate("nobody@example.org", "whatever-password") is None
    assert len(checked) == 1 and checked[0].startswith(("scrypt:", "pbkdf2:"))


def test_an_inactive_operator_cannot_sign_in(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.create_operator()
    with app.app_context():
        db.session.get(Operator, operator.id).is_active = False
        db.session.commit()
    response = sign_in(client, auth, operator.email, TEST_PASSWORD)
    assert "Invalid email or password." in page(response)
    assert client.get("/admin/").status_code == 302


def test_deactivation_ends_an_existing_session_on_the_next_request(client: FlaskClient, auth: Auth, app: Flask) -> None:
    operator = auth.login(OperatorRole.EDITOR)
    assert client.get("/admin/task/").status_code == 200
    with app.app_context():
        db.session.get(Operator, operator.id).is_active = False
        db.session.commit()
    response = client.get("/admin/task/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    assert client.get("/admin/task/", headers={"Accept": "application/json"}).status_code == 401


def test_a_role_change_ends_the_session_and_applies_from_the_next_sign_in(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    operator = auth.login(OperatorRole.EDITOR)
    assert client.get("/admin/tag/new/").status_code == 200
    with app.app_context():
        db.session.get(Operator, operator.id).role = OperatorRole.VIEWER
        db.session.commit()
    response = client.get("/admin/tag/new/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    auth.login_as(operator.email)
    assert client.get("/admin/tag/new/").status_code == 403


def test_logout_is_a_post_that_ends_the_session(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    assert client.get("/logout").status_code == 405
    response = client.post("/logout", data={"csrf_token": auth.csrf_token("/admin/")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/admin/").status_code == 302


def test_admin_pages_offer_a_sign_out_button(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login(OperatorRole.VIEWER)
    html = page(client.get("/admin/"))
    assert 'action="/logout"' in html and operator.email in html and "Viewer" in html


# Throttling ---------------------------------------------------------------------------------


@pytest.fixture
def strict_throttle(app: Flask):
    """Three failures per account and address, five per address and seven per account within a
    minute lock for ten minutes."""
    settings = {
        "LOGIN_MAX_FAILURES": 3,
        "LOGIN_MAX_FAILURES_PER_ADDRESS": 5,
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": 7,
        "LOGIN_FAILURE_WINDOW": 60,
        "LOGIN_LOCKOUT": 600,
    }
    saved = {name: app.config[name] for name in settings}
    app.config.update(settings)
    yield settings
    app.config.update(saved)


def fail(client: FlaskClient, auth: Auth, email: str, times: int, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        sign_in_from(client, auth, address, email, "wrong-password-here")


def sign_in_from(client: FlaskClient, auth: Auth, address: str, email: str, password: str = TEST_PASSWORD):
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": auth.csrf_token()},
        environ_base={"REMOTE_ADDR": address},
    )


def test_an_attacker_guessing_elsewhere_does_not_lock_the_operator_out(
    client: FlaskClient, auth: Auth, strict_throttle: dict
) -> None:
    """Knowing an operator's email is not enough to keep them out: the guesser locks only itself."""
    operator = auth.create_operator()
    fail(client, auth, operator.email, 5, address="203.0.113.9")
    assert sign_in_from(client, auth, "203.0.113.9", operator.email).status_code == 429
    assert sign_in_from(client, auth, "198.51.100.4", operator.email).status_code == 302


def test_the_operator_signing_in_does_not_lift_the_lock_of_an_address_guessing_elsewhere(
    app: Flask, client: FlaskClient, auth: Auth, strict_throttle: dict
) -> None:
    """A success clears the failures of the address it came from only: were the operator's daily
    sign-in to clear every address, each one would give the guesser a fresh budget."""
    operator = auth.create_operator()
    fail(client, auth, operator.email, 5, address="203.0.113.9")
    assert sign_in_from(client, auth, "198.51.100.4", operator.email).status_code == 302
    with app.test_client() as guesser:
        assert sign_in_from(guesser, Auth(app, guesser), "203.0.113.9", operator.email).status_code == 429


def test_guesses_spread_over_many_addresses_lock_the_account_at_the_looser_limit(
    client: FlaskClient, auth: Auth, strict_throttle: dict
) -> None:
    operator = auth.create_operator()
    for n in range(3):  # 3 + 3 + 1 = 7 failures, none of the addresses past its own limit
        fail(client, auth, operator.email, 3 if n < 2 else 1, address=f"203.0.113.{n + 1}")
    assert sign_in_from(client, auth, "198.51.100.4", operator.email).status_code == 429
    assert sign_in_from(client, auth, "198.51.100.5", "someone.else@example.org", "x-wrong").status_code == 200


def test_ipv6_clients_are_counted_by_their_64_bit_network(
    client: FlaskClient, auth: Auth, strict_throttle: dict
) -> None:
    operator = auth.create_operator()
    for n in range(3):
        fail(client, auth, operator.email, 1, address=f"2001:db8:1:2::{n + 1:x}")
    assert sign_in_from(client, auth, "2001:db8:1:2:ffff::1", operator.email).status_code == 429
    assert sign_in_from(client, auth, "2001:db8:1:3::1", operator.email).status_code == 302


def test_client_networks(app: Flask) -> None:
    assert throttle.client_network("192.0.2.7") == "192.0.2.7"
    assert throttle.client_network("::ffff:192.0.2.7") == "192.0.2.7"
    assert throttle.client_network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert throttle.client_network("not an address") == "not an address"


def test_repeated_failures_lock_the_account_even_with_the_right_password(
    client: FlaskClient, auth: Auth, strict_throttle: dict
) -> None:
    operator = auth.create_operator()
    fail(client, auth, operator.email, 2)
    third = sign_in(client, auth, operator.email, "wrong-password-here")
    assert third.status_code == 429 and LOCKED in page(third) and "Try again in 10 minutes" in page(third)
    right = sign_in(client, auth, operator.email, TEST_PASSWORD)
    assert right.status_code == 429 and LOCKED in page(right)
    assert client.get("/admin/").status_code == 302


def test_an_unknown_email_is_locked_out_exactly_like_a_real_one(
    client: FlaskClient, auth: Auth, strict_throttle: dict
) -> None:
    operator = auth.create_operator()
    fail(client, auth, operator.email, 3)
    fail(client, auth, "nobody@example.org", 3)
    known = sign_in(client, auth, operator.email, "wrong-password-here")
    unknown = sign_in(client, auth, "nobody@example.org", "wrong-password-here")
    assert known.status_code == unknown.status_code == 429
    assert without(page(known), operator.email) == without(page(unknown), "nobody@example.org")


def test_one_address_trying_many_accounts_is_locked_out(client: FlaskClient, auth: Auth, strict_throttle: dict) -> None:
    victim = auth.create_operator()
    for n in range(5):
        sign_in(client, auth, f"guess{n}@example.org", "wrong-password-here")
    response = sign_in(client, auth, victim.email, TEST_PASSWORD)
    assert response.status_code == 429
    other_address = client.post(
        "/login",
        data={"email": victim.email, "password": TEST_PASSWORD, "csrf_token": auth.csrf_token()},
        environ_base={"REMOTE_ADDR": "10.0.0.7"},
    )
    assert other_address.status_code == 302


def test_a_successful_sign_in_clears_the_account_failures(
    client: FlaskClient, auth: Auth, app: Flask, strict_throttle: dict
) -> None:
    operator = auth.create_operator()
    fail(client, auth, operator.email, 2)
    assert sign_in(client, auth, operator.email, TEST_PASSWORD).status_code == 302
    client.post("/logout", data={"csrf_token": auth.csrf_token("/admin/")})
    fail(client, auth, operator.email, 2)
    assert sign_in(client, auth, operator.email, TEST_PASSWORD).status_code == 302


def test_the_lock_expires_after_the_lockout(client: FlaskClient, auth: Auth, app: Flask, strict_throttle: dict) -> None:
    operator = auth.create_operator()
    fail(client, auth, operator.email, 3)
    with app.app_context():
        key = throttle.pair_key(operator.email, "127.0.0.1")
        assert throttle.locked_until([key]) is not None
        assert throttle.locked_until([key], now=utcnow() + timedelta(seconds=601)) is None
        # Move the failures back in time, as if eleven minutes had passed.
        for failure in db.session.scalars(select(LoginFailure)):
            failure.created_at -= timedelta(minutes=11)
        db.session.commit()
    assert sign_in(client, auth, operator.email, TEST_PASSWORD).status_code == 302


def test_failures_spread_wider_than_the_window_do_not_lock(app: Flask, strict_throttle: dict) -> None:
    with app.app_context():
        key = throttle.pair_key("someone@example.org", "127.0.0.1")
        start = utcnow() - timedelta(minutes=5)
        for minutes in (0, 2, 4):  # three failures, but never three within one minute
            throttle.record_failure([key], now=start + timedelta(minutes=minutes))
        assert throttle.locked_until([key]) is None


def test_old_failures_are_pruned_when_a_new_one_is_recorded(app: Flask, strict_throttle: dict) -> None:
    with app.app_context():
        key = throttle.account_key("someone@example.org")
        throttle.record_failure([key], now=utcnow() - timedelta(hours=2))
        throttle.record_failure([key])
        assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 1


def test_the_throttle_stores_no_email_or_address_in_clear(client: FlaskClient, auth: Auth, app: Flask) -> None:
    sign_in(client, auth, "someone@example.org", "wrong-password-here")
    with app.app_context():
        keys = db.session.scalars(select(LoginFailure.key)).all()
    assert len(keys) == 3  # the pair, the address, the account
    assert not any("someone" in key or "127.0.0.1" in key for key in keys)
    # Nor their plain digests, which hashing every IPv4 address (or a list of emails) would reverse.
    plain = {hashlib.sha256(value.encode()).hexdigest() for value in ("someone@example.org", "127.0.0.1")}
    assert not any(digest[:32] in key for digest in plain for key in keys)


def test_lockout_is_shared_by_app_instances_on_the_same_database(
    app: Flask, auth: Auth, make_app: AppFactory, strict_throttle: dict
) -> None:
    """Two apps stand for two gunicorn workers (or hosts): failures on one lock the other."""
    operator = auth.create_operator()
    other = make_app(LOGIN_MAX_FAILURES="3", LOGIN_LOCKOUT="600")
    first, second = app.test_client(), other.test_client()
    fail(first, Auth(app, first), operator.email, 2)
    fail(second, Auth(other, second), operator.email, 1)
    for client, instance in ((first, app), (second, other)):
        response = sign_in(client, Auth(instance, client), operator.email, TEST_PASSWORD)
        assert response.status_code == 429, instance


def test_an_admin_password_reset_clears_the_lock(
    client: FlaskClient, auth: Auth, app: Flask, strict_throttle: dict
) -> None:
    with app.app_context():
        locked = factories.make_operator(role=OperatorRole.VIEWER)
        locked_email = locked.email
    fail(client, auth, locked_email, 3)
    other_client = app.test_client()
    admin_auth = Auth(app, other_client)
    admin_auth.login(OperatorRole.ADMIN)
    path = f"/admin/operator/password/?id={locked.id}"
    response = other_client.post(
        path,
        data={
            "password": "a-fresh-passphrase-42",
            "password_confirm": "a-fresh-passphrase-42",
            "csrf_token": admin_auth.csrf_token(path),
        },
    )
    assert response.status_code == 302
    assert sign_in(client, auth, locked_email, "a-fresh-passphrase-42").status_code == 302


def test_parallel_guesses_try_no_more_passwords_than_the_limit(app: Flask, auth: Auth, strict_throttle: dict) -> None:
    operator = auth.create_operator()
    outcomes: list[int] = []

    def guess() -> None:
        client = app.test_client()
        outcomes.append(sign_in(client, Auth(app, client), operator.email, "wrong-password-here").status_code)

    threads = [threading.Thread(target=guess) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Every attempt let through has its password checked and records one failure; attempts that
    # meet the lock record none. Exactly the limit get through (the last of them is answered with
    # the lockout, as it locks the account).
    limit = strict_throttle["LOGIN_MAX_FAILURES"]
    with app.app_context():
        checked = db.session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.key == throttle.account_key(operator.email).key)
        )
    assert checked == limit
    assert sorted(outcomes) == [200] * (limit - 1) + [429] * (8 - limit + 1)
