"""The preview's comparison of a file's rows with the records they name, done by the database:
for each kind of field, which changes it finds, what it keeps as the old value and what it shows."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest

from tests import factories
from tests.admin_support import recorded_statements
from webapp.extensions import db
from webapp.imports.fields import Memo
from webapp.imports.files import FileRefused, read_table
from webapp.imports.planning import Options, PlannedRow, Planner
from webapp.imports.specs import spec_for
from webapp.models import RowAction, TaskPriority, TaskStatus

pytestmark = pytest.mark.usefixtures("app_context")

ZONE = "Europe/Paris"


def plan(model: str, *lines: str, zone: str = ZONE) -> list[PlannedRow]:
    content = ("\r\n".join(lines) + "\r\n").encode()
    table = read_table(io.BytesIO(content), "file.csv", max_bytes=10**6, max_rows=10_000)
    planned = list(Planner(spec_for(model, zone), table, Options()).rows())
    db.session.rollback()
    return planned


def outcome(row: PlannedRow) -> tuple[RowAction, dict[str, Any], dict[str, Any]]:
    return row.action, row.previous, row.changes


def test_each_task_field_is_compared_as_the_export_writes_it() -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    bob = factories.make_user(email="bob@example.org", username="bob")
    ops = factories.make_tag(name="ops")
    factories.make_tag(name="zeta")
    due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    same = factories.make_task(
        title="Old", owner=ada, status=TaskStatus.ACTIVE, priority=TaskPriority.LOW, tags=[ops], due_at=due
    )
    same.description = ""
    edited = factories.make_task(
        title="Two", owner=ada, status=TaskStatus.PENDING, priority=TaskPriority.MEDIUM, description="keep"
    )
    db.session.commit()
    unchanged, changed = plan(
        "task",
        "ID,Title,Owner,Status,Priority,Tags,Due,Description",
        # The owner by username in another case, the status by value, the same moment in the
        # display zone, an empty description for an empty text: nothing changes.
        f"{same.id},Old,ADA,active,Low,ops,2030-01-02 04:04:05 CET,",
        # An empty status keeps the record's (it cannot be empty); an empty description empties it.
        f'{edited.id},Two!,Bob Builder <BOB@example.org>,,High,"zeta, ops",2030-07-01 09:30,',
    )
    assert outcome(unchanged) == (RowAction.UNCHANGED, {}, {})
    assert unchanged.expected_version == same.version
    assert outcome(changed) == (
        RowAction.UPDATE,
        {"title": "Two", "owner": ada.id, "priority": "medium", "tags": [], "due_at": None, "description": "keep"},
        {
            "title": ["Two", "Two!"],
            "owner": ["ada@example.org", "bob@example.org"],
            "priority": ["Medium", "High"],
            "tags": ["", "ops, zeta"],
            "due_at": [None, "2030-07-01 09:30:00 CEST"],
            "description": ["keep", None],
        },
    )
    assert changed.values == {
        "title": "Two!",
        "owner": bob.id,
        "priority": "high",
        "tags": ["ops", "zeta"],
        "due_at": "2030-07-01T07:30:00+00:00",
        "description": None,
    }


def test_a_moment_and_tags_emptied_are_changes_and_old_values_are_kept_exactly() -> None:
    owner = factories.make_user(email="ada@example.org", username="ada")
    ops = factories.make_tag(name="ops")
    task = factories.make_task(
        title="T", owner=owner, tags=[ops], due_at=datetime(2030, 3, 30, 23, 30, 0, 123456, tzinfo=UTC)
    )
    (row,) = plan("task", "ID,Title,Owner,Tags,Due", f"{task.id},T,ada,,")
    assert outcome(row) == (
        RowAction.UPDATE,
        {"tags": ["ops"], "due_at": "2030-03-30T23:30:00.123456+00:00"},
        {"tags": ["ops", ""], "due_at": ["2030-03-31 00:30:00 CET", None]},
    )
    # The same moment to the microsecond is no change; another fraction typed is one.
    (same,) = plan("task", "ID,Title,Owner,Due", f"{task.id},T,ada,2030-03-30T23:30:00.123456+00:00")
    (other,) = plan("task", "ID,Title,Owner,Due", f"{task.id},T,ada,2030-03-30T23:30:00.5+00:00")
    assert same.action is RowAction.UNCHANGED
    assert other.changes == {"due_at": ["2030-03-31 00:30:00 CET", "2030-03-31 00:30:00 CET"]}


def test_a_moment_without_a_fraction_is_the_stored_one_of_the_same_second_and_keeps_its_fraction() -> None:
    owner = factories.make_user(email="ada@example.org", username="ada")
    stored = datetime(2030, 3, 30, 23, 30, 0, 123456, tzinfo=UTC)
    task = factories.make_task(title="T", owner=owner, due_at=stored)
    whole = factories.make_task(title="W", owner=owner, due_at=stored.replace(microsecond=0))
    header = "ID,Title,Owner,Due"
    # As the export writes it (whole seconds), in ISO form, without seconds: the same second.
    for cell in ("2030-03-31 00:30:00 CET", "2030-03-30T23:30:00+00:00", "2030-03-31 00:30"):
        (row,) = plan("task", header, f"{task.id},T,ada,{cell}")
        assert outcome(row) == (RowAction.UNCHANGED, {}, {}), cell
    # Another second is a change; the old value is kept to the microsecond.
    (later,) = plan("task", header, f"{task.id},T,ada,2030-03-31 00:30:01 CET")
    assert outcome(later) == (
        RowAction.UPDATE,
        {"due_at": "2030-03-30T23:30:00.123456+00:00"},
        {"due_at": ["2030-03-31 00:30:00 CET", "2030-03-31 00:30:01 CET"]},
    )
    # A row that changes another field writes the record's own moment back, fraction and all.
    (retitled,) = plan("task", header, f"{task.id},T2,ada,2030-03-31 00:30:00 CET")
    assert outcome(retitled) == (RowAction.UPDATE, {"title": "T"}, {"title": ["T", "T2"]})
    assert retitled.values["due_at"] == "2030-03-30T23:30:00.123456+00:00"
    # A fraction typed against a whole second is compared exactly: a change.
    (fraction,) = plan("task", header, f"{whole.id},W,ada,2030-03-30T23:30:00.123456+00:00")
    assert fraction.changes == {"due_at": ["2030-03-31 00:30:00 CET", "2030-03-31 00:30:00 CET"]}


def test_user_fields_compare_texts_booleans_and_defaults() -> None:
    user = factories.make_user(email="ada@example.org", username="ada", full_name="Ada Lovelace", bio="")
    (kept, changed) = plan(
        "user",
        "ID,Email,Username,Full Name,Active,Bio",
        f"{user.id},ada@example.org,ada,Ada Lovelace,yes,",
        f"{user.id + 1000},ada2@example.org,ada2,,no,",
    )
    assert outcome(kept) == (RowAction.UNCHANGED, {}, {})
    # An empty full name empties it (to an empty text: the column is NOT NULL), as the form may;
    # an empty Active (a boolean, which cannot be empty) keeps the record's.
    (emptied,) = plan("user", "ID,Email,Username,Full Name,Active,Bio", f"{user.id},ada@example.org,ada,,,")
    assert outcome(emptied) == (RowAction.UPDATE, {"full_name": "Ada Lovelace"}, {"full_name": ["Ada Lovelace", ""]})
    assert emptied.values == {"email": "ada@example.org", "username": "ada", "full_name": "", "bio": None}
    assert changed.action is RowAction.REFUSED and changed.problems == [["ID", f"No user has the ID {user.id + 1000}."]]
    (edited,) = plan("user", "ID,Email,Username,Full Name,Active,Bio", f"{user.id},Ada@example.org,ada,Ada L.,no,Hi")
    assert outcome(edited) == (
        RowAction.UPDATE,
        {"email": "ada@example.org", "full_name": "Ada Lovelace", "is_active": True, "bio": ""},
        {
            "email": ["ada@example.org", "Ada@example.org"],
            "full_name": ["Ada Lovelace", "Ada L."],
            "is_active": ["yes", "no"],
            "bio": ["", "Hi"],
        },
    )


def test_posts_and_tags_compare_their_own_fields() -> None:
    author = factories.make_user(email="ada@example.org", username="ada")
    post = factories.make_post(title="P", author=author, published_at=datetime(2026, 3, 1, 12, tzinfo=UTC), content="c")
    tag = factories.make_tag(name="ops", color="#17a2b8")
    (unchanged,) = plan("post", "ID,Title,Author,Published,Content", f"{post.id},P,ada,2026-03-01 13:00,c")
    (published,) = plan("post", "ID,Title,Author,Published,Content", f"{post.id},P,ada,2026-03-01 14:00,c")
    assert outcome(unchanged) == (RowAction.UNCHANGED, {}, {})
    assert outcome(published) == (
        RowAction.UPDATE,
        {"published_at": "2026-03-01T12:00:00+00:00"},
        {"published_at": ["2026-03-01 13:00:00 CET", "2026-03-01 14:00:00 CET"]},
    )
    # An empty content empties it (the column is NOT NULL: to an empty text); an empty status keeps it.
    (emptied,) = plan("post", "ID,Title,Author,Status,Content", f"{post.id},P,ada,,")
    assert outcome(emptied) == (RowAction.UPDATE, {"content": "c"}, {"content": ["c", ""]})
    assert emptied.values == {"title": "P", "author": author.id, "content": ""}
    (coloured,) = plan("tag", "ID,Name,Colour", f"{tag.id},ops,#ffffff")
    assert outcome(coloured) == (RowAction.UPDATE, {"color": "#17a2b8"}, {"color": ["#17a2b8", "#ffffff"]})


def test_rows_naming_a_trashed_a_missing_or_an_already_named_record_are_refused() -> None:
    owner = factories.make_user(email="ada@example.org", username="ada")
    task, trashed = factories.make_task(title="T", owner=owner), factories.make_task(title="Gone", owner=owner)
    trashed.deleted_at = datetime.now(UTC)
    db.session.commit()
    rows = plan(
        "task",
        "ID,Title,Owner",
        f"{task.id},T,ada",
        f"{trashed.id},Gone,ada",
        "999999,New,ada",
        f"{task.id},Again,ada",
    )
    assert [(row.action, row.problems) for row in rows] == [
        (RowAction.UNCHANGED, []),
        (RowAction.REFUSED, [["ID", "This task is in the trash: restore it first."]]),
        (RowAction.REFUSED, [["ID", "No task has the ID 999999."]]),
        (RowAction.REFUSED, [["ID", "Row 2 already imports this task: keep one row per record."]]),
    ]


def test_a_file_refused_midway_leaves_no_comparison_table_behind() -> None:
    owner = factories.make_user(email="ada@example.org", username="ada")
    task = factories.make_task(title="T", owner=owner)
    lines = ["ID,Title,Owner", f"{task.id},T,ada", *(f",New {n},ada" for n in range(1500))]
    with pytest.raises(FileRefused, match="NUL"):
        plan("task", *lines, "\x00,x,ada")
    (row,) = plan("task", "ID,Title,Owner", f"{task.id},T,ada")
    assert row.action is RowAction.UNCHANGED


def test_repeated_dates_read_alike_and_a_refused_one_is_refused_on_each_row(monkeypatch: pytest.MonkeyPatch) -> None:
    # The planner remembers what each date was read as (and the field its shown forms); emptied
    # when full, here after every two.
    monkeypatch.setattr(Memo, "SIZE", 2)
    factories.make_user(email="ada@example.org", username="ada")
    db.session.commit()
    cells = [
        "2030-03-29 09:30",
        "2030-03-31 02:30",  # the clocks skip it
        "2030-03-29 09:30",
        "2030-10-27 02:30 CET",
        "2030-03-31 02:30",
        "2030-10-27 02:30 CEST",
        "2030-03-29 09:30",
        "2030-10-27 02:30 CET",
    ]
    rows = plan("task", "Title,Owner,Due", *(f"Task {n},ada,{cell}" for n, cell in enumerate(cells)))
    read = [
        (row.values["due_at"], row.changes["due_at"][1]) if row.action is RowAction.CREATE else row.problems
        for row in rows
    ]
    spring = ("2030-03-29T08:30:00+00:00", "2030-03-29 09:30:00 CET")
    skipped = [["Due", "2030-03-31 02:30 does not exist in Europe/Paris (the clocks skip it)."]]
    winter = ("2030-10-27T01:30:00+00:00", "2030-10-27 02:30:00 CET")
    summer = ("2030-10-27T00:30:00+00:00", "2030-10-27 02:30:00 CEST")
    assert read == [spring, skipped, spring, winter, skipped, summer, spring, winter]


def test_an_old_owner_or_author_not_named_in_the_file_is_shown_by_email_read_in_one_statement() -> None:
    factories.make_user(email="Bob@example.org", username="bob")
    olds = [factories.make_user(email=f"old{n}@example.org", username=f"old{n}") for n in range(3)]
    tasks = [factories.make_task(title=f"T{n}", owner=old) for n, old in enumerate(olds)]
    post = factories.make_post(title="P", author=olds[0])
    db.session.commit()
    with recorded_statements() as statements:
        rows = plan("task", "ID,Title,Owner", *(f"{task.id},{task.title},bob" for task in tasks))
    assert [row.changes for row in rows] == [{"owner": [old.email, "Bob@example.org"]} for old in olds]
    users_read = [sql for sql in statements if "FROM users" in sql]
    assert len(users_read) == 2, users_read  # the file's names, then the old owners: one statement each
    (row,) = plan("post", "ID,Title,Author", f"{post.id},P,Bob Builder <BOB@example.org>")
    assert row.changes == {"author": ["old0@example.org", "Bob@example.org"]}
