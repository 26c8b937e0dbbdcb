"""A record's versions over real HTTP: the History lists them labelled as the lists are, a version
page shows the record as it was, two versions compare side by side, and a revert is a new,
audited change, refused with a reason (nothing written) when it cannot be applied."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from tests import factories
from tests.admin_support import (
    count_rows,
    opened_version,
    post_form,
    recorded_statements,
    task_changed_before_our_update,
    text_of,
)
from tests.conftest import Auth
from webapp import trash, versions
from webapp.extensions import db
from webapp.formatting import format_audit_value
from webapp.models import AuditAction, AuditEntry, OperatorRole, Task, TaskPriority, User

pytestmark = pytest.mark.usefixtures("app_context")

NOTHING_CHANGED = "Nothing was changed."
DUE_TEXT, DUE = "2031-05-01 12:00", datetime(2031, 5, 1, 12, 0, tzinfo=UTC)


def task_form(task: Task, **fields: Any) -> dict[str, Any]:
    """The task's edit form as it stands, with ``fields`` changed."""
    form = {
        "title": task.title,
        "owner": str(task.owner_id),
        "status": task.status.value,
        "priority": task.priority.value,
        "tags": ",".join(str(tag.id) for tag in task.tags),
        "due_at": task.due_at.strftime("%Y-%m-%d %H:%M") if task.due_at else "",
        "description": task.description or "",
        "metadata_": "{}",
    }
    return {**form, **fields}


def edit_task(client: FlaskClient, auth: Auth, task: Task, **fields: Any) -> None:
    path = f"/admin/task/edit/?id={task.id}"
    response = post_form(client, auth, path, {**task_form(task, **fields), "version": opened_version(client, path)})
    assert response.status_code == 302, text_of(response)[:2000]
    db.session.expire_all()


def history_of(client: FlaskClient, record: Any) -> str:
    response = client.get(f"/admin/audit/history/{type(record).__name__}/{record.id}")
    assert response.status_code == 200
    return text_of(response)


def revert(client: FlaskClient, auth: Auth, record: Any, to_version: Any, seen: Any) -> Any:
    model = type(record).__name__
    return post_form(
        client,
        auth,
        f"/admin/{model.lower()}/revert/?id={record.id}",
        {"to_version": str(to_version), "version": str(seen)},
        token_page=f"/admin/audit/history/{model}/{record.id}",
    )


def refused(client: FlaskClient, response: Any, reason: str) -> None:
    """A refusal: back to the version's page, saying why and that nothing changed."""
    assert response.status_code == 302
    html = text_of(client.get(response.headers["Location"]))
    assert reason in html and NOTHING_CHANGED in html, html[:3000]


@pytest.fixture
def edited_twice(client: FlaskClient, auth: Auth) -> Task:
    """A task at version 3: its owner and priority changed (version 2), then its title (version 3)."""
    alice = factories.make_user(full_name="Alice Example", email="alice@example.org")
    bob = factories.make_user(full_name="Bob Example", email="bob@example.org")
    task = factories.make_task(title="Write the report", owner=alice, priority=TaskPriority.MEDIUM)
    auth.login(OperatorRole.EDITOR)
    edit_task(client, auth, task, owner=str(bob.id), priority="high", due_at=DUE_TEXT)
    edit_task(client, auth, task, title="Write the final report")
    assert task.version == 3
    return task


# Refusals first: each says why and writes nothing.


def test_reverting_to_an_owner_that_was_purged_is_refused(client: FlaskClient, auth: Auth, edited_twice: Task) -> None:
    alice_id = db.session.scalar(select(User.id).where(User.email == "alice@example.org"))
    db.session.execute(delete(User).where(User.id == alice_id))
    db.session.commit()
    entries = count_rows(AuditEntry)
    response = revert(client, auth, edited_twice, 1, 3)
    refused(client, response, f"The owner of version 1 (purged user {alice_id}) no longer exists.")
    db.session.expire_all()
    assert edited_twice.version == 3 and edited_twice.title == "Write the final report"
    assert count_rows(AuditEntry) == entries


