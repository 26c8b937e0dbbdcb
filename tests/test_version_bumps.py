"""Every change made to a record through the admin moves its version, its tags included: a form
opened before the change is refused on save instead of writing the old tag list back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from tests import factories
from tests.admin_support import post_form, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import Post, Tag, Task

pytestmark = pytest.mark.usefixtures("app_context")

CONFLICT = "was changed by someone else since you opened it"


def edit_form(record: Task | Post, tags: list[Tag], **fields: Any) -> dict[str, Any]:
    """The record's edit form as it was opened at its current version, with these tags."""
    common = {"title": record.title, "tags": ",".join(str(tag.id) for tag in tags), "version": str(record.version)}
    if isinstance(record, Task):
        specific = {
            "owner": record.owner_id,
            "status": record.status.value,
            "priority": record.priority.value,
            "due_at": "",
            "description": "",
            "metadata_": "{}",
        }
    else:
        specific = {"author": record.author_id, "status": record.status.value, "published_at": "", "content": ""}
    return {**specific, **common, **fields}


def edit(client: FlaskClient, auth: Auth, record: Task | Post, form: dict[str, Any]) -> Any:
    return post_form(client, auth, f"/admin/{type(record).__name__.lower()}/edit/?id={record.id}", form)


@pytest.mark.parametrize("make_record", [factories.make_task, factories.make_post], ids=["task", "post"])
def test_a_tags_only_edit_makes_an_older_form_conflict_and_keeps_the_tag(
    client: FlaskClient, auth: Auth, make_record: Callable[..., Task | Post]
) -> None:
    kept, added = factories.make_tag(name="kept"), factories.make_tag(name="added")
    record = make_record(title="Shared", tags=[kept])
    auth.login()
    opened_by_a = edit_form(record, [kept], title="A's title")

    saved_by_b = edit(client, auth, record, edit_form(record, [kept, added]))
    assert saved_by_b.status_code == 302, text_of(saved_by_b)
    stale = edit(client, auth, record, opened_by_a)

    assert stale.status_code == 200 and CONFLICT in text_of(stale)
    db.session.rollback()
    assert [tag.name for tag in record.tags] == ["added", "kept"]
    assert record.title == "Shared" and record.version == 2


def bulk(client: FlaskClient, auth: Auth, task: Task, mode: str, tag: Tag) -> Any:
    form = {"rowid": str(task.id), "mode": mode, "tag": tag.id}
    return post_form(client, auth, "/admin/task/bulk-tag/", form, token_page="/admin/task/")


def merge(client: FlaskClient, auth: Auth, task: Task, source: Tag, target: Tag) -> Any:
    form = {"rowid": str(source.id), "tag": target.id}
    return post_form(client, auth, "/admin/tag/merge/", form, token_page="/admin/tag/")


def delete(client: FlaskClient, auth: Auth, task: Task, tag: Tag, other: Tag) -> Any:
    return post_form(client, auth, "/admin/tag/delete/", {"id": tag.id}, token_page="/admin/tag/")


# Each way of changing a task's tags other than its own form, and the tags it leaves.
TAG_CHANGES: dict[str, tuple[Callable[[FlaskClient, Auth, Task, Tag, Tag], Any], list[str]]] = {
    "bulk add": (lambda client, auth, task, kept, other: bulk(client, auth, task, "add", other), ["kept", "other"]),
    "bulk remove": (lambda client, auth, task, kept, other: bulk(client, auth, task, "remove", kept), []),
    "merge": (merge, ["other"]),
    "tag to the trash": (delete, []),
}
# After these the stale form names a tag that is gone (in the trash), which its Tags field refuses first.
TAG_GONE = {"merge", "tag to the trash"}
# A tag in the trash keeps its links: the record itself did not change, so its version stays.
RECORD_UNCHANGED = {"tag to the trash"}


@pytest.mark.parametrize("change", TAG_CHANGES, ids=list(TAG_CHANGES))
def test_every_other_tag_change_makes_an_open_form_conflict(client: FlaskClient, auth: Auth, change: str) -> None:
    kept, other = factories.make_tag(name="kept"), factories.make_tag(name="other")
    task = factories.make_task(title="Shared", tags=[kept])
    auth.login()
    opened = edit_form(task, [kept], title="Overwrite")
    act, left = TAG_CHANGES[change]

    assert act(client, auth, task, kept, other).status_code == 302
    stale = edit(client, auth, task, opened)

    refusal = "Not a valid choice" if change in TAG_GONE else CONFLICT
    assert stale.status_code == 200 and refusal in text_of(stale)
    db.session.rollback()
    assert [tag.name for tag in task.tags] == left and task.title == "Shared"
    assert (task.version > int(opened["version"])) is (change not in RECORD_UNCHANGED)


def pages_of(ids: list[int]) -> dict[int, int]:
    """Each row's heap page (the block of its current version's ``ctid``)."""
    rows = db.session.execute(
        text("SELECT id, (ctid::text::point)[0]::int FROM tasks WHERE id = ANY(:ids)"), {"ids": ids}
    )
    return dict(rows.all())


@pytest.mark.postgres
def test_a_bulk_version_bump_leaves_each_row_on_its_page(client: FlaskClient, auth: Auth) -> None:
    """The room a versioned table keeps on each page (its fill factor) takes a bumped row's new
    version, which then needs no new entry in any index: on full pages a bulk tag of many rows
    rewrote every index of the table for each of them."""
    tasks = factories.make_tasks(1200)
    selected = [task.id for task in tasks[::20]]
    tag = factories.make_tag(name="bulk")
    before = pages_of(selected)
    auth.login()

    response = post_form(
        client,
        auth,
        "/admin/task/bulk-tag/",
        {"rowid": selected, "mode": "add", "tag": tag.id},
        token_page="/admin/task/",
    )

    assert response.status_code == 302, text_of(response)
    db.session.rollback()
    moved = {task_id for task_id, page in pages_of(selected).items() if page != before[task_id]}
    assert moved == set(), f"{len(moved)} of {len(selected)} bumped rows left their page"
    versions = db.session.scalars(select(Task.version).where(Task.id.in_(selected))).all()
    assert versions == [2] * len(selected)
