"""Bulk writes that race each other on PostgreSQL: they lock rows in one order and so wait for
each other instead of deadlocking; a transaction the database stops anyway (a deadlock, a
serialization failure) is answered as the collision it is, not as a database out of reach.

The interleavings are forced by row locks a competing connection holds (no sleeps)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from tests import factories
from tests.admin_support import text_of
from tests.conftest import AppFactory, Auth
from tests.test_trash_races import WAIT_SECONDS, wait_until_blocked
from webapp import trash
from webapp.extensions import db
from webapp.models import Tag, Task, User

pytestmark = pytest.mark.postgres

COLLIDED = "Another change to the same records collided with this one, so it was stopped. Nothing was saved. Try again."
NOT_REACHABLE = "cannot be reached"


def tasks_in_heap_order_against_ids(owner: User) -> tuple[Task, Task]:
    """Two tasks of ``owner``, ``first`` with the lower id but stored after ``second``: a plain
    ``UPDATE … WHERE owner_id = …`` meets ``second`` first, a lock in id order ``first``."""
    first, second = factories.make_task(owner=owner), factories.make_task(owner=owner)
    db.session.execute(update(Task).where(Task.id == first.id).values(title="Rewritten"))
    db.session.commit()
    return first, second


@pytest.mark.usefixtures("app_context")
def test_a_bulk_tag_of_a_users_tasks_racing_the_trashing_of_that_user_completes_both(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    owner = factories.make_user()
    tag = factories.make_tag(name="batch")
    first, second = tasks_in_heap_order_against_ids(owner)
    auth.login()
    token = auth.csrf_token("/admin/task/")

    def move_owner_to_trash() -> trash.Outcome:
        with app.app_context():
            outcome = trash.soft_delete(User, [owner.id], None)
            db.session.commit()
            return outcome

    # The competitor holds the second task: the move to the trash reaches it and waits, then the
    # bulk tag starts. Locking in two orders, each held one task the other wanted: a deadlock.
    with db.engine.connect() as competitor, ThreadPoolExecutor(max_workers=2) as pool:
        competitor.execute(select(Task.id).where(Task.id == second.id).with_for_update())
        trashing = pool.submit(move_owner_to_trash)
        wait_until_blocked(trashing, 1, "the move to the trash to wait for the competitor")
        data = {"rowid": f"{first.id},{second.id}", "mode": "add", "tag": tag.id, "csrf_token": token}
        tagging = pool.submit(client.post, "/admin/task/bulk-tag/", data=data)
        wait_until_blocked(tagging, 2, "the bulk tag to wait for the move to the trash")
        competitor.commit()
        response = tagging.result(timeout=WAIT_SECONDS)
        outcome = trashing.result(timeout=WAIT_SECONDS)

    assert response.status_code == 302, text_of(response)[:2000]
    assert outcome.cascaded[Task] == 2
    assert "Tagged 0 tasks “batch”; 2 were gone (deleted meanwhile)." in text_of(client.get("/admin/task/"))
    db.session.rollback()
    assert db.session.scalar(select(Tag).where(Tag.id == tag.id)) is not None
    assert all(task.is_deleted and not task.tags for task in db.session.scalars(select(Task)))


@pytest.mark.usefixtures("app_context")
def test_a_restore_racing_a_bulk_trashing_of_the_owners_completes_both(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    users = [factories.make_user(), factories.make_user()]
    tasks = [factories.make_task(owner=user) for user in users]
    trash.soft_delete(Task, [task.id for task in tasks], None)
    db.session.commit()
    # The first user now comes after the second in the table and by creation (the live users' index).
    later = users[1].created_at + timedelta(hours=1)
    db.session.execute(update(User).where(User.id == users[0].id).values(created_at=later))
    db.session.commit()
    auth.login()
    token = auth.csrf_token("/admin/task/trash/")

    def move_owners_to_trash() -> trash.Outcome:
        with app.app_context():
            outcome = trash.soft_delete(User, [user.id for user in users], None)
            db.session.commit()
            return outcome

    # The competitor holds the second user: the move reaches it (first, in table order) and waits;
    # the restore share-locks the owners in id order, the first user first.
    with db.engine.connect() as competitor, ThreadPoolExecutor(max_workers=2) as pool:
        competitor.execute(select(User.id).where(User.id == users[1].id).with_for_update())
        trashing = pool.submit(move_owners_to_trash)
        wait_until_blocked(trashing, 1, "the move to the trash to wait for the competitor")
        data = {"rowid": ",".join(str(task.id) for task in tasks), "csrf_token": token}
        restoring = pool.submit(client.post, "/admin/task/trash/restore/", data=data)
        wait_until_blocked(restoring, 2, "the restore to wait for the move to the trash")
        competitor.commit()
        response = restoring.result(timeout=WAIT_SECONDS)
        outcome = trashing.result(timeout=WAIT_SECONDS)

    assert response.status_code == 302
    assert outcome.affected == 2
    assert "2 tasks stayed in the trash because their owner is deleted" in text_of(client.get("/admin/task/trash/"))
    db.session.rollback()
    assert all(task.is_deleted for task in db.session.scalars(select(Task)))


@pytest.mark.usefixtures("app_context")
def test_a_tag_merge_racing_a_bulk_untag_of_the_same_task_completes_both(
    client: FlaskClient, auth: Auth, app: Flask
) -> None:
    source, target = factories.make_tag(name="bug"), factories.make_tag(name="defect")
    task = factories.make_task(tags=[source])
    operator = auth.login()
    merge_token = auth.csrf_token("/admin/tag/")
    other = Auth(app, app.test_client())
    with ThreadPoolExecutor(max_workers=1) as pool:  # outside this test's app context and its `g`
        pool.submit(other.login_as, operator.email).result(timeout=WAIT_SECONDS)
        untag_token = pool.submit(other.csrf_token, "/admin/task/").result(timeout=WAIT_SECONDS)

    # The competitor holds the target tag: the merge has untagged the task and waits to link it to
    # the target. A merge that locked the link rows before the task, and a bulk untag that locks
    # the task before its links, each held what the other wanted next: a deadlock.
    with db.engine.connect() as competitor, ThreadPoolExecutor(max_workers=2) as pool:
        competitor.execute(select(Tag.id).where(Tag.id == target.id).with_for_update())
        data = {"rowid": str(source.id), "tag": target.id, "csrf_token": merge_token}
        merging = pool.submit(client.post, "/admin/tag/merge/", data=data)
        wait_until_blocked(merging, 1, "the merge to wait for the target tag")
        data = {"rowid": str(task.id), "mode": "remove", "tag": source.id, "csrf_token": untag_token}
        untagging = pool.submit(other.client.post, "/admin/task/bulk-tag/", data=data)
        wait_until_blocked(untagging, 2, "the bulk untag to wait for the merge")
        competitor.commit()
        merged = merging.result(timeout=WAIT_SECONDS)
        untagged = untagging.result(timeout=WAIT_SECONDS)

    assert merged.status_code == 302, text_of(merged)[:2000]
    assert untagged.status_code == 302, text_of(untagged)[:2000]
    with ThreadPoolExecutor(max_workers=1) as pool:
        listed = pool.submit(other.client.get, "/admin/task/").result(timeout=WAIT_SECONDS)
    assert "Removed “bug” from 0 tasks; 1 did not have it." in text_of(listed)
    db.session.rollback()
    assert [tag.name for tag in db.session.get(Task, task.id).tags] == ["defect"]


def refusal(sqlstate: str) -> str:
    """A PL/pgSQL block failing with ``sqlstate``, as PostgreSQL fails a deadlock's victim."""
    return f"BEGIN RAISE EXCEPTION 'stopped' USING ERRCODE = '{sqlstate}'; END"