def test_reverting_to_an_email_another_user_now_has_is_refused(client: FlaskClient, auth: Auth) -> None:
    user = factories.make_user(email="ada@example.org", username="ada", full_name="Ada")
    auth.login(OperatorRole.EDITOR)
    path = f"/admin/user/edit/?id={user.id}"
    form = {"email": "ada.b@example.org", "username": "ada", "full_name": "Ada", "is_active": "y", "bio": ""}
    assert post_form(client, auth, path, {**form, "version": opened_version(client, path)}).status_code == 302
    factories.make_user(email="ADA@example.org", username="newcomer")
    entries = count_rows(AuditEntry)
    response = revert(client, auth, user, 1, 2)
    refused(client, response, "The email this user had at version 1 is now used by another record")
    db.session.expire_all()
    assert user.email == "ada.b@example.org" and user.version == 2
    assert count_rows(AuditEntry) == entries


def test_reverting_a_task_in_the_trash_is_refused(client: FlaskClient, auth: Auth, edited_twice: Task) -> None:
    trash.soft_delete(Task, [edited_twice.id], None)
    db.session.commit()
    entries = count_rows(AuditEntry)
    response = revert(client, auth, edited_twice, 1, 4)
    refused(client, response, "This task is in the trash: restore it before reverting it.")
    assert count_rows(AuditEntry) == entries


def test_reverting_from_a_stale_history_is_refused(client: FlaskClient, auth: Auth, edited_twice: Task) -> None:
    response = revert(client, auth, edited_twice, 1, 2)  # the operator saw version 2; it is at 3
    assert response.status_code == 302
    html = text_of(client.get(response.headers["Location"]))
    assert "This task was changed by someone else since you opened it, so your changes were not saved." in html
    db.session.expire_all()
    assert edited_twice.version == 3 and edited_twice.title == "Write the final report"


def test_reverting_to_the_current_values_writes_nothing(client: FlaskClient, auth: Auth, edited_twice: Task) -> None:
    entries = count_rows(AuditEntry)
    refused(client, revert(client, auth, edited_twice, 3, 3), "This task already has the values of version 3.")
    assert count_rows(AuditEntry) == entries


@pytest.mark.parametrize("to_version", ["0", "4", "abc", "99999999999", ""])
def test_reverting_to_a_version_that_does_not_exist_is_not_found(
    client: FlaskClient, auth: Auth, edited_twice: Task, to_version: str
) -> None:
    assert revert(client, auth, edited_twice, to_version, 3).status_code == 404


def test_a_viewer_may_not_revert_nor_sees_the_button(client: FlaskClient, auth: Auth, edited_twice: Task) -> None:
    assert client.post("/logout", data={"csrf_token": auth.csrf_token("/admin/")}).status_code == 302
    auth.login(OperatorRole.VIEWER)
    page = text_of(client.get(f"/admin/audit/history/Task/{edited_twice.id}/version/1"))
    assert "Version 1 of task" in page and "Revert to version 1" not in page
    assert revert(client, auth, edited_twice, 1, 3).status_code == 403
    db.session.expire_all()
    assert edited_twice.version == 3


def test_a_revert_without_the_csrf_token_is_refused(client: FlaskClient, auth: Auth, edited_twice: Task) -> None:
    response = client.post(f"/admin/task/revert/?id={edited_twice.id}", data={"to_version": "1", "version": "3"})
    assert response.status_code == 400
    db.session.expire_all()
    assert edited_twice.version == 3


# What works.


