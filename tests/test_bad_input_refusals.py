"""Bad input is answered before anything is written: return addresses, pickers, metadata, tags, versions."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import count_rows, post_form, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditEntry, Tag, Task

pytestmark = pytest.mark.usefixtures("app_context")

UNSAFE_TARGETS = [
    "/admin/task/\r\nSet-Cookie: x=1",
    "/admin/task/\x01",
    "/admin/task/\x7f",
    "https://evil.example.net/admin/",
    "//evil.example.net/admin/",
    "/\\evil.example.net/admin/",
    "\\\\evil.example.net",
    "javascript:alert(1)",
    "/admin/../../elsewhere",
    "/admin/%2e%2e/%2E%2e/elsewhere",
    "/admin/..%2F..%2Felsewhere",
    "/admin/%2E%2E%5Celsewhere",
    "admin/task/?from=relative",
    "/admin/task/ x",
    "/admin/tâche/",
]


def task_form(task: Task | None = None, **fields: Any) -> dict[str, Any]:
    form = {
        "title": task.title if task else "New task",
        "owner": str(task.owner_id if task else factories.make_user().id),
        "status": "active",
        "priority": "low",
        "tags": "",
        "due_at": "",
        "description": "",
        "metadata_": "{}",
    }
    if task is not None:
        form["version"] = str(task.version)
    return {**form, **fields}


@pytest.mark.parametrize("target", UNSAFE_TARGETS)
def test_a_create_link_with_an_unsafe_return_address_saves_once_and_returns_to_the_list(
    client: FlaskClient, auth: Auth, target: str
) -> None:
    auth.login()
    response = post_form(client, auth, "/admin/task/new/", task_form(url=target), token_page="/admin/task/new/")
    assert response.status_code == 302, text_of(response)[:300]
    assert response.headers["Location"] == "/admin/task/"
    assert count_rows(Task) == 1


@pytest.mark.parametrize("target", UNSAFE_TARGETS)
def test_unsafe_return_addresses_never_reach_a_page_or_a_redirect(client: FlaskClient, auth: Auth, target: str) -> None:
    task = factories.make_task()
    auth.login()
    edit = client.get("/admin/task/edit/", query_string={"id": task.id, "url": target})
    assert edit.status_code == 200
    assert 'href="/admin/task/"' in text_of(edit)
    assert target not in text_of(edit)
    moved = post_form(client, auth, "/admin/task/delete/", {"id": task.id, "url": target}, token_page="/admin/task/")
    assert moved.headers["Location"] == "/admin/task/"
    restored = post_form(
        client, auth, "/admin/task/trash/restore/", {"rowid": task.id, "url": target}, token_page="/admin/task/"
    )
    assert restored.headers["Location"] == "/admin/task/trash/"
    bulk = post_form(
        client, auth, "/admin/task/bulk-tag/", {"mode": "add", "rowid": "", "url": target}, token_page="/admin/task/"
    )
    assert bulk.headers["Location"] == "/admin/task/"


@pytest.mark.parametrize("target", UNSAFE_TARGETS)
def test_sign_in_with_an_unsafe_next_goes_home(client: FlaskClient, auth: Auth, target: str) -> None:
    operator = auth.create_operator()
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": operator.email, "password": "correct-horse-battery-staple", "csrf_token": auth.csrf_token()},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_a_safe_return_address_is_followed(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    target = "/admin/task/?search=a%20b&page=1"
    response = post_form(client, auth, "/admin/task/new/", task_form(url=target), token_page="/admin/task/new/")
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "query",
    [
        {"name": "owner", "query": "a", "limit": "-1"},
        {"name": "owner", "query": "a", "limit": "0"},
        {"name": "owner", "query": "a", "limit": "99999999999999999999"},
        {"name": "owner", "query": "a", "limit": "x"},
        {"name": "owner"},
        {"name": "tags", "query": "a" * 5000},
        {"name": "tags", "query": "%_\\"},
    ],
)
def test_picker_lookups_with_odd_limits_and_queries_answer_a_short_list(
    client: FlaskClient, auth: Auth, query: dict[str, str]
) -> None:
    factories.make_user(email="alice@example.org")
    auth.login()
    response = client.get("/admin/task/ajax/lookup/", query_string=query)
    assert response.status_code == 200, text_of(response)[:300]
    assert isinstance(response.get_json(), list) and len(response.get_json()) <= 50


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ('{"a": NaN}', "NaN"),
        ('{"a": Infinity}', "Infinity"),
        ('{"a": -Infinity}', "Infinity"),
        ('{"a": 1e999}', "too large"),
        ('{"a": "x\\u0000y"}', "NUL"),
        ('{"a\\u0000": 1}', "NUL"),
        ('{"a": "\\ud800"}', "surrogate"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "Nested"),
        ('{"a": ' + "[" * 50 + "]" * 50 + "}", "Nested"),
        ('{"a": "' + "x" * 70_000 + '"}', "Too long"),
    ],
)
def test_metadata_the_database_cannot_store_is_refused_at_its_field(
    client: FlaskClient, auth: Auth, metadata: str, message: str
) -> None:
    task = factories.make_task(title="Before")
    auth.login()
    response = post_form(
        client, auth, f"/admin/task/edit/?id={task.id}", task_form(task, title="After", metadata_=metadata)
    )
    html = text_of(response)
    assert response.status_code == 200, html[:300]
    assert "check <a" in html and ">Metadata</a>" in html
    assert message in html
    db.session.rollback()
    assert task.title == "Before" and count_rows(AuditEntry) == 0


@pytest.mark.parametrize("tags", ["abc", "99999999999999999999", "{kept},abc", "{kept},424242", "²"])
def test_crafted_tag_ids_are_not_a_valid_choice_and_change_nothing(client: FlaskClient, auth: Auth, tags: str) -> None:
    kept = factories.make_tag(name="kept")
    task = factories.make_task(title="Before", tags=[kept])
    post = factories.make_post(title="Before", tags=[kept])
    auth.login()
    for path, form in (
        (f"/admin/task/edit/?id={task.id}", task_form(task, title="After")),
        (
            f"/admin/post/edit/?id={post.id}",
            {
                "title": "After",
                "author": str(post.author_id),
                "status": post.status.value,
                "version": str(post.version),
            },
        ),
    ):
        response = post_form(client, auth, path, {**form, "tags": tags.format(kept=kept.id)})
        html = text_of(response)
        assert response.status_code == 200, html[:300]
        assert "Not a valid choice" in html and ">Tags</a>" in html
    db.session.rollback()
    assert task.title == "Before" and [tag.name for tag in task.tags] == ["kept"]
    assert post.title == "Before" and [tag.name for tag in post.tags] == ["kept"]
    assert count_rows(AuditEntry) == 0


def test_clearing_every_tag_still_works(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(tags=[factories.make_tag(name="gone")])
    auth.login()
    response = post_form(client, auth, f"/admin/task/edit/?id={task.id}", task_form(task, tags=""))
    assert response.status_code == 302, text_of(response)[:300]
    db.session.rollback()
    assert task.tags == [] and count_rows(Tag) == 1


@pytest.mark.parametrize("version", [None, "", "abc", "-1", "1.0", "99999999999999999999", "١"])
def test_an_edit_without_a_readable_version_is_refused(client: FlaskClient, auth: Auth, version: str | None) -> None:
    task = factories.make_task(title="Before")
    auth.login()
    form = task_form(task, title="After")
    if version is None:
        del form["version"]
    else:
        form["version"] = version
    response = post_form(client, auth, f"/admin/task/edit/?id={task.id}", form)
    html = text_of(response)
    assert response.status_code == 200, html[:300]
    assert "not saved" in html and "Reload" in html
    db.session.rollback()
    assert task.title == "Before" and count_rows(AuditEntry) == 0
