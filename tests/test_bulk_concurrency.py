"""Two operators acting on the same rows at once: each change is audited once, by whoever made it."""

from __future__ import annotations

import threading

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests import factories
from webapp import tagging, trash
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Tag, Task

pytestmark = pytest.mark.postgres


def run_concurrently(app: Flask, first, second) -> None:
    """``first`` holds its transaction open until ``second`` has started and is waiting on it."""
    first_done_changing, release_first = threading.Event(), threading.Event()

    def hold_first() -> None:
        with app.app_context():
            first()
            first_done_changing.set()
            release_first.wait(10)
            db.session.commit()

    def then_second() -> None:
        first_done_changing.wait(10)
        with app.app_context():
            timer = threading.Timer(0.5, release_first.set)  # let second block on the row lock
            timer.start()
            second()
            db.session.commit()

    threads = [threading.Thread(target=hold_first), threading.Thread(target=then_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)


def entries(action: AuditAction) -> int:
    """Entries about the records (a bulk tag also writes one on the tag itself)."""
    query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action, AuditEntry.model == "Task")
    return db.session.scalar(query)


def test_racing_soft_deletes_audit_the_row_once(app: Flask) -> None:
    with app.app_context():
        task_id = factories.make_task().id
    run_concurrently(
        app,
        lambda: trash.soft_delete(Task, [task_id], None),
        lambda: trash.soft_delete(Task, [task_id], None),
    )
    with app.app_context():
        assert entries(AuditAction.DELETE) == 1
        assert db.session.get(Task, task_id).deleted_at is not None


def test_racing_add_tag_audits_the_row_once(app: Flask) -> None:
    with app.app_context():
        task_id, tag_id = factories.make_task().id, factories.make_tag(name="race").id

    def add() -> None:
        tagging.add_tag(Task, [task_id], db.session.get(Tag, tag_id))

    run_concurrently(app, add, add)
    with app.app_context():
        assert entries(AuditAction.TAG) == 1
        assert [tag.name for tag in db.session.get(Task, task_id).tags] == ["race"]