def test_reverting_brings_the_old_values_back_as_a_new_audited_version(
    client: FlaskClient, auth: Auth, edited_twice: Task
) -> None:
    page = text_of(client.get(f"/admin/audit/history/Task/{edited_twice.id}/version/1"))
    assert "Revert to version 1" in page
    response = revert(client, auth, edited_twice, 1, 3)
    assert response.status_code == 302
    assert "Reverted this task to version 1: it is now version 4." in text_of(client.get(response.headers["Location"]))
    db.session.expire_all()
    assert (edited_twice.title, edited_twice.owner.email, edited_twice.priority) == (
        "Write the report",
        "alice@example.org",
        TaskPriority.MEDIUM,
    )
    assert edited_twice.version == 4
    newest = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert newest is not None and newest.summary == "Reverted “Write the report” to version 1"
    assert set(newest.changes) == {"due_at", "owner", "priority", "title"}
    assert "Version 4" in history_of(client, edited_twice)


def test_reverting_restores_timestamps_and_related_rows_of_a_middle_version(
    client: FlaskClient, auth: Auth, edited_twice: Task
) -> None:
    revert(client, auth, edited_twice, 1, 3)
    response = revert(client, auth, edited_twice, 2, 4)
    assert response.status_code == 302
    db.session.expire_all()
    assert (edited_twice.title, edited_twice.owner.email, edited_twice.due_at) == (
        "Write the report",
        "bob@example.org",
        DUE,
    )
    assert edited_twice.version == 5


def test_the_history_shows_labels_and_names_where_the_lists_do(
    client: FlaskClient, auth: Auth, edited_twice: Task
) -> None:
    html = history_of(client, edited_twice)
    assert '<td class="audit-old">Medium</td>' in html and '<td class="audit-new">High</td>' in html
    alice = db.session.scalar(select(User).where(User.email == "alice@example.org"))
    assert f'href="/admin/user/details/?id={alice.id}" title="alice@example.org">Alice Example</a>' in html
    assert ">Owner</th>" in html
    db.session.delete(alice)
    db.session.commit()
    assert f"(purged user {alice.id})" in history_of(client, edited_twice)


def test_an_owner_recorded_by_its_foreign_key_is_named_too(client: FlaskClient, auth: Auth) -> None:
    """Entries written before the trail named relationships keep ``owner_id``."""
    task = factories.make_task()
    db.session.add(
        AuditEntry(
            model="Task", object_id=str(task.id), action=AuditAction.CREATE, changes={"owner_id": [None, task.owner_id]}
        )
    )
    db.session.commit()
    auth.login(OperatorRole.VIEWER)
    assert f">{task.owner.full_name}</a>" in history_of(client, task)


def test_the_history_reads_related_names_once_per_page(client: FlaskClient, auth: Auth) -> None:
    owners = [factories.make_user() for _ in range(6)]
    task = factories.make_task(owner=owners[0])
    auth.login(OperatorRole.EDITOR)
    for owner in owners[1:]:
        edit_task(client, auth, task, owner=str(owner.id))
    with recorded_statements() as statements:
        html = history_of(client, task)
    assert all(owner.full_name in html for owner in owners)
    assert sum("FROM users" in sql for sql in statements) == 1, statements


def test_the_history_lists_versions_and_a_version_page_shows_the_record_as_it_was(
    client: FlaskClient, auth: Auth, edited_twice: Task
) -> None:
    html = history_of(client, edited_twice)
    assert all(f"Version {number}" in html for number in (1, 2, 3))
    assert "Before the recorded history" in html
    page = client.get(f"/admin/audit/history/Task/{edited_twice.id}/version/2")
    assert page.status_code == 200
    heading, table = text_of(page).split('class="table table-bordered record-version"')
    assert "Version 2 of task “Write the final report”" in heading
    assert "Write the report" in table and "Write the final report" not in table
    assert "Bob Example" in table and "High" in table


def test_comparing_two_versions_marks_the_changed_fields_in_words(
    client: FlaskClient, auth: Auth, edited_twice: Task
) -> None:
    response = client.get(f"/admin/audit/history/Task/{edited_twice.id}/compare?from=3&to=1")
    html = text_of(response)
    assert response.status_code == 200
    assert "Version 1 and version 3" in html and "4 fields differ" in html
    assert html.count('<span class="badge badge-warning">changed</span>') == 4
    assert "Medium" in html and "High" in html


