"""Roles on the server: viewers read, editors write, admins purge and merge; forged POSTs get 403."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import count_rows, text_of
from tests.conftest import Auth
from webapp.models import OperatorRole, Tag, Task

pytestmark = pytest.mark.usefixtures("app_context")

EDITOR_POSTS = [
    ("/admin/task/new/", {"title": "x"}),
    ("/admin/task/edit/?id={task}", {"title": "x"}),
    ("/admin/task/delete/", {"id": "{task}"}),
    ("/admin/task/action/", {"action": "delete", "rowid": "{task}"}),
    ("/admin/task/action/", {"action": "add_tag", "rowid": "{task}"}),
    ("/admin/task/bulk-tag/", {"mode": "add", "rowid": "{task}", "tag": "{tag}"}),
    ("/admin/task/trash/restore/", {"rowid": "{task}"}),
    ("/admin/post/bulk-tag/", {"mode": "remove", "rowid": "1", "tag": "{tag}"}),
    ("/admin/user/trash/restore/", {"rowid": "1"}),
    ("/admin/tag/new/", {"name": "x", "color": "#000000"}),
]
ADMIN_POSTS = [
    ("/admin/task/trash/purge/", {"rowid": "{task}", "confirm": "yes"}),
    ("/admin/user/trash/purge/", {"rowid": "1"}),
    ("/admin/post/trash/purge/", {"rowid": "1", "confirm": "yes"}),
    ("/admin/tag/merge/", {"rowid": "{tag}", "tag": "{tag}"}),
    ("/admin/tag/action/", {"action": "merge", "rowid": "{tag}"}),
    ("/admin/tag/delete/", {"id": "{tag}"}),
]


def forge(client: FlaskClient, auth: Auth, path: str, data: dict[str, str], task: Task, tag: Tag) -> int:
    ids = {"task": task.id, "tag": tag.id}
    filled = {key: value.format(**ids) for key, value in data.items()}
    filled["csrf_token"] = auth.csrf_token("/admin/task/trash/")  # a page every role can open
    return client.post(path.format(**ids), data=filled).status_code


@pytest.mark.parametrize(("path", "data"), EDITOR_POSTS + ADMIN_POSTS)
def test_viewer_gets_403_on_every_write(client: FlaskClient, auth: Auth, path: str, data: dict[str, str]) -> None:
    task, tag = factories.make_task(title="Untouched"), factories.make_tag()
    auth.login(OperatorRole.VIEWER)
    assert forge(client, auth, path, data, task, tag) == 403
    assert count_rows(Task, Task.live(), Task.title == "Untouched") == 1


@pytest.mark.parametrize(("path", "data"), ADMIN_POSTS)
def test_editor_gets_403_on_purge_merge_and_tag_delete(
    client: FlaskClient, auth: Auth, path: str, data: dict[str, str]
) -> None:
    task, tag = factories.make_task(), factories.make_tag()
    auth.login(OperatorRole.EDITOR)
    assert forge(client, auth, path, data, task, tag) == 403
    assert count_rows(Tag) == 1 and count_rows(Task) == 1


def test_viewer_export_is_refused(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    assert client.get("/admin/task/export/csv/").status_code == 403


def test_viewer_sees_lists_and_trash_without_write_controls(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task(title="Readable")
    factories.make_task(title="Binned", deleted_at=datetime.now(UTC))
    auth.login(OperatorRole.VIEWER)
    listing = text_of(client.get("/admin/task/"))
    assert "Readable" in listing
    controls = (
        'href="/admin/task/new/',
        "With selected",
        "/export/csv/",
        'name="rowid"',
        "fa-trash glyphicon",
        "fa-pencil",
    )
    for control in controls:
        assert control not in listing, control
    assert client.get(f"/admin/task/details/?id={task.id}").status_code == 200
    trash = client.get("/admin/task/trash/")
    assert trash.status_code == 200
    assert "Restore" not in text_of(trash) and "Purge" not in text_of(trash)


def test_editor_sees_restore_but_not_purge(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.EDITOR)
    factories.make_task(deleted_at=datetime.now(UTC))
    trash = text_of(client.get("/admin/task/trash/"))
    assert "Restore selected" in trash and "Purge" not in trash and "permanently" not in trash
    assert "Merge" not in text_of(client.get("/admin/tag/"))
