"""Importing CSV and .xlsx files through the admin: preview, refusals, apply, conflicts, undo."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests import factories
from tests.admin_support import count_rows, text_of
from tests.conftest import Auth
from webapp import audit_chain
from webapp.extensions import db
from webapp.models import (
    AuditEntry,
    ImportBatch,
    ImportRow,
    Post,
    PostStatus,
    Tag,
    Task,
    TaskPriority,
    TaskStatus,
    User,
)

pytestmark = pytest.mark.usefixtures("app_context")

MODELS = {"user": User, "task": Task, "post": Post, "tag": Tag}
BATCH_LINK = re.compile(r"/import/([0-9a-f-]{36})/")


def upload(
    client: FlaskClient, auth: Auth, model: str, content: bytes, filename: str = "file.csv", **options: str
) -> Any:
    """Send a file to the import form as a browser does; the answer after redirects."""
    token = auth.csrf_token(f"/admin/{model}/import/")
    # Encoded here, in memory: the test client would spool a large body to a file it never closes.
    boundary, body = encode_multipart(
        {"csrf_token": token, "file": FileStorage(io.BytesIO(content), filename), **options}
    )
    return client.post(
        f"/admin/{model}/import/upload/", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def batch_of(response: Any) -> str:
    match = BATCH_LINK.search(response.headers.get("Location", ""))
    assert match, f"no batch in {response.status_code} {response.headers.get('Location')}"
    return match.group(1)


def preview(client: FlaskClient, auth: Auth, model: str, content: bytes, **options: str) -> tuple[str, str]:
    response = upload(client, auth, model, content, **options)
    batch_id = batch_of(response)
    page = client.get(f"/admin/{model}/import/{batch_id}/")
    assert page.status_code == 200
    return batch_id, text_of(page)


def post_step(client: FlaskClient, auth: Auth, model: str, batch_id: str, step: str, **data: str) -> str:
    page = f"/admin/{model}/import/{batch_id}/"
    token = auth.csrf_token(page)
    response = client.post(f"{page}{step}/", data={"csrf_token": token, **data}, follow_redirects=True)
    assert response.status_code == 200
    return text_of(response)


def counts(batch_id: str) -> dict[str, int]:
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch_id)
    assert batch is not None
    return dict(batch.counts)


def csv_bytes(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


# A long text as forms take it: paragraphs, CRLF and LF, a quote, commas, a tab, 50,000 characters.
LONG_TEXT = ('First line, "quoted"\r\n\tindented\n\n' + "word " * 10_000).strip()


def varied_records() -> None:
    ada = factories.make_user(email="ada@example.org", username="ada", full_name="Ada Lovelace")
    mallory = factories.make_user(email="mallory@example.org", username="mallory", full_name="+Mallory")
    factories.make_user(email="quiet@example.org", username="quiet", full_name="", is_active=False, bio="kept")
    ops, alpha = factories.make_tag(name="ops"), factories.make_tag(name="=alpha", color="#17a2b8")
    factories.make_tag(name="'quoted")
    comma, quote = factories.make_tag(name="a, b"), factories.make_tag(name='say "hi", then')
    factories.make_task(
        title="=HYPERLINK(1)",
        owner=ada,
        status=TaskStatus.ACTIVE,
        priority=TaskPriority.CRITICAL,
        tags=[ops, alpha, comma, quote],
        due_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        description=LONG_TEXT,
    )
    factories.make_task(title="Plain, with a comma", owner=mallory, tags=[comma], description="")
    factories.make_task(title="'already quoted", owner=mallory, tags=[alpha])
    factories.make_task(title="'=quoted formula", owner=ada, status=TaskStatus.INACTIVE, tags=[])
    factories.make_post(
        title="Launch",
        author=ada,
        status=PostStatus.PUBLISHED,
        tags=[ops],
        published_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        content=LONG_TEXT,
    )
    factories.make_post(title="@draft", author=mallory, tags=[quote], content="")
    ada.bio = "=" + LONG_TEXT
    db.session.commit()


def snapshot(model: type[Any]) -> list[Any]:
    rows = db.session.scalars(select(model).order_by(model.id)).all()
    return [(_columns(row), sorted(tag.name for tag in getattr(row, "tags", []))) for row in rows]


def _columns(row: Any) -> list[tuple[str, str]]:
    return sorted((key, repr(value)) for key, value in vars(row).items() if not key.startswith("_"))


@pytest.mark.parametrize("model", list(MODELS))
def test_an_export_imported_again_changes_nothing(app: Flask, client: FlaskClient, auth: Auth, model: str) -> None:
    varied_records()
    auth.login()
    before = snapshot(MODELS[model])
    audit_before = count_rows(AuditEntry)
    exported = client.get(f"/admin/{model}/export/csv/").get_data()
    assert exported.startswith(b"ID,")
    batch_id, page = preview(client, auth, model, exported)
    total = count_rows(MODELS[model])
    assert counts(batch_id) == {"create": 0, "update": 0, "unchanged": total, "refused": 0}, page
    post_step(client, auth, model, batch_id, "apply")
    db.session.expire_all()
    assert snapshot(MODELS[model]) == before
    assert count_rows(AuditEntry) == audit_before


def test_tag_names_with_commas_and_quotes_are_quoted_in_the_export_and_read_back(
    client: FlaskClient, auth: Auth
) -> None:
    varied_records()
    auth.login()
    exported = client.get("/admin/task/export/csv/").get_data(as_text=True)
    # The cell holds "a, b", "say ""hi"", then", …: the names quoted as CSV fields, the cell quoted again.
    assert '""a, b""' in exported and '""say """"hi"""", then""' in exported
    owner = db.session.scalars(select(User).where(User.username == "ada")).one().email
    batch_id, page = preview(
        client, auth, "task", task_file(f',New,{owner},,,"""a, b"", ops, ""say """"hi"""", then""",')
    )
    assert counts(batch_id)["create"] == 1, page
    post_step(client, auth, "task", batch_id, "apply")
    created = db.session.scalars(select(Task).where(Task.title == "New")).one()
    assert sorted(tag.name for tag in created.tags) == ["a, b", "ops", 'say "hi", then']
    assert count_rows(Tag) == 5  # no tag "a" nor "b"


