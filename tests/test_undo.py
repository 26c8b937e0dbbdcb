"""Undoing a batch on real PostgreSQL: exact for each kind of batch, rows changed since left alone
and listed, the undo a batch of its own, bad input refused with nothing written, and a race with
an operator editing a row of the batch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests import factories
from tests.admin_support import count_rows, post_form, text_of
from tests.conftest import Auth
from tests.test_trash_races import WAIT_SECONDS, wait_until_blocked
from webapp import audit, tagging, trash
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, OperatorRole, Tag, Task, User
from webapp.undo import undo as undo_batch

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("app_context")]


def last_batch() -> str:
    """The batch of the newest entry that has one."""
    query = select(AuditEntry.batch_id).where(AuditEntry.batch_id.is_not(None)).order_by(AuditEntry.id.desc())
    return db.session.scalars(query.limit(1)).one()


def undo(client: FlaskClient, auth: Auth, batch_id: str) -> str:
    path = f"/admin/audit/batch/{batch_id}"
    response = post_form(client, auth, f"{path}/undo", {}, token_page="/admin/task/")
    assert response.status_code in (200, 302), text_of(response)[:1000]
    return text_of(client.get(path)) if response.status_code == 302 else text_of(response)


def tag_names(task: Task) -> list[str]:
    db.session.refresh(task)
    return [tag.name for tag in task.tags]


def edit_title(task: Task, title: str) -> None:
    """An operator's save, as the form writes it: the row and its audit entry, one transaction."""
    task.title = title
    audit.record(AuditAction.UPDATE, task, changes=audit.pending_changes(task))


def test_undoing_a_bulk_tag_untags_exactly_the_rows_it_tagged(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="sprint")
    tasks = factories.make_tasks(20)
    had_it = factories.make_task(tags=[tag])
    tagging.add_tag(Task, [task.id for task in tasks] + [had_it.id], tag)
    db.session.commit()
    batch = last_batch()
    edit_title(tasks[0], "Edited since")
    db.session.commit()
    auth.login(OperatorRole.EDITOR)

    page = undo(client, auth, batch)
    assert "Undone: 19 tasks put back as they were." in page and "1 changed since and were left alone" in page
    assert tag_names(tasks[0]) == ["sprint"] and tag_names(had_it) == ["sprint"]
    assert all(tag_names(task) == [] for task in tasks[1:])

    again = undo(client, auth, batch)
    assert "This batch was undone already" in again
    redo = undo(client, auth, last_batch())  # the undo is a batch: undoing it tags the 19 again
    assert "Undone: 19 tasks" in redo
    assert all(tag_names(task) == ["sprint"] for task in tasks)


def test_undoing_a_bulk_untag_puts_the_tag_back(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="old")
    tasks = factories.make_tasks(5)
    for task in tasks:
        task.tags.append(tag)
    db.session.commit()
    tagging.remove_tag(Task, [task.id for task in tasks], tag)
    db.session.commit()
    auth.login()
    assert "Undone: 5 tasks" in undo(client, auth, last_batch())
    assert all(tag_names(task) == ["old"] for task in tasks)


def test_undoing_a_move_to_the_trash_restores_what_is_still_there_from_it(client: FlaskClient, auth: Auth) -> None:
    tasks = factories.make_tasks(4)
    operator = auth.login()
    trash.soft_delete(Task, [task.id for task in tasks], operator.id)
    db.session.commit()
    batch = last_batch()
    trash.restore(Task, [tasks[0].id])  # restored and deleted again: no longer from the batch
    trash.soft_delete(Task, [tasks[0].id], operator.id)
    db.session.commit()

    page = undo(client, auth, batch)
    assert "Undone: 3 tasks" in page and "restored, purged or deleted again since the batch" in page
    db.session.expire_all()
    assert [task.is_deleted for task in tasks] == [True, False, False, False]


def test_undoing_a_cascade_brings_back_the_user_and_exactly_its_tasks(client: FlaskClient, auth: Auth) -> None:
    user = factories.make_user()
    alone = factories.make_task(owner=user)
    trash.soft_delete(Task, [alone.id], None)  # on its own, before
    db.session.commit()
    together = [factories.make_task(owner=user) for _ in range(3)]
    trash.soft_delete(User, [user.id], None)
    db.session.commit()
    auth.login()
    assert "Undone: 3 tasks, 1 user" in undo(client, auth, last_batch())
    db.session.expire_all()
    assert not user.is_deleted and not any(task.is_deleted for task in together) and alone.is_deleted


def test_undoing_a_restore_moves_back_to_the_trash_only_rows_unchanged_since(client: FlaskClient, auth: Auth) -> None:
    tasks = factories.make_tasks(3)
    trash.soft_delete(Task, [task.id for task in tasks], None)
    db.session.commit()
    trash.restore(Task, [task.id for task in tasks])
    db.session.commit()
    batch = last_batch()
    edit_title(tasks[2], "Worked on since")
    db.session.commit()
    auth.login()
    page = undo(client, auth, batch)
    assert "Undone: 2 tasks" in page and "changed since the batch" in page
    db.session.expire_all()
    assert [task.is_deleted for task in tasks] == [True, True, False]


