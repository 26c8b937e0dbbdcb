"""The app as a whole: it builds, serves the admin to operators, and keeps others out."""

import pytest
from flask.testing import FlaskClient

from tests import factories
from tests.conftest import Auth
from webapp import create_app
from webapp.config import ConfigError


def test_create_app_fails_clearly_on_bad_configuration() -> None:
    with pytest.raises(ConfigError, match="DB_POOL_SIZE"):
        create_app(env={"APP_ENV": "testing", "DATABASE_URL": "postgres://x@h/d", "DB_POOL_SIZE": "many"})


def test_admin_home_requires_sign_in(client: FlaskClient) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/admin/", "/admin/user/", "/admin/task/", "/admin/post/", "/admin/tag/"])
def test_signed_in_operator_sees_admin_pages(client: FlaskClient, auth: Auth, app, path: str) -> None:
    with app.app_context():
        factories.make_task(title="Visible task")
    auth.login()
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]


def test_creating_and_editing_through_the_admin_is_audited(client: FlaskClient, auth: Auth, app) -> None:
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import AuditAction, AuditEntry, Tag

    operator = auth.login()
    created = client.post(
        "/admin/tag/new/",
        data={"name": "urgent", "color": "#dc3545", "csrf_token": auth.csrf_token("/admin/tag/new/")},
    )
    assert created.status_code == 302, created.get_data(as_text=True)[:3000]
    with app.app_context():
        tag_id = db.session.scalar(select(Tag.id))
    edited = client.post(
        f"/admin/tag/edit/?id={tag_id}",
        data={
            "name": "very urgent",
            "color": "#dc3545",
            "csrf_token": auth.csrf_token(f"/admin/tag/edit/?id={tag_id}"),
        },
    )
    assert edited.status_code == 302
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [entry.action for entry in entries] == [AuditAction.CREATE, AuditAction.UPDATE]
        assert entries[0].changes == {"name": [None, "urgent"], "color": [None, "#dc3545"]}
        assert entries[1].changes == {"name": ["urgent", "very urgent"]}
        assert {entry.operator_email for entry in entries} == {operator.email}
        assert entries[0].remote_addr == "127.0.0.1"


def test_post_without_csrf_token_is_refused_and_changes_nothing(client: FlaskClient, auth: Auth, app) -> None:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Tag

    auth.login()
    response = client.post("/admin/tag/new/", data={"name": "sneaky", "color": "#000000"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Tag)) == 0


def test_favicon_is_served_publicly_and_linked_from_every_kind_of_page(client: FlaskClient, auth: Auth) -> None:
    with client.get("/favicon.ico") as icon:  # a file response: closed, or its file stays open
        assert icon.status_code == 200
        assert icon.mimetype == "image/svg+xml"
        assert icon.get_data(as_text=True).lstrip().startswith("<svg")
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/login").get_data(as_text=True)
    auth.login()
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/admin/task/").get_data(as_text=True)


def test_admin_pages_offer_sign_out_which_ends_the_session(client: FlaskClient, auth: Auth) -> None:
    operator = auth.login()
    page = client.get("/admin/").get_data(as_text=True)
    assert 'action="/logout"' in page and "Sign out" in page and operator.email in page
    token = auth.csrf_token("/admin/")
    signed_out = client.post("/logout", data={"csrf_token": token})
    assert signed_out.status_code == 302 and signed_out.headers["Location"] == "/login"
    assert client.get("/admin/").status_code == 302
