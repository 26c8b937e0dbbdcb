"""The audit trail's chains (on SQLite too, unless a test is marked postgres): every write path
hashes alike, tampering of each kind is named,
concurrent writers both commit, a rolled-back change leaves no link, pruning is bounded,
resumable and keeps the chains verifiable."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import event, func, select, text, update

from tests import factories
from webapp import audit, audit_chain
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import AuditAction, AuditEntry, AuditLink, Task

pytestmark = pytest.mark.usefixtures("app_context")

SECRET = "test-secret"
# Values whose text forms differ between naive JSON and jsonb: key order by length, escapes,
# non-ASCII, numbers that jsonb prints without an exponent, nesting, nulls and booleans.
AWKWARD_CHANGES: dict[str, Any] = {
    "title": ['a "quoted" \\ back\\slash\ttab\nnewline', "é ü 漢字 🙂 \u2028 \x7f"],
    "zz": [None, True],
    "a": [False, 0],
    "count": [1e-07, 1e20],
    "nested": [{"bbb": [1, 2.5], "a": {}}, []],
    "\x01ctl": ["\x1f", ""],
}
# The same without the floats jsonb prints otherwise than json (the fast path's values).
AWKWARD_TEXT = {key: value for key, value in AWKWARD_CHANGES.items() if key != "count"}


def bulk_entries(count: int, changes: dict[str, Any] | None = None) -> list[int]:
    """``count`` tasks and an entry each, through the set-based path; their task ids."""
    ids = [task.id for task in factories.make_tasks(count)]
    audit.record_bulk(AuditAction.UPDATE, Task, Task.id.in_(ids), "bulk", changes)
    db.session.commit()
    return ids


def entry_ids() -> list[int]:
    return list(db.session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def first_mismatch() -> audit_chain.Mismatch:
    report = audit_chain.verify(SECRET)
    assert not report.ok, "the tampering went unnoticed"
    return report.first()


@pytest.mark.postgres
def test_every_write_path_hashes_the_same_bytes_as_python_and_as_sql() -> None:
    task = factories.make_task()
    for changes in (AWKWARD_CHANGES, AWKWARD_TEXT):
        audit.record(AuditAction.UPDATE, task, changes=changes)  # the ORM's, hashed in Python
        audit.record_bulk(AuditAction.UPDATE, Task, Task.id == task.id, "bulk «x»", changes)  # in SQL
        rows = [audit.RowChange(AuditAction.UPDATE, task.id, "row", changes)]
        audit.record_rows(Task, rows, "batch-1")  # COPY, hashed in Python
    db.session.commit()
    db.session.expire_all()
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert len(entries) == 6
    content = {name: getattr(AuditEntry, name) for name in audit_chain.CONTENT_COLUMNS}
    in_sql = {
        row[0]: bytes(row[1]) for row in db.session.execute(select(AuditEntry.id, audit_chain.hash_expression(content)))
    }
    for entry in entries:
        assert entry.entry_hash == audit_chain.stored_entry_hash(entry) == in_sql[entry.id]
    assert audit_chain.verify(SECRET).ok


def test_one_transaction_is_one_link_and_the_chains_verify() -> None:
    bulk_entries(3)
    bulk_entries(2)
    links = db.session.scalars(select(AuditLink).order_by(AuditLink.id)).all()
    assert [link.entry_count for link in links] == [3, 2]
    report = audit_chain.verify(SECRET)
    assert report.ok, report.mismatches
    assert report.verified_up_to == max(entry_ids())


def test_changed_content_is_named() -> None:
    bulk_entries(3)
    target = entry_ids()[1]
    db.session.execute(update(AuditEntry).where(AuditEntry.id == target).values(summary="nothing happened"))
    db.session.commit()
    assert first_mismatch().entry_id == target


def test_changed_content_rehashed_is_caught_by_its_link() -> None:
    bulk_entries(3)
    first, target = entry_ids()[0], entry_ids()[1]
    entry = db.session.get(AuditEntry, target)
    entry.summary = "nothing happened"
    entry.entry_hash = audit_chain.stored_entry_hash(entry)
    db.session.commit()
    mismatch = first_mismatch()
    assert mismatch.entry_id == first and "rehashed" in mismatch.message


def test_a_deleted_entry_is_named() -> None:
    bulk_entries(3)
    target = entry_ids()[1]
    db.session.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": target})
    db.session.commit()
    mismatch = first_mismatch()
    assert mismatch.entry_id == target and "deleted" in mismatch.message


def test_an_inserted_entry_is_named_even_with_a_valid_hash() -> None:
    bulk_entries(2)
    link = db.session.scalar(select(AuditLink))
    forged = AuditEntry(
        id=max(entry_ids()) + 10,
        created_at=link.created_at,
        operator_email="",
        action=AuditAction.DELETE,
        model="Task",
        object_id="1",
        summary="forged",
        changes={},
        link_id=link.id,
    )
    forged.entry_hash = audit_chain.stored_entry_hash(forged)
    db.session.add(forged)
    db.session.commit()
    mismatch = first_mismatch()
    assert mismatch.entry_id == forged.id and "inserted" in mismatch.message


def test_an_entry_inserted_outside_any_link_is_named() -> None:
    bulk_entries(1)
    db.session.execute(
        text(
            "INSERT INTO audit_entries (operator_email, action, model, object_id, summary, changes, entry_hash)"
            " VALUES ('', 'delete', 'Task', '1', 'forged', '{}', '\\x00')"
        )
    )
    db.session.commit()
    assert first_mismatch().entry_id == max(entry_ids())


def test_reordered_links_are_named() -> None:
    bulk_entries(1)
    bulk_entries(1)
    bulk_entries(1)
    links = db.session.scalars(select(AuditLink).order_by(AuditLink.id)).all()
    # Written one after the other on one connection: its chain each time.
    assert len({link.chain for link in links}) == 1
    second, third = links[1], links[2]
    positions = second.position, third.position
    db.session.execute(update(AuditLink).where(AuditLink.id == second.id).values(position=-1))
    db.session.execute(update(AuditLink).where(AuditLink.id == third.id).values(position=positions[0]))
    db.session.execute(update(AuditLink).where(AuditLink.id == second.id).values(position=positions[1]))
    db.session.commit()
    report = audit_chain.verify(SECRET)
    # Walked in its new order, neither link follows the one before it; the first named is the lower.
    named = {m.entry_id for m in report.mismatches} - {None}
    assert named == {second.first_entry_id, third.first_entry_id}
    assert report.first().entry_id == second.first_entry_id and "reordered" in report.first().message


def test_removing_the_last_link_and_its_entries_is_noticed() -> None:
    bulk_entries(1)
    bulk_entries(1)
    last = db.session.scalar(select(AuditLink).order_by(AuditLink.id.desc()).limit(1))
    db.session.execute(text("DELETE FROM audit_entries WHERE link_id = :id"), {"id": last.id})
    db.session.execute(text("DELETE FROM audit_links WHERE id = :id"), {"id": last.id})
    db.session.commit()
    assert "last links were deleted" in first_mismatch().message


def test_a_rolled_back_change_leaves_no_link() -> None:
    task = factories.make_task()
    audit.record(AuditAction.UPDATE, task, changes={"title": ["a", "b"]})
    audit.record_bulk(AuditAction.UPDATE, Task, Task.id == task.id, "bulk")
    db.session.rollback()
    with db.session.begin_nested():
        pass
    savepoint = db.session.begin_nested()
    audit.record_bulk(AuditAction.UPDATE, Task, Task.id == task.id, "refused")
    savepoint.rollback()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(AuditLink)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 0
    bulk_entries(1)
    assert audit_chain.verify(SECRET).ok


@pytest.mark.postgres
def test_concurrent_writers_both_commit_and_the_chains_verify(app: Flask) -> None:
    task_ids = [task.id for task in factories.make_tasks(4)]
    both_wrote = threading.Barrier(2, timeout=20)
    failures: list[BaseException] = []

    def write(ids: list[int]) -> None:
        try:
            with app.app_context():
                audit.record_bulk(AuditAction.UPDATE, Task, Task.id.in_(ids), "concurrent")
                both_wrote.wait()  # both transactions are open, with entries, before either commits
                db.session.commit()
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)

    threads = [
        threading.Thread(target=write, args=(task_ids[:2],)),
        threading.Thread(target=write, args=(task_ids[2:],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures
    links = db.session.scalars(select(AuditLink)).all()
    assert len(links) == 2 and sum(link.entry_count for link in links) == 4
    assert audit_chain.verify(SECRET).ok


def test_verify_command_exits_non_zero_naming_the_entry_and_the_page_says_so(runner: FlaskCliRunner, auth: Any) -> None:
    auth.login()
    assert "never verified" in auth.client.get("/admin/audit/").get_data(as_text=True)
    bulk_entries(2)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    page = auth.client.get("/admin/audit/").get_data(as_text=True)
    assert f"verified up to entry {max(entry_ids())}" in page
    target = entry_ids()[0]
    db.session.execute(update(AuditEntry).where(AuditEntry.id == target).values(object_id="999"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and f"entry {target}" in result.output
    assert f"mismatch found at entry {target}" in auth.client.get("/admin/audit/").get_data(as_text=True)


# --- Pruning ------------------------------------------------------------------------------------


def deletes_of_entries() -> tuple[list[int], Any]:
    """The row counts of the DELETEs of audit_entries, as they run."""
    counts: list[int] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.startswith("DELETE FROM audit_entries"):
            counts.append(cursor.rowcount)

    return counts, seen


def test_prune_is_bounded_resumable_and_keeps_each_records_latest_entry() -> None:
    task_ids = bulk_entries(5)
    for _ in range(2):
        audit.record_bulk(AuditAction.UPDATE, Task, Task.id.in_(task_ids), "again")
        db.session.commit()
    future = utcnow() + timedelta(days=1)  # everything written so far is "old"
    counts, seen = deletes_of_entries()
    event.listen(db.engine, "after_cursor_execute", seen)
    try:
        first = audit_chain.prune_batch(future, SECRET, limit=2)
        db.session.commit()
        assert first.links == 1
        assert audit_chain.verify(SECRET).ok  # a stopped prune leaves verifiable chains
        while audit_chain.prune_batch(future, SECRET, limit=2):
            db.session.commit()
    finally:
        event.remove(db.engine, "after_cursor_execute", seen)
    assert counts and max(counts) <= 2
    kept = db.session.execute(select(AuditEntry.object_id, AuditEntry.summary)).all()
    assert sorted(kept) == sorted((str(task_id), "again") for task_id in task_ids)
    assert audit_chain.verify(SECRET).ok
    # The first two links had nothing to keep: gone, the checkpoint past them, signed.
    assert db.session.scalar(select(func.count()).select_from(AuditLink)) == 1
    messages = [m.message for m in audit_chain.verify("another-secret").mismatches]
    assert any(message.endswith("not signed with this SECRET_KEY") for message in messages), messages


def test_prune_removes_kept_entries_once_newer_ones_exist() -> None:
    task_ids = bulk_entries(2)
    future = utcnow() + timedelta(days=1)
    while audit_chain.prune_batch(future, SECRET, limit=100):
        db.session.commit()
    sealed = db.session.scalar(select(AuditLink))
    assert sealed.pruned_at is not None and sealed.kept_digest is not None
    audit.record_bulk(AuditAction.UPDATE, Task, Task.id.in_(task_ids), "newer")
    db.session.commit()
    while audit_chain.prune_batch(future, SECRET, limit=100):
        db.session.commit()
    assert set(db.session.scalars(select(AuditEntry.summary))) == {"newer"}
    assert audit_chain.verify(SECRET).ok


def test_prune_leaves_entries_newer_than_the_retention() -> None:
    bulk_entries(3)
    assert not audit_chain.prune_batch(utcnow() - timedelta(days=1), SECRET, limit=100)
    assert len(entry_ids()) == 3


def test_a_tampered_seal_is_noticed() -> None:
    bulk_entries(2)
    future = utcnow() + timedelta(days=1)
    while audit_chain.prune_batch(future, SECRET, limit=100):
        db.session.commit()
    kept = entry_ids()[0]
    db.session.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": kept})
    db.session.commit()
    assert "seal" in first_mismatch().message


def test_prune_command_needs_a_retention(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["audit", "prune"])
    assert result.exit_code == 1 and "AUDIT_RETENTION_DAYS is not set" in result.output


def test_prune_command_prunes_what_the_retention_says(make_app: Any) -> None:
    bulk_entries(2)
    retaining = make_app(AUDIT_RETENTION_DAYS="30")
    with retaining.app_context():  # the command runs in the context it finds
        result = retaining.test_cli_runner().invoke(args=["audit", "prune", "--batch-size", "5"])
    assert result.exit_code == 0 and "older than 30 days (0 removed)" in result.output, result.output
    assert len(entry_ids()) == 2


# --- A record's history stays fast ---------------------------------------------------------------


@pytest.mark.postgres
def test_a_records_history_is_read_from_its_index() -> None:
    db.session.execute(
        text(
            "INSERT INTO audit_entries (operator_email, action, model, object_id, summary, changes)"
            " SELECT '', 'update', 'Task', (n % 500)::text, 'x', '{}' FROM generate_series(1, 20000) AS n"
        )
    )
    db.session.commit()
    db.session.execute(text("ANALYZE audit_entries"))
    history = (
        select(AuditEntry)
        .where(AuditEntry.model == "Task", AuditEntry.object_id == "7")
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(50)
    )
    compiled = history.compile(db.engine, compile_kwargs={"literal_binds": True})
    plan = "\n".join(db.session.scalars(text(f"EXPLAIN {compiled}")))
    assert "ix_audit_entries_record_history" in plan and "Sort" not in plan, plan
    db.session.rollback()
