"""Two operators edit the same record: the second save is refused with a way to reload."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import count_rows, post_form, task_changed_before_our_update, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditEntry, Task

pytestmark = pytest.mark.usefixtures("app_context")

CONFLICT = "was changed by someone else since you opened it"


def task_form(task: Task, version: int, **fields: Any) -> dict[str, Any]:
    form = {
        "title": task.title,
        "owner": task.owner_id,
        "status": task.status.value,
        "priority": task.priority.value,
        "tags": "",
        "due_at": "",
        "description": "",
        "metadata_": "{}",
        "version": str(version),
    }
    return {**form, **fields}


def test_second_save_of_a_stale_form_is_refused_with_a_reload_link(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Original")
    auth.login()
    opened_at = task.version
    first = post_form(client, auth, f"/admin/task/edit/?id={task.id}", task_form(task, opened_at, title="First edit"))
    assert first.status_code == 302

    second = post_form(client, auth, f"/admin/task/edit/?id={task.id}", task_form(task, opened_at, title="Second edit"))
    html = text_of(second)
    assert second.status_code == 200
    assert f"This task {CONFLICT}" in html
    assert f'href="/admin/task/edit/?id={task.id}"' in html and "Reload the current version" in html
    assert 'value="Second edit"' in html  # the operator's input is kept to copy from
    db.session.rollback()
    assert task.title == "First edit" and task.version == opened_at + 1
    assert count_rows(AuditEntry) == 1


def test_form_opened_before_a_bulk_action_detects_the_change(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag()
    task = factories.make_task(title="Untagged")
    auth.login()
    opened_at = task.version
    post_form(
        client,
        auth,
        "/admin/task/bulk-tag/",
        {"rowid": str(task.id), "mode": "add", "tag": tag.id},
        token_page="/admin/task/",
    )
    stale = post_form(client, auth, f"/admin/task/edit/?id={task.id}", task_form(task, opened_at, title="Overwrite"))
    assert stale.status_code == 200 and CONFLICT in text_of(stale)
    db.session.rollback()
    assert [t.name for t in task.tags] == [tag.name] and task.title == "Untagged"


@pytest.mark.postgres
@pytest.mark.parametrize("tags_only", [False, True], ids=["fields", "tags only"])
def test_change_between_the_check_and_the_write_is_caught_by_the_version_column(
    client: FlaskClient, auth: Auth, app: Flask, tags_only: bool
) -> None:
    """The race the form check cannot see: another transaction commits after we loaded the row
    and before our UPDATE; ``UPDATE … WHERE version = …`` matches nothing and we refuse. A save
    that changes only the tags writes that UPDATE too, so no link row is written either."""
    task = factories.make_task(title="Raced")
    ours = {"tags": str(factories.make_tag().id)} if tags_only else {"title": "Ours"}
    auth.login()
    token = auth.csrf_token("/admin/task/")
    with task_changed_before_our_update(task.id) as raced:
        response = client.post(
            f"/admin/task/edit/?id={task.id}",
            data={**task_form(task, task.version, **ours), "csrf_token": token},
        )
    assert raced
    assert response.status_code == 200 and CONFLICT in text_of(response)
    db.session.rollback()
    assert task.title == "Theirs" and task.tags == []
    assert count_rows(AuditEntry) == 0
