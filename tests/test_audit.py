"""The audit recording API: field diffs, secrets left out, bulk entries in one statement."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from tests import factories
from webapp import audit
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, Operator, Task, TaskStatus

pytestmark = pytest.mark.usefixtures("app_context")


def test_pending_changes_lists_old_and_new_values() -> None:
    due = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    red = factories.make_tag(name="red")
    task = factories.make_task(title="Before", status=TaskStatus.PENDING)
    db.session.refresh(task)  # loaded, as the admin's get_one leaves it
    with db.session.no_autoflush:  # as the admin applies a form (see AuditedViewMixin)
        task.title = "After"
        task.status = TaskStatus.ACTIVE
        task.due_at = due
        task.tags.append(red)
        changes = audit.pending_changes(task)
    assert changes == {
        "title": ["Before", "After"],
        "status": ["pending", "active"],
        "due_at": [None, due.isoformat()],
        "tags": [[], ["red"]],
    }


def test_password_hashes_never_reach_the_audit_trail() -> None:
    operator = factories.make_operator()
    operator.set_password("a-brand-new-passphrase")
    operator.email = "renamed@example.org"
    changes = audit.pending_changes(operator)
    assert "password_hash" not in changes and "email" in changes
    assert "password_hash" not in audit.creation_values(Operator(email="x@example.org", password_hash="h"))


def test_record_writes_an_entry_in_the_same_transaction() -> None:
    task = factories.make_task(title="Audited")
    audit.record(AuditAction.UPDATE, task, changes={"title": ["a", "b"]})
    db.session.rollback()
    assert db.session.scalar(select(AuditEntry)) is None
    audit.record(AuditAction.UPDATE, task, changes={"title": ["a", "b"]})
    db.session.commit()
    entry = db.session.scalar(select(AuditEntry))
    assert (entry.model, entry.object_id, entry.action) == ("Task", str(task.id), AuditAction.UPDATE)
    assert entry.summary == "Update task “Audited”"


def test_record_bulk_writes_one_entry_per_row_in_one_statement() -> None:
    tasks = [factories.make_task() for _ in range(5)]
    chosen = [task.id for task in tasks[:3]]
    statements: list[str] = []

    def remember(connection, cursor, statement, *args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", remember)
    try:
        written = audit.record_bulk(
            AuditAction.DELETE, Task, Task.id.in_(chosen), "Soft-deleted in bulk", {"deleted_at": [None, "now"]}
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", remember)
    db.session.commit()
    assert written == 3
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.object_id)).all()
    assert sorted(int(entry.object_id) for entry in entries) == sorted(chosen)
    assert {entry.summary for entry in entries} == {"Soft-deleted in bulk"}
    assert entries[0].changes == {"deleted_at": [None, "now"]}
    assert sum("INSERT INTO audit_entries" in sql for sql in statements) == 1