def task_file(*rows: str, header: str = "ID,Title,Owner,Status,Priority,Tags,Due") -> bytes:
    return csv_bytes(header, *rows)


def test_the_preview_counts_and_shows_changes_and_writes_no_record(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    factories.make_tag(name="ops")
    task = factories.make_task(title="Old title", owner=ada, priority=TaskPriority.LOW)
    auth.login()
    content = task_file(
        f"{task.id},New title,ada,Pending,High,ops,2030-01-02 10:00",
        ",Brand new,ADA@example.org,active,low,,",
        ",No owner,,Pending,Low,,",
    )
    audit_before = count_rows(AuditEntry)
    batch_id, page = preview(client, auth, "task", content)
    assert counts(batch_id) == {"create": 1, "update": 1, "unchanged": 0, "refused": 1}
    assert "Old title" in page and "New title" in page and "Owner cannot be empty." in page
    db.session.expire_all()
    assert count_rows(Task) == 1 and db.session.get(Task, task.id).title == "Old title"
    assert count_rows(AuditEntry) == audit_before


def test_all_or_nothing_refuses_a_file_with_one_bad_row(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    batch_id, _ = preview(client, auth, "task", task_file(",Good,ada,,,,", ",Bad,nobody,,,,"))
    page = post_step(client, auth, "task", batch_id, "apply", mode="all")
    assert "1 row is refused, so nothing was imported" in page
    assert count_rows(Task) == 0


def test_importing_the_valid_rows_leaves_the_refused_ones_out(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    batch_id, _ = preview(client, auth, "task", task_file(",Good,ada,,,,", ",Bad,nobody,,,,"))
    page = post_step(client, auth, "task", batch_id, "apply", mode="valid_rows")
    assert "1 created, 0 updated" in page
    assert [task.title for task in db.session.scalars(select(Task))] == ["Good"]


def test_an_apply_writes_audit_entries_under_the_batch(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    task = factories.make_task(title="Before", owner=ada)
    auth.login()
    batch_id, _ = preview(client, auth, "task", task_file(f"{task.id},After,ada,,,,", ",Created,ada,,,,"))
    post_step(client, auth, "task", batch_id, "apply")
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.batch_id == batch_id)).all()
    assert sorted(entry.action.value for entry in entries) == ["create", "update"]
    assert all(entry.summary == "Imported from file.csv" for entry in entries)
    updated = next(entry for entry in entries if entry.action.value == "update")
    assert updated.object_id == str(task.id) and updated.changes == {"title": ["Before", "After"]}
    created = next(entry for entry in entries if entry.action.value == "create")
    assert created.changes["title"] == [None, "Created"] and created.operator_email
    db.session.expire_all()
    assert db.session.get(Task, task.id).version == 2
    assert audit_chain.verify("test-secret").ok  # entries written from the planned rows hash alike


def test_the_audit_log_leads_to_the_import_and_its_undo(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    batch_id, _ = preview(client, auth, "task", task_file(",Created,ada,,,,"))
    post_step(client, auth, "task", batch_id, "apply")
    log = text_of(client.get("/admin/audit/"))
    assert f"/admin/audit/batch/{batch_id}" in log and "Imported from file.csv" in log
    created = db.session.scalars(select(Task)).one()
    history = text_of(client.get(f"/admin/audit/history/Task/{created.id}"))
    assert f"/admin/audit/batch/{batch_id}" in history
    found = client.get(f"/admin/audit/batch/{batch_id}")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/admin/task/import/{batch_id}/")
    result = text_of(client.get(found.headers["Location"]))
    assert "1 created" in result and "Undo this import" in result


def test_a_record_changed_after_the_preview_is_a_conflict(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    task = factories.make_task(title="Before", owner=ada)
    auth.login()
    batch_id, _ = preview(client, auth, "task", task_file(f"{task.id},From the file,ada,,,,"))
    task.title, task.version = "Someone else's", task.version  # a save meanwhile moves the version
    db.session.commit()
    page = post_step(client, auth, "task", batch_id, "apply")
    assert "1 record changed since the preview, so nothing was imported" in page
    db.session.expire_all()
    assert db.session.get(Task, task.id).title == "Someone else's"


def test_undo_trashes_created_records_and_restores_updated_ones(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    ops = factories.make_tag(name="ops")
    task = factories.make_task(title="Before", owner=ada, tags=[ops], priority=TaskPriority.LOW)
    other = factories.make_task(title="Other", owner=ada)
    auth.login()
    content = task_file(f"{task.id},After,ada,,High,,", f"{other.id},Other changed,ada,,,,", ",Created,ada,,,ops,")
    batch_id, _ = preview(client, auth, "task", content)
    post_step(client, auth, "task", batch_id, "apply")
    db.session.expire_all()
    edited = db.session.get(Task, other.id)
    edited.title = "Edited after the import"
    db.session.commit()
    page = post_step(client, auth, "task", batch_id, "undo")
    assert "1 moved away, 1 restored" in page and "left alone" in page.lower()
    db.session.expire_all()
    restored = db.session.get(Task, task.id)
    assert (restored.title, restored.priority, [tag.name for tag in restored.tags]) == (
        "Before",
        TaskPriority.LOW,
        ["ops"],
    )
    assert db.session.get(Task, other.id).title == "Edited after the import"
    created = db.session.scalars(select(Task).where(Task.title == "Created")).one()
    assert created.deleted_at is not None
    trashed = db.session.scalars(select(AuditEntry).where(AuditEntry.summary == "Moved to the trash")).one()
    assert (trashed.object_id, trashed.batch_id) == (str(created.id), batch_id)
    undo_entries = db.session.scalars(
        select(AuditEntry).where(AuditEntry.batch_id == batch_id, AuditEntry.summary.like("Undid%"))
    ).all()
    assert [entry.changes for entry in undo_entries] == [
        {"title": ["After", "Before"], "priority": ["High", "Low"], "tags": ["", "ops"]}
    ]


def test_undoing_a_tag_import_trashes_the_new_tag_and_renames_the_old_one_back(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    old = factories.make_tag(name="old", color="#111111")
    factories.make_task(title="Tagged", owner=ada, tags=[old])
    auth.login()
    content = csv_bytes("ID,Name,Colour", f"{old.id},renamed,#222222", ",brand new,#333333")
    batch_id, _ = preview(client, auth, "tag", content)
    assert counts(batch_id) == {"create": 1, "update": 1, "unchanged": 0, "refused": 0}
    post_step(client, auth, "tag", batch_id, "apply")
    db.session.expire_all()
    assert sorted((tag.name, tag.color) for tag in db.session.scalars(select(Tag))) == [
        ("brand new", "#333333"),
        ("renamed", "#222222"),
    ]
    page = post_step(client, auth, "tag", batch_id, "undo")
    assert "1 moved away, 1 restored" in page
    db.session.expire_all()
    assert [(tag.name, tag.color, tag.name_key) for tag in db.session.scalars(select(Tag).where(Tag.live()))] == [
        ("old", "#111111", "old")
    ]
    assert [tag.name for tag in db.session.scalars(select(Tag).where(Tag.trashed()))] == ["brand new"]


def test_undoing_a_user_import_moves_the_new_user_to_the_trash(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    batch_id, _ = preview(client, auth, "user", csv_bytes("Email,Username,Active", "new@example.org,new,no"))
    post_step(client, auth, "user", batch_id, "apply")
    created = db.session.scalars(select(User)).one()
    assert (created.email, created.is_active, created.full_name) == ("new@example.org", False, "")
    post_step(client, auth, "user", batch_id, "undo")
    db.session.expire_all()
    assert db.session.get(User, created.id).deleted_at is not None
    page = post_step(client, auth, "user", batch_id, "undo")
    assert "This import was undone already; nothing was changed." in page


def test_a_preview_left_unapplied_for_days_is_forgotten_at_the_next_upload(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    stale, _ = preview(client, auth, "task", task_file(",Old,ada,,,,"))
    batch = db.session.get(ImportBatch, stale)
    batch.created_at = datetime.now(UTC) - timedelta(days=3)
    db.session.commit()
    fresh, _ = preview(client, auth, "task", task_file(",New,ada,,,,"))
    db.session.expire_all()
    assert db.session.get(ImportBatch, stale) is None and db.session.get(ImportBatch, fresh) is not None
    assert count_rows(ImportRow, ImportRow.batch_id == stale) == 0


@pytest.mark.parametrize("model", ["task", "post"])
def test_dates_with_fractions_of_a_second_exported_and_imported_again_change_nothing(
    client: FlaskClient, auth: Auth, model: str
) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    moment = datetime(2026, 12, 4, 13, 16, 52, 123456, tzinfo=UTC)
    if model == "task":
        records = [factories.make_task(title=f"Fraction {n}", owner=ada, due_at=moment) for n in range(3)]
    else:
        records = [factories.make_post(title=f"Fraction {n}", author=ada, published_at=moment) for n in range(3)]
    auth.login()
    before = snapshot(MODELS[model])
    audit_before = count_rows(AuditEntry)
    exported = client.get(f"/admin/{model}/export/csv/").get_data()
    assert b".123456" not in exported  # the export writes whole seconds
    batch_id, page = preview(client, auth, model, exported)
    assert counts(batch_id) == {"create": 0, "update": 0, "unchanged": 3, "refused": 0}, page
    post_step(client, auth, model, batch_id, "apply")
    db.session.expire_all()
    assert snapshot(MODELS[model]) == before and count_rows(AuditEntry) == audit_before
    # A row changing another field leaves the date as it was, to the microsecond.
    batch_id, page = preview(client, auth, model, exported.replace(b"Fraction 1", b"Retitled"))
    assert counts(batch_id) == {"create": 0, "update": 1, "unchanged": 2, "refused": 0}, page
    post_step(client, auth, model, batch_id, "apply")
    db.session.expire_all()
    retitled = db.session.get(MODELS[model], records[1].id)
    assert retitled.title == "Retitled"
    assert (retitled.due_at if model == "task" else retitled.published_at) == moment
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.batch_id == batch_id)).one()
    assert entry.changes == {"title": ["Fraction 1", "Retitled"]}


def test_an_empty_cell_empties_a_text_that_may_be_empty_and_keeps_a_status(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada", full_name="Ada Lovelace", bio="A bio")
    post = factories.make_post(title="P", author=ada, status=PostStatus.PUBLISHED, content="Some content")
    auth.login()
    batch_id, page = preview(client, auth, "post", csv_bytes("ID,Title,Author,Status,Content", f"{post.id},P,ada,,"))
    assert counts(batch_id)["update"] == 1, page
    post_step(client, auth, "post", batch_id, "apply")
    users = csv_bytes("ID,Email,Username,Full Name,Active,Bio", f"{ada.id},ada@example.org,ada,,,")
    batch_id, page = preview(client, auth, "user", users)
    assert counts(batch_id)["update"] == 1, page
    post_step(client, auth, "user", batch_id, "apply")
    db.session.expire_all()
    emptied = db.session.get(Post, post.id)
    assert (emptied.content, emptied.status) == ("", PostStatus.PUBLISHED)
    user = db.session.get(User, ada.id)
    assert (user.full_name, user.bio, user.is_active) == ("", None, True)
