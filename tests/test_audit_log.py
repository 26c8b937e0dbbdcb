"""The audit trail as operators see it: the log, a record's history, the home page, no secrets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests import factories
from tests.admin_support import opened_version
from tests.conftest import Auth
from webapp import audit
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Operator, OperatorRole, Task


def html_of(response) -> str:
    return response.get_data(as_text=True)


def post(client: FlaskClient, auth: Auth, path: str, data: dict):
    return client.post(path, data={**data, "csrf_token": auth.csrf_token("/admin/")})


def entries() -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


@pytest.fixture
def user_id(app: Flask) -> int:
    with app.app_context():
        return factories.make_user(email="ada@example.org", username="ada", full_name="Ada Byron", is_active=True).id


def edit_user(client: FlaskClient, auth: Auth, user_id: int, **fields) -> None:
    data = {
        "email": "ada@example.org",
        "username": "ada",
        "full_name": "Ada Byron",
        "is_active": "y",
        "bio": "",
        **fields,
    }
    data = {key: value for key, value in data.items() if value is not None}
    path = f"/admin/user/edit/?id={user_id}"
    response = post(client, auth, path, {**data, "version": opened_version(client, path)})
    assert response.status_code == 302, html_of(response)[:3000]


def test_an_edit_is_recorded_with_old_and_new_values(client: FlaskClient, auth: Auth, app: Flask, user_id: int) -> None:
    editor = auth.login(OperatorRole.EDITOR)
    edit_user(client, auth, user_id, full_name="Ada Lovelace", is_active=None)
    with app.app_context():
        [entry] = entries()
        assert entry.action == AuditAction.UPDATE and (entry.model, entry.object_id) == ("User", str(user_id))
        assert entry.changes == {"full_name": ["Ada Byron", "Ada Lovelace"], "is_active": [True, False]}
        assert entry.operator_id == editor.id and entry.operator_email == editor.email


def test_the_history_page_shows_each_change_readably(client: FlaskClient, auth: Auth, app: Flask, user_id: int) -> None:
    editor = auth.login(OperatorRole.EDITOR)
    edit_user(client, auth, user_id, full_name="Ada Lovelace")
    edit_user(client, auth, user_id, full_name="Ada Lovelace", is_active=None)
    response = client.get(f"/admin/audit/history/User/{user_id}")
    html = html_of(response)
    assert response.status_code == 200
    assert "History of user “Ada Lovelace &lt;ada@example.org&gt;”" in html
    assert html.count(editor.email) >= 2
    # Fields named as the list's columns are.
    assert ">Full Name</th>" in html and "Ada Byron" in html and "Ada Lovelace" in html
    assert html.index(">Active</th>") < html.index(">Full Name</th>"), "newest change first"
    assert '<td class="audit-old">Yes</td>' in html and '<td class="audit-new">No</td>' in html
    assert f'href="/admin/user/edit/?id={user_id}"' in html


@pytest.mark.parametrize("page", ["edit", "details"])
def test_a_record_page_links_to_its_history(client: FlaskClient, auth: Auth, user_id: int, page: str) -> None:
    auth.login(OperatorRole.EDITOR)
    html = html_of(client.get(f"/admin/user/{page}/?id={user_id}"))
    assert f'href="/admin/audit/history/User/{user_id}"' in html


def test_a_bulk_delete_records_one_entry_per_record(client: FlaskClient, auth: Auth, app: Flask) -> None:
    with app.app_context():
        doomed = [factories.make_task(title=title).id for title in ("red", "green")]
        kept = factories.make_task(title="blue").id
    auth.login(OperatorRole.EDITOR)
    response = post(client, auth, "/admin/task/action/", {"action": "delete", "rowid": doomed})
    assert response.status_code == 302
    with app.app_context():
        recorded = [entry for entry in entries() if entry.model == "Task"]
        assert sorted(int(entry.object_id) for entry in recorded) == sorted(doomed)
        assert {(entry.action, entry.summary) for entry in recorded} == {(AuditAction.DELETE, "Moved to the trash")}
        assert db.session.scalars(select(Task.id).where(Task.live())).all() == [kept]


def test_secrets_never_reach_the_audit_trail(client: FlaskClient, auth: Auth, app: Flask) -> None:
    auth.login()
    password = "a-fine-passphrase-1"
    created = post(
        client,
        auth,
        "/admin/operator/new/",
        {
            "email": "new@example.org",
            "role": "viewer",
            "is_active": "y",
            "password": password,
            "password_confirm": password,
        },
    )
    assert created.status_code == 302
    with app.app_context():
        new_operator = db.session.scalar(select(Operator).where(Operator.email == "new@example.org"))
        first_hash, new_id = new_operator.password_hash, new_operator.id
    second = "another-passphrase-2"
    post(client, auth, f"/admin/operator/password/?id={new_id}", {"password": second, "password_confirm": second})
    with app.app_context():
        second_hash = db.session.get(Operator, new_id).password_hash
        recorded = entries()
        assert [entry.action for entry in recorded] == [AuditAction.CREATE, AuditAction.UPDATE]
        assert recorded[0].changes == {
            "email": [None, "new@example.org"],
            "role": [None, "viewer"],
            "is_active": [None, True],
        }
        stored = json.dumps([[entry.summary, entry.changes] for entry in recorded])
    for secret in (password, second, first_hash, second_hash, '"password', "password_confirm"):
        assert secret not in stored
    history = html_of(client.get(f"/admin/audit/history/Operator/{new_id}"))
    for secret in (password, second, first_hash, second_hash):
        assert secret not in history


# The audit log view ---------------------------------------------------------------------------


@pytest.fixture
def logged(app: Flask) -> dict:
    """Entries by two operators on two models, one of them from last week."""
    with app.app_context():
        alice = factories.make_operator(email="alice@example.org", role=OperatorRole.EDITOR)
        bob = factories.make_operator(email="bob@example.org", role=OperatorRole.EDITOR)
        tag = factories.make_tag(name="billing")
        task = factories.make_task(title="Ship it")
        rows = [
            AuditEntry(
                operator_id=alice.id,
                operator_email=alice.email,
                action=AuditAction.CREATE,
                model="Tag",
                object_id=str(tag.id),
                summary="alice created a tag",
                changes={},
            ),
            AuditEntry(
                operator_id=bob.id,
                operator_email=bob.email,
                action=AuditAction.UPDATE,
                model="Task",
                object_id=str(task.id),
                summary="bob edited a task",
                changes={"title": ["a", "b"]},
            ),
            AuditEntry(
                operator_id=bob.id,
                operator_email=bob.email,
                action=AuditAction.DELETE,
                model="Task",
                object_id=str(task.id) + "0",
                summary="bob deleted another task",
                changes={},
                created_at=utcnow() - timedelta(days=7),
            ),
            AuditEntry(
                operator_id=alice.id,
                operator_email=alice.email,
                action=AuditAction.UPDATE,
                model="Operator",
                object_id=str(bob.id),
                summary="alice promoted bob",
                changes={"role": ["viewer", "editor"]},
            ),
        ]
        db.session.add_all(rows)
        db.session.commit()
        return {"alice": alice.id, "bob": bob.id, "task": task.id, "tag": tag.id}


SUMMARIES = ("alice created a tag", "bob edited a task", "bob deleted another task", "alice promoted bob")


def shown(html: str) -> set[str]:
    return {summary for summary in SUMMARIES if summary in html}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", {"alice created a tag", "bob edited a task", "bob deleted another task", "alice promoted bob"}),
        ("flt0_operator_equals={bob}", {"bob edited a task", "bob deleted another task"}),
        ("flt0_model_equals=Tag", {"alice created a tag"}),
        ("flt0_action_equals=delete", {"bob deleted another task"}),
        ("flt0_when_greater_than={yesterday}", {"alice created a tag", "bob edited a task", "alice promoted bob"}),
        ("search={task}0", {"bob deleted another task"}),
        ("flt0_model_equals=Task&search={task}", {"bob edited a task"}),
    ],
    ids=["all", "by operator", "by model", "by action", "by date", "by object id", "by model and exact object id"],
)
def test_the_audit_log_filters_and_searches(
    client: FlaskClient, auth: Auth, logged: dict, query: str, expected: set[str]
) -> None:
    auth.login(OperatorRole.ADMIN)
    yesterday = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    response = client.get("/admin/audit/?" + query.format(yesterday=yesterday, **logged))
    assert response.status_code == 200
    assert shown(html_of(response)) == expected


def test_viewers_do_not_see_entries_about_operators(client: FlaskClient, auth: Auth, logged: dict) -> None:
    auth.login(OperatorRole.VIEWER)
    assert shown(html_of(client.get("/admin/audit/"))) == {
        "alice created a tag",
        "bob edited a task",
        "bob deleted another task",
    }
    assert client.get(f"/admin/audit/history/Operator/{logged['bob']}").status_code == 403
    assert client.get(f"/admin/audit/history/Task/{logged['task']}").status_code == 200


def test_a_history_of_an_unknown_model_is_not_found(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    assert client.get("/admin/audit/history/Nothing/1").status_code == 404
    assert client.get("/admin/audit/history/Task/not-a-number").status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/admin/audit/new/"),
        ("POST", "/admin/audit/new/"),
        ("GET", "/admin/audit/edit/?id={entry}"),
        ("POST", "/admin/audit/edit/?id={entry}"),
        ("POST", "/admin/audit/delete/"),
        ("POST", "/admin/audit/action/"),
        ("POST", "/admin/audit/ajax/update/"),
    ],
)
def test_nobody_not_even_an_admin_can_change_the_audit_trail(
    client: FlaskClient, auth: Auth, app: Flask, logged: dict, method: str, path: str
) -> None:
    auth.login(OperatorRole.ADMIN)
    with app.app_context():
        before = [(entry.id, entry.summary, entry.changes) for entry in entries()]
        entry_id = before[0][0]
    data = {
        "csrf_token": auth.csrf_token("/admin/"),
        "id": entry_id,
        "rowid": [entry_id],
        "action": "delete",
        "summary": "rewritten",
        "list_form_pk": entry_id,
    }
    response = client.open(path.format(entry=entry_id), method=method, data=data if method == "POST" else None)
    assert response.status_code == 403
    with app.app_context():
        assert [(entry.id, entry.summary, entry.changes) for entry in entries()] == before


def test_the_audit_log_offers_no_writing_buttons_and_no_export(client: FlaskClient, auth: Auth, logged: dict) -> None:
    auth.login(OperatorRole.ADMIN)
    html = html_of(client.get("/admin/audit/"))
    for forbidden in ("/admin/audit/new/", "/admin/audit/edit/", "/admin/audit/delete/", "/admin/audit/export/"):
        assert forbidden not in html
    assert client.get("/admin/audit/export/csv/").mimetype != "text/csv"


def test_an_entry_details_page_shows_its_changes(client: FlaskClient, auth: Auth, app: Flask, logged: dict) -> None:
    auth.login(OperatorRole.VIEWER)
    with app.app_context():
        entry_id = db.session.scalar(select(AuditEntry.id).where(AuditEntry.summary == "bob edited a task"))
    html = html_of(client.get(f"/admin/audit/details/?id={entry_id}"))
    assert '<td class="audit-old">a</td>' in html and '<td class="audit-new">b</td>' in html


def test_the_home_page_lists_the_operators_own_recent_actions(client: FlaskClient, auth: Auth, app: Flask) -> None:
    me = auth.login(OperatorRole.EDITOR)
    with app.app_context():
        tag = factories.make_tag(name="mine")
        tag_id = tag.id
        audit.record(AuditAction.UPDATE, tag, summary="I renamed a tag")
        someone = factories.make_operator()
        db.session.add(
            AuditEntry(
                operator_id=someone.id,
                operator_email=someone.email,
                action=AuditAction.CREATE,
                model="Tag",
                object_id="1",
                summary="Someone else's change",
                changes={},
            )
        )
        db.session.commit()
        db.session.execute(  # record() outside a request has no operator: attribute it to me
            AuditEntry.__table__.update()
            .where(AuditEntry.summary == "I renamed a tag")
            .values(operator_id=me.id, operator_email=me.email)
        )
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 2
    html = html_of(client.get("/admin/"))
    assert "I renamed a tag" in html and "Someone else&#39;s change" not in html and "Someone else's change" not in html
    assert f'href="/admin/audit/history/Tag/{tag_id}"' in html


def test_a_new_operator_home_page_says_there_is_nothing_yet(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    assert "You have not changed anything yet." in html_of(client.get("/admin/"))


def test_the_operator_filter_offers_viewers_only_operators_the_log_names(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    with app.app_context():
        idle = factories.make_operator(role=OperatorRole.EDITOR, email="idle.editor@example.org")
        busy = factories.make_operator(role=OperatorRole.EDITOR, email="busy.editor@example.org")
        db.session.add(
            AuditEntry(
                operator_id=busy.id,
                operator_email=busy.email,
                action=AuditAction.UPDATE,
                model="Task",
                object_id="1",
                summary="Changed title",
                changes={},
            )
        )
        db.session.commit()
        idle_id = idle.id
    viewer_client = app.test_client()
    Auth(app, viewer_client).login(OperatorRole.VIEWER)
    assert offered_operators(viewer_client) == {"busy.editor@example.org"}
    filtered = viewer_client.get(f"/admin/audit/?flt0_operator_equals={idle_id}").get_data(as_text=True)
    assert "idle.editor@example.org" not in filtered, "the filter's label shows a hidden operator"
    auth.login(OperatorRole.ADMIN)
    assert offered_operators(client) == {"busy.editor@example.org", "idle.editor@example.org"}
    filtered = client.get(f"/admin/audit/?flt0_operator_equals={idle_id}").get_data(as_text=True)
    assert "idle.editor@example.org" in filtered


def offered_operators(client: FlaskClient) -> set[str]:
    """The operators the audit log's operator filter offers for the typed text "editor"."""
    response = client.get("/admin/audit/ajax/lookup/?name=operator&query=editor")
    assert response.status_code == 200
    return {label for _id, label in response.get_json()}
