"""Records moved to the trash while another operator acts on them, in real transactions on
PostgreSQL ordered by row locks this test holds (no sleeps).

A task or post saved, or restored, while its owner (author) is moved to the trash: never a live
record under a trashed user. The save share-locks the owner's row, so either it waits for the move
and is refused, or the move waits for it and takes the new record along. A bulk tag on rows being
moved to the trash reports them as gone and leaves them alone."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from tests import factories
from tests.admin_support import text_of
from tests.conftest import Auth
from tests.waits import wait_for
from webapp import trash
from webapp.extensions import db
from webapp.models import Post, Tag, Task, User

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("app_context")]

WAIT_SECONDS = 30


def lock_waiters() -> int:
    """Backends of this database waiting for a lock another transaction holds."""
    with db.engine.connect() as probe:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        return probe.scalar(text(query)) or 0


def wait_until_blocked(work: Future[Any], waiters: int, what: str) -> None:
    """Until ``waiters`` backends wait for a lock, or ``work`` finished without waiting (the bug)."""
    wait_for(lambda: work.done() or lock_waiters() >= waiters, WAIT_SECONDS, what)


def live_records_of_trashed_users() -> int:
    count = 0
    for model, parent in ((Task, Task.owner), (Post, Post.author)):
        query = select(func.count()).select_from(model).where(model.live(), parent.has(User.trashed()))
        count += db.session.scalar(query) or 0
    return count


def task_form(owner: User, **fields: Any) -> dict[str, Any]:
    form = {"title": "Raced", "owner": owner.id, "status": "pending", "priority": "medium"}
    return {**form, "tags": "", "due_at": "", "description": "", "metadata_": "{}", **fields}


def new_task(owner: User) -> tuple[str, dict[str, Any]]:
    return "/admin/task/new/", task_form(owner)


def new_post(owner: User) -> tuple[str, dict[str, Any]]:
    form = {"title": "Raced", "author": owner.id, "status": "draft", "tags": "", "published_at": "", "content": ""}
    return "/admin/post/new/", form


def task_moved_to(owner: User) -> tuple[str, dict[str, Any]]:
    task = factories.make_task(owner=factories.make_user(), title="Moving")
    return f"/admin/task/edit/?id={task.id}", task_form(owner, title="Moving", version=str(task.version))


# Each save under a user, and the label of the field that names the user.
SAVES: dict[str, tuple[Callable[[User], tuple[str, dict[str, Any]]], str]] = {
    "new task": (new_task, "Owner"),
    "new post": (new_post, "Author"),
    "task given to the user": (task_moved_to, "Owner"),
}


@pytest.mark.parametrize("save", SAVES, ids=list(SAVES))
def test_a_save_that_waits_for_its_owner_to_be_trashed_is_refused(client: FlaskClient, auth: Auth, save: str) -> None:
    owner = factories.make_user(full_name="Moving Out", email="out@example.org")
    make_form, label = SAVES[save]
    path, form = make_form(owner)
    auth.login()
    token = auth.csrf_token(path)

    # This test's own transaction moves the owner to the trash and keeps its row lock until commit.
    trash.soft_delete(User, [owner.id], None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        saving = pool.submit(client.post, path, data={**form, "csrf_token": token})
        wait_until_blocked(saving, 1, "the save to wait for the owner's row lock")
        db.session.commit()
        response = saving.result(timeout=WAIT_SECONDS)

    html = text_of(response)
    assert response.status_code == 200, html[:500]
    assert f"{label} Moving Out &lt;out@example.org&gt; is in the trash: restore the user first" in html
    assert "Nothing was saved: check" in html and f">{label}</a> below" in html
    assert live_records_of_trashed_users() == 0


def test_a_trashing_that_waits_for_a_new_task_takes_it_along(client: FlaskClient, auth: Auth, app: Flask) -> None:
    owner = factories.make_user()
    tag = factories.make_tag()
    auth.login()
    token = auth.csrf_token("/admin/task/new/")

    def move_owner_to_trash() -> None:
        with app.app_context():
            trash.soft_delete(User, [owner.id], None)
            db.session.commit()

    # A competitor holds the tag's row lock: the save stops at linking the tag, after it has
    # checked (and locked) its owner, and the move to the trash starts meanwhile.
    with db.engine.connect() as competitor, ThreadPoolExecutor(max_workers=2) as pool:
        competitor.execute(select(Tag.id).where(Tag.id == tag.id).with_for_update())
        data = {**task_form(owner, tags=str(tag.id)), "csrf_token": token}
        saving = pool.submit(client.post, "/admin/task/new/", data=data)
        wait_until_blocked(saving, 1, "the save to wait for the tag's row lock")
        trashing = pool.submit(move_owner_to_trash)
        wait_until_blocked(trashing, 2, "the move to the trash to wait for the save")
        competitor.commit()
        response = saving.result(timeout=WAIT_SECONDS)
        trashing.result(timeout=WAIT_SECONDS)

    assert response.status_code == 302, text_of(response)[:500]
    db.session.rollback()
    task = db.session.scalars(select(Task)).one()
    assert task.is_deleted and task.deletion_batch == db.session.get(User, owner.id).deletion_batch
    assert live_records_of_trashed_users() == 0


def test_a_restore_that_waits_for_its_owner_to_be_trashed_leaves_the_task_there(
    client: FlaskClient, auth: Auth
) -> None:
    owner = factories.make_user()
    task = factories.make_task(owner=owner)
    trash.soft_delete(Task, [task.id], None)  # on its own, before its owner
    db.session.commit()
    auth.login()
    token = auth.csrf_token("/admin/task/trash/")

    trash.soft_delete(User, [owner.id], None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        data = {"rowid": str(task.id), "csrf_token": token}
        restoring = pool.submit(client.post, "/admin/task/trash/restore/", data=data)
        wait_until_blocked(restoring, 1, "the restore to wait for the owner's row lock")
        db.session.commit()
        response = restoring.result(timeout=WAIT_SECONDS)

    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(Task, task.id).is_deleted
    assert live_records_of_trashed_users() == 0


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("add", "Tagged 1 task “batch”; 1 was gone (deleted meanwhile)."),
        ("remove", "Removed “batch” from 1 task; 1 was gone (deleted meanwhile)."),
    ],
)
def test_a_bulk_tag_that_waits_for_a_row_being_trashed_reports_it_gone(
    client: FlaskClient, auth: Auth, mode: str, message: str
) -> None:
    tag = factories.make_tag(name="batch")
    initial = [tag] if mode == "remove" else []
    kept, leaving = factories.make_task(tags=initial), factories.make_task(tags=initial)
    auth.login()
    token = auth.csrf_token("/admin/task/")

    trash.soft_delete(Task, [leaving.id], None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        data = {"rowid": f"{kept.id},{leaving.id}", "mode": mode, "tag": tag.id, "csrf_token": token}
        tagging = pool.submit(client.post, "/admin/task/bulk-tag/", data=data)
        wait_until_blocked(tagging, 1, "the bulk tag to wait for the row lock")
        db.session.commit()
        assert tagging.result(timeout=WAIT_SECONDS).status_code == 302

    assert message in text_of(client.get("/admin/task/"))
    db.session.rollback()
    assert leaving.tags == initial