COLLISIONS = {"deadlock": "40P01", "serialization failure": "40001"}


@pytest.mark.usefixtures("app")
@pytest.mark.parametrize("sqlstate", COLLISIONS.values(), ids=list(COLLISIONS))
def test_a_request_stopped_by_a_collision_answers_409_saying_so(make_app: AppFactory, sqlstate: str) -> None:
    app = make_app()

    @app.route("/collide")
    def collide() -> str:
        db.session.execute(text(f"DO $$ {refusal(sqlstate)} $$"))
        return "finished"

    client = app.test_client()
    page = client.get("/collide")
    answer = client.get("/collide", headers={"Accept": "application/json"})
    assert page.status_code == 409 and answer.status_code == 409
    assert COLLIDED in text_of(page) and NOT_REACHABLE not in text_of(page)
    assert "TransactionRollback" not in text_of(page) and "psycopg2" not in text_of(page)
    assert answer.get_json()["detail"] == COLLIDED


@contextmanager
def audit_entries_refused_with(sqlstate: str) -> Iterator[None]:
    """Every audit entry's INSERT fails with ``sqlstate``: the write it belongs to is the victim."""
    with db.engine.begin() as connection:
        body = refusal(sqlstate)
        connection.execute(text(f"CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$"))
        connection.execute(
            text("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries EXECUTE FUNCTION refuse_audit()")
        )
    try:
        yield
    finally:
        with db.engine.begin() as connection:
            connection.execute(text("DROP TRIGGER refuse_audit ON audit_entries"))
            connection.execute(text("DROP FUNCTION refuse_audit()"))


@pytest.mark.usefixtures("app_context")
@pytest.mark.parametrize("sqlstate", COLLISIONS.values(), ids=list(COLLISIONS))
def test_a_save_stopped_by_a_collision_says_so_on_the_form_and_saves_nothing(
    client: FlaskClient, auth: Auth, sqlstate: str
) -> None:
    auth.login()
    token = auth.csrf_token("/admin/tag/new/")
    with audit_entries_refused_with(sqlstate):
        response = client.post("/admin/tag/new/", data={"name": "collided", "csrf_token": token})
    assert response.status_code == 200
    assert COLLIDED in text_of(response) and NOT_REACHABLE not in text_of(response)
    assert db.session.scalar(text("SELECT count(*) FROM tags")) == 0


@pytest.mark.usefixtures("app_context")
def test_a_bulk_action_stopped_by_a_collision_says_so_and_changes_nothing(client: FlaskClient, auth: Auth) -> None:
    task = factories.make_task()
    auth.login()
    token = auth.csrf_token("/admin/task/")
    with audit_entries_refused_with(COLLISIONS["deadlock"]):
        data = {"action": "delete", "rowid": str(task.id), "csrf_token": token}
        response = client.post("/admin/task/action/", data=data, follow_redirects=True)
    assert COLLIDED in text_of(response) and NOT_REACHABLE not in text_of(response)
    db.session.rollback()
    assert not db.session.get(Task, task.id).is_deleted
