"""Input no field can hold gets a clear 400 or is ignored, never a 500 and never a write."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests import factories
from tests.conftest import Auth
from webapp.admin.inputs.ids import parse_id
from webapp.extensions import db
from webapp.models import AuditEntry, OperatorRole, Task


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        (" 12 ", 12),
        ("0", None),
        ("-3", None),
        ("²", None),
        ("٣", None),
        ("abc", None),
        ("99999999999999999999", None),
        (str(2**31), None),
        (str(2**31 - 1), 2**31 - 1),
        (None, None),
    ],
)
def test_parse_id_takes_only_plain_ids_in_range(raw: object, expected: int | None) -> None:
    assert parse_id(raw) == expected


@pytest.fixture
def task_id(app: Flask) -> int:
    with app.app_context():
        return factories.make_task(title="untouched").id


@pytest.mark.parametrize(
    "path",
    [
        "/admin/task/edit/?id=99999999999999999999",
        "/admin/task/details/?id=%C2%B2",
        "/admin/user/edit/?id=abc",
        "/admin/operator/password/?id=99999999999999999999",
        "/admin/audit/history/Task/99999999999999999999",
        "/admin/task/?flt0_tag_is=%C2%B2",
        "/admin/task/export/csv/?flt0_tag_is=99999999999999999999",
        "/admin/task/?flt0_due_greater_than=9999-12-31+23:59:59",
        "/admin/task/?flt0_created_between=0001-01-01+00:00:00+to+0001-01-02+00:00:00",
    ],
)
def test_malformed_ids_and_dates_in_urls_never_fail(client: FlaskClient, auth: Auth, task_id: int, path: str) -> None:
    auth.login()
    response = client.get(path)
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]


@pytest.mark.parametrize(
    "path",
    [
        "/admin/task/?page=-5",
        "/admin/task/?page=99999999999999999999",
        "/admin/task/trash/?page=x",
        "/admin/audit/?page=100001",
        "/admin/task/ajax/lookup/?name=owner&query=a&offset=99999999999999999999",
        "/admin/task/?search=%00",
        "/admin/task/trash/?search=a%00b",
    ],
)
def test_absurd_pages_and_nul_characters_get_a_clear_400(client: FlaskClient, auth: Auth, path: str) -> None:
    auth.login()
    response = client.get(path)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "must be a whole number" in body or "NUL character" in body


def test_nul_in_the_sign_in_form_is_a_400_not_a_database_error(client: FlaskClient, auth: Auth) -> None:
    token = auth.csrf_token("/login")
    response = client.post("/login", data={"email": "a\x00@example.org", "password": "x" * 12, "csrf_token": token})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/admin/task/action/", {"action": "delete", "rowid": ["²", "99999999999999999999"]}),
        ("/admin/task/delete/", {"id": "²"}),
        ("/admin/task/trash/restore/", {"rowid": ["99999999999999999999"]}),
        ("/admin/task/bulk-tag/", {"mode": "add", "rowid": "1", "tag": "abc"}),
        ("/admin/tag/merge/", {"rowid": "1", "tag": "99999999999999999999"}),
        ("/admin/task/new/", {"title": "x", "owner": "99999999999999999999", "status": "active", "priority": "low"}),
    ],
)
def test_malformed_ids_in_posts_change_nothing(
    client: FlaskClient, auth: Auth, app: Flask, task_id: int, path: str, data: dict
) -> None:
    auth.login(OperatorRole.ADMIN)
    response = client.post(path, data={**data, "csrf_token": auth.csrf_token("/admin/")})
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    with app.app_context():
        assert db.session.scalars(select(Task.title).where(Task.live())).all() == ["untouched"]
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