def test_undoing_a_merge_brings_back_the_source_and_its_links(client: FlaskClient, auth: Auth) -> None:
    source, target = factories.make_tag(name="bug"), factories.make_tag(name="defect")
    both = factories.make_task(tags=[source, target])
    only_source = factories.make_task(tags=[source])
    post = factories.make_post(tags=[source])
    auth.login()
    merged = post_form(client, auth, "/admin/tag/merge/", {"rowid": str(source.id), "tag": target.id}, "/admin/tag/")
    assert merged.status_code == 302
    page = undo(client, auth, last_batch())
    assert "Undone: 1 post, 1 tag, 2 tasks" in page, page[page.find("Undone") :][:300]
    db.session.expire_all()
    assert not source.is_deleted
    assert tag_names(both) == ["bug", "defect"] and tag_names(only_source) == ["bug"]
    assert [tag.name for tag in post.tags] == ["bug"]


@pytest.mark.parametrize(
    ("batch_id", "message"),
    [
        ("not-a-batch", "No batch has this id; nothing was changed."),
        ("00000000-0000-4000-8000-000000000000", "No batch has this id; nothing was changed."),
    ],
)
def test_an_unknown_batch_is_refused_and_nothing_is_written(
    client: FlaskClient, auth: Auth, batch_id: str, message: str
) -> None:
    auth.login()
    before = count_rows(AuditEntry)
    response = post_form(client, auth, f"/admin/audit/batch/{batch_id}/undo", {}, token_page="/admin/task/")
    assert response.status_code == 302
    assert message in text_of(client.get("/admin/task/"))
    assert count_rows(AuditEntry) == before


def test_a_viewer_cannot_undo_and_nothing_is_written(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag()
    task = factories.make_task()
    tagging.add_tag(Task, [task.id], tag)
    db.session.commit()
    batch = last_batch()
    auth.login(OperatorRole.VIEWER)
    before = count_rows(AuditEntry)
    page = text_of(client.get(f"/admin/audit/batch/{batch}"))
    assert "Tagged" in page and 'id="undo-batch"' not in page
    response = post_form(client, auth, f"/admin/audit/batch/{batch}/undo", {}, token_page="/admin/task/")
    assert response.status_code == 403 and "Your role does not allow this. Nothing was changed." in text_of(response)
    assert count_rows(AuditEntry) == before and tag_names(task) == [tag.name]


def tagged_in_a_batch(count: int) -> tuple[Tag, list[Task], str]:
    """``count`` tasks tagged “raced” by one bulk action, and its batch."""
    tag = factories.make_tag(name="raced")
    tasks = factories.make_tasks(count)
    tagging.add_tag(Task, [task.id for task in tasks], tag)
    db.session.commit()
    return tag, tasks, last_batch()


def test_an_edit_that_commits_while_the_undo_waits_is_left_alone(client: FlaskClient, auth: Auth) -> None:
    _tag, tasks, batch = tagged_in_a_batch(20)
    auth.login()
    token = auth.csrf_token("/admin/task/")

    edit_title(tasks[5], "Edited meanwhile")  # this test's transaction holds the row until commit
    db.session.flush()
    with ThreadPoolExecutor(max_workers=1) as pool:
        undoing = pool.submit(client.post, f"/admin/audit/batch/{batch}/undo", data={"csrf_token": token})
        wait_until_blocked(undoing, 1, "the undo to wait for the edited row's lock")
        db.session.commit()
        response = undoing.result(timeout=WAIT_SECONDS)

    assert response.status_code == 200, text_of(response)[:1000]
    assert "Undone: 19 tasks" in text_of(response) and "1 changed since" in text_of(response)
    assert tag_names(tasks[5]) == ["raced"] and tasks[5].title == "Edited meanwhile"
    assert sum(tag_names(task) == [] for task in tasks) == 19


def test_an_edit_that_waits_for_the_undo_meets_the_new_version(client: FlaskClient, auth: Auth) -> None:
    tag, tasks, batch = tagged_in_a_batch(3)
    task = tasks[0]
    auth.login()
    edit_path = f"/admin/task/edit/?id={task.id}"
    form = {"title": "Late", "owner": task.owner_id, "status": "pending", "priority": "medium", "tags": str(tag.id)}
    form.update({"due_at": "", "description": "", "metadata_": "{}", "version": str(task.version)})
    form["csrf_token"] = auth.csrf_token(edit_path)

    undo_batch(batch, None)  # in this test's transaction, which holds the rows until it commits
    with ThreadPoolExecutor(max_workers=1) as pool:
        saving = pool.submit(client.post, edit_path, data=form)
        wait_until_blocked(saving, 1, "the save to wait for the undo's row lock")
        db.session.commit()
        response = saving.result(timeout=WAIT_SECONDS)

    assert response.status_code == 200 and "changed" in text_of(response).lower()
    assert [tag_names(t) for t in tasks] == [[], [], []]
    assert db.session.scalar(select(func.count()).select_from(Tag)) == 1