@pytest.mark.parametrize("query", ["?from=1&to=9", "?from=0&to=1", "?from=x&to=1", "?from=1&to=99999999999999999999"])
def test_comparing_versions_that_do_not_exist_is_not_found(
    client: FlaskClient, auth: Auth, edited_twice: Task, query: str
) -> None:
    response = client.get(f"/admin/audit/history/Task/{edited_twice.id}/compare{query}")
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert "Choose the two versions to compare." in text_of(client.get(response.headers["Location"]))


@pytest.mark.parametrize("number", ["0", "4", "abc", "1e3"])
def test_a_version_that_does_not_exist_is_not_found(
    client: FlaskClient, auth: Auth, edited_twice: Task, number: str
) -> None:
    assert client.get(f"/admin/audit/history/Task/{edited_twice.id}/version/{number}").status_code == 404


def test_an_audit_log_entry_shows_its_values_labelled(client: FlaskClient, auth: Auth, edited_twice: Task) -> None:
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.changes["priority"].isnot(None))).one()
    html = text_of(client.get(f"/admin/audit/details/?id={entry.id}"))
    assert '<td class="audit-old">Medium</td>' in html and '<td class="audit-new">High</td>' in html
    assert "Bob Example</a>" in html and "Alice Example</a>" in html


def test_a_json_value_in_the_trail_is_shown_as_json() -> None:
    assert format_audit_value({"ticket": "OPS-1398", "hosts": ["gw-1"]}) == '{"ticket": "OPS-1398", "hosts": ["gw-1"]}'


def test_a_change_between_the_check_and_the_write_makes_the_revert_conflict(
    client: FlaskClient, auth: Auth, edited_twice: Task
) -> None:
    """Another transaction commits after the revert loaded the row and before its UPDATE: the
    version column catches it, and the revert writes nothing."""
    token = auth.csrf_token(f"/admin/audit/history/Task/{edited_twice.id}")
    entries = count_rows(AuditEntry)
    with task_changed_before_our_update(edited_twice.id) as raced:
        response = client.post(
            f"/admin/task/revert/?id={edited_twice.id}", data={"to_version": "1", "version": "3", "csrf_token": token}
        )
    assert raced and response.status_code == 302
    assert "This task was changed by someone else since you opened it" in text_of(
        client.get(response.headers["Location"])
    )
    db.session.expire_all()
    assert (edited_twice.title, edited_twice.version) == ("Theirs", 4)
    assert count_rows(AuditEntry) == entries


def test_a_record_created_in_the_admin_starts_its_history_at_version_1(client: FlaskClient, auth: Auth) -> None:
    owner = factories.make_user()
    auth.login(OperatorRole.EDITOR)
    form = {"title": "First", "owner": str(owner.id), "status": "pending", "priority": "low", "metadata_": "{}"}
    assert post_form(client, auth, "/admin/task/new/", form).status_code == 302
    task = db.session.scalars(select(Task)).one()
    edit_task(client, auth, task, title="Second")
    html = history_of(client, task)
    assert "Version 1" in html and "Version 2" in html and "Before the recorded history" not in html
    page = text_of(client.get(f"/admin/audit/history/Task/{task.id}/version/1"))
    assert "<td>First</td>" in page and "<td>Low</td>" in page


def test_a_history_cut_short_claims_no_version_before_it(edited_twice: Task) -> None:
    """Only the newest entry read (a History beyond its limit): no "before the recorded history"
    version is made up from it; with all of them, version 1 is the one before the first change."""
    newest = versions.entries_of("Task", str(edited_twice.id), limit=1)
    assert [version.number for version in versions.versions_of(edited_twice, newest, complete=False)] == [3]
    every = versions.entries_of("Task", str(edited_twice.id))
    assert [version.number for version in versions.versions_of(edited_twice, every)] == [3, 2, 1]
