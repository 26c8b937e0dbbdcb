"""Ten thousand selected rows travel through every bulk endpoint, as a browser posts them.

A browser posts a list's selection as one ``rowid`` field per row, URL-encoded; Werkzeug's limit
on form parts (``MAX_FORM_PARTS``, 1,000) applies to multipart bodies only, so such a selection
needs no raised limit. This proves it through the real endpoints, and that each step is one
transaction whose audit entries match the rows it changed.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from tests.admin_support import count_rows, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Task

pytestmark = pytest.mark.usefixtures("app_context")

SELECTED = 10_000


def post_selection(client: FlaskClient, path: str, token: str, ids: list[int], **fields: str) -> object:
    """POST the way a browser submits a form: URL-encoded, one ``rowid`` per selected row."""
    body = urlencode([("csrf_token", token), *fields.items(), *(("rowid", str(i)) for i in ids)])
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded")


def audit_count(action: AuditAction) -> int:
    """Entries about the tasks (a bulk tag also writes one on the tag itself)."""
    return count_rows(AuditEntry, AuditEntry.action == action, AuditEntry.model == "Task")


def test_ten_thousand_selected_rows_are_tagged_trashed_and_restored(client: FlaskClient, auth: Auth) -> None:
    factories.make_many_tasks(SELECTED + 5)
    tag = factories.make_tag(name="bulk")
    ids = list(db.session.scalars(select(Task.id).order_by(Task.id).limit(SELECTED)))
    auth.login()
    token = auth.csrf_token("/admin/task/")

    chooser = post_selection(client, "/admin/task/action/", token, ids, action="add_tag")
    assert chooser.status_code == 200 and f"Add a tag to {SELECTED:,} tasks" in text_of(chooser)
    tagged = client.post(
        "/admin/task/bulk-tag/",
        data={
            "csrf_token": token,
            "mode": "add",
            "tag": tag.id,
            "rowid": ",".join(map(str, ids)),
            "url": "/admin/task/",
        },
    )
    assert tagged.status_code == 302
    assert count_rows(Task.tag_link_table()) == SELECTED == audit_count(AuditAction.TAG)

    trashed = post_selection(client, "/admin/task/action/", token, ids, action="delete")
    assert trashed.status_code == 302
    assert count_rows(Task, Task.trashed()) == SELECTED == audit_count(AuditAction.DELETE)
    assert f"Moved {SELECTED:,} tasks to the trash" in text_of(client.get("/admin/task/"))

    restored = post_selection(client, "/admin/task/trash/restore/", auth.csrf_token("/admin/task/trash/"), ids)
    assert restored.status_code == 302
    assert count_rows(Task, Task.trashed()) == 0 and audit_count(AuditAction.RESTORE) == SELECTED
    assert f"Restored {SELECTED:,} tasks" in text_of(client.get("/admin/task/trash/"))
