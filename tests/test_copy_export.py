"""On PostgreSQL the CSV export is one ``COPY``, and its file is the Python export's, byte for byte.

Every exportable list (tasks, posts, users, tags) is filled with every awkward value (empty and
missing cells, quotes, commas, line breaks, non-ASCII, cells a spreadsheet would run, cells already
guarded, names a tag list must quote, times at DST changes and in odd zones, trashed tags and
rows) and exported both ways, called directly and through the export's URL, with the list's
filters, searches and sorts; and read in two parts (its first rows a row at a time, the rest
joined once), across many chunks, with equal rows in the sort and records changed meanwhile.
"""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.conftest import AppFactory, Auth, vacuum_analyze
from tests.e2e.stack import libpq_url
from tests.monitoring_support import FORGET_STATEMENTS
from webapp.admin import compat
from webapp.admin.listing import copy_export
from webapp.admin.listing.copy_export import CopyPlan
from webapp.admin.listing.export import ExportPlan, csv_text
from webapp.admin.views.users import UserView
from webapp.database import inlined
from webapp.extensions import db
from webapp.models import PostStatus, Tag, TaskPriority, TaskStatus, User

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("app_context")]

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEXTS = [
    "",
    "plain",
    "comma, inside",
    'quote " inside',
    '"quoted"',
    "line\nbreak",
    "carriage\rreturn",
    "both\r\nends",
    "\n",
    " leading and trailing ",
    "Ünïcödé ✓ 日本語 😀",
    "=SUM(A1)",
    "+1",
    "-1",
    "@me",
    "\tafter a tab",
    "\rafter a CR",
    "'=already guarded",
    "''=twice",
    "'",
    "'plain quote",
    "\\.",
    "back\\slash",
    "semi;colon",
    "a" * 200,
    "NULL",
]
# Tag names are stored normalised: no tabs or line breaks there.
TAG_NAMES = ["ops", "a, b", 'say "hi"', "=alpha", "'+quoted", "-minus", "@at", "Äpfel", '"', 'x,y,"z"', "日本"]
# Each side of the DST changes in Paris and New York, Lord Howe's half hour, a second before
# midnight with its fraction, local mean time, a year Python does not pad, the far future.
STAMPS = [
    datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 0, 0, tzinfo=UTC),
    datetime(2026, 4, 4, 15, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
    datetime(1800, 1, 1, 0, 0, 0, tzinfo=UTC),
    datetime(999, 5, 5, 5, 5, 5, tzinfo=UTC),
    datetime(2100, 7, 1, 12, 0, 0, tzinfo=UTC),
]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Pacific/Guam", "Australia/Lord_Howe", "Asia/Kolkata"]


def awkward_records() -> dict[str, Any]:
    """Users, tags, tasks and posts with every awkward value; the ids the paths refer to."""
    tags = [factories.make_tag(name=name, color="#17a2b8") for name in TAG_NAMES]
    trashed = factories.make_tag(name="trashed", deleted_at=START)
    users = [
        factories.make_user(
            email=f"person{n}@example.org",
            username=f"person{n}",
            full_name=name,
            bio=None if n % 4 == 0 else TEXTS[(n * 7) % len(TEXTS)],
            is_active=n % 3 != 0,
            created_at=START - timedelta(days=n),
        )
        for n, name in enumerate(["", "Ada Lovelace", "=cmd", "Comma, Name", 'Quote "Q"', "Line\nName", "日本 太郎"])
    ]
    for n, title in enumerate(TEXTS):
        owner = users[n % len(users)]
        chosen = [*tags[n % len(tags) : n % len(tags) + n % 4], *([trashed] if n % 5 == 0 else [])]
        factories.make_task(
            title=title,
            owner=owner,
            status=list(TaskStatus)[n % len(TaskStatus)],
            priority=list(TaskPriority)[n % len(TaskPriority)],
            tags=chosen,
            due_at=None if n == 0 else STAMPS[n % len(STAMPS)] + timedelta(minutes=n),
            description=None if n % 6 == 0 else TEXTS[(n + 3) % len(TEXTS)],
            created_at=STAMPS[n % len(STAMPS)] - timedelta(minutes=n),
        )
        factories.make_post(
            title=title,
            author=owner,
            status=list(PostStatus)[n % len(PostStatus)],
            tags=chosen,
            published_at=None if n == 1 else STAMPS[(n + 1) % len(STAMPS)] + timedelta(minutes=n),
            content=TEXTS[(n + 5) % len(TEXTS)],
            created_at=START - timedelta(minutes=n),
        )
    factories.make_task(title="Trashed task", owner=users[1], tags=tags[:2], deleted_at=START)
    factories.make_post(title="Trashed post", author=users[1], deleted_at=START)
    return {"tag": tags[1].id, "user": users[1].id}


# Sorted columns hold unique values (an equal pair's order is nobody's), but for one NULL.
PATHS = {
    "task": [
        "",
        "?sort=0",
        "?sort=0&desc=1",
        "?sort=5",
        "?sort=6&desc=1",
        "?search=comma",
        "?search=日本語",
        "?search=%22",
        "?search=plain+quote",
        "?flt0_status_is=pending",
        "?flt0_priority_is=critical&sort=0",
        "?flt0_owner_is={user}",
        "?flt0_tag_is={tag}&sort=0&desc=1",
        "?flt0_due_between=2026-01-01 00:00:00 to 2026-12-31 23:59:59",
        "?flt0_status_is=active&search=a",
    ],
    "post": ["", "?sort=0", "?sort=4&desc=1", "?search=quote", "?flt0_status_is=published", "?flt0_tag_is={tag}"],
    "user": ["", "?sort=0&desc=1", "?sort=2", "?search=person1", "?flt0_is_active_equals=0"],
    "tag": ["", "?sort=0&desc=1", "?search=a"],
}


def view_at(app: Flask, path: str) -> Any:
    return next(
        view for view in compat.registered_views(app.extensions["admin"][0]) if path.startswith(f"{view.url}/export/")
    )


def both_exports(app: Flask, path: str) -> tuple[bytes, bytes]:
    """The export at ``path`` through Python and through COPY, each called directly."""
    with app.test_request_context(path):
        view = view_at(app, path)
        header = csv_text([[label for _name, label in compat.export_columns(view)]]).encode()
        python = b"".join(ExportPlan(view).chunks(db.session(), view.export_query()))
        plan = CopyPlan.for_view(view)
        assert plan is not None, f"{path}: every column can be written in SQL"
        # Last: the COPY's transaction shows times in the display zone's style, not psycopg2's.
        copied = b"".join(plan.chunks(db.session(), view.export_query()))
        db.session.rollback()
    return header + python, header + copied


JOINING = ("task", "post")  # the lists whose export names related records (owners, tags)


def read_in_two_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every export read in two parts, its first four rows a row at a time, each row a chunk."""
    monkeypatch.setattr(copy_export, "HEAD_ROWS", 4)
    monkeypatch.setattr(copy_export, "TWO_PARTS_ABOVE", -1)
    monkeypatch.setattr(copy_export, "TWO_PARTS_SHARE", 0)
    monkeypatch.setattr(copy_export, "CHUNK_BYTES", 1)


@pytest.fixture
def in_two_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    read_in_two_parts(monkeypatch)


def copy_text(app: Flask, path: str) -> bytes:
    """The COPY statement the export at ``path`` runs."""
    with app.test_request_context(path):
        view = view_at(app, path)
        plan = CopyPlan.for_view(view)
        assert plan is not None
        connection, query = db.session.connection(), view.export_query()
        statement = plan.copy_statement(connection, query, two_parts=plan.set_up(connection, query))
        db.session.rollback()
    return statement


def downloaded(client: FlaskClient, path: str) -> bytes:
    response = client.get(path, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return response.get_data()


@pytest.mark.parametrize("parts", [1, 2])
@pytest.mark.parametrize("model", PATHS)
def test_copy_writes_the_python_exports_bytes_in_every_list_state(
    app: Flask, client: FlaskClient, auth: Auth, monkeypatch: pytest.MonkeyPatch, model: str, parts: int
) -> None:
    if parts == 2:
        read_in_two_parts(monkeypatch)
    ids = awkward_records()
    auth.login()
    # Users and tags join nothing: their exports stream a row at a time whatever their size.
    assert (b"export_head" in copy_text(app, f"/admin/{model}/export/csv/")) == (parts == 2 and model in JOINING)
    for arguments in PATHS[model]:
        path = f"/admin/{model}/export/csv/{arguments.format(**ids)}"
        python, copied = both_exports(app, path)
        assert python.count(b"\r\n") > 1, f"{path} exports rows"
        assert copied == python, path
        assert downloaded(client, path) == python, path


@pytest.mark.parametrize("zone", ZONES)
def test_times_are_the_python_exports_in_every_display_zone(make_app: AppFactory, zone: str) -> None:
    zoned = make_app(DISPLAY_TIMEZONE=zone)
    with zoned.app_context():
        awkward_records()
        for model in ("task", "post", "user", "tag"):
            python, copied = both_exports(zoned, f"/admin/{model}/export/csv/")
            assert copied == python, (zone, model)


def statements_like(database_url: str, pattern: str) -> list[str]:
    with closing(psycopg2.connect(libpq_url(database_url))) as direct, direct.cursor() as cursor:
        cursor.execute(
            "SELECT query FROM pg_stat_statements WHERE toplevel AND query ~ %s"
            " AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (pattern,),
        )
        return [query for (query,) in cursor.fetchall()]


def forget_statements(database_url: str) -> None:
    with closing(psycopg2.connect(libpq_url(database_url))) as direct, direct.cursor() as cursor:
        cursor.execute(FORGET_STATEMENTS)
        direct.commit()


def test_postgresql_exports_through_one_copy(client: FlaskClient, auth: Auth, database_url: str) -> None:
    awkward_records()
    auth.login()
    forget_statements(database_url)
    assert downloaded(client, "/admin/task/export/csv/?flt0_status_is=active").count(b"\r\n") > 1
    copies = statements_like(database_url, r"^COPY \(SELECT")
    assert len(copies) == 1 and copies[0].endswith("TO STDOUT WITH (FORMAT csv, ENCODING 'UTF8')")
    assert "'active'" in copies[0], "the filter's value inlined into the COPY"
    assert statements_like(database_url, r"^DECLARE .* CURSOR") == [], "no batches read through a cursor"


class PropertyUserView(UserView):
    """An export column SQL cannot write: a Python property."""

    column_export_list = ("email", "is_deleted")


def test_a_column_sql_cannot_write_keeps_the_whole_export_in_python() -> None:
    assert CopyPlan.for_view(PropertyUserView(User, db, endpoint="property_user")) is None


def test_tag_names_in_sql_are_their_str() -> None:
    tag = factories.make_tag(name='say "hi", =now')
    shown = db.session.scalar(db.select(Tag.display_name).where(Tag.id == tag.id))
    assert shown == str(tag)
    nameless = factories.make_user(full_name="")
    assert db.session.scalar(db.select(User.display_name).where(User.id == nameless.id)) == str(nameless)


@pytest.mark.usefixtures("in_two_parts")
def test_equal_rows_in_the_sort_are_each_sent_once_in_the_same_order(app: Flask) -> None:
    awkward_records()
    owner = factories.make_user()
    for n in range(12):  # a dozen equal in status and priority, across the parts' boundary
        factories.make_task(title=f"Equal {n}", owner=owner, status=TaskStatus.PENDING, priority=TaskPriority.LOW)
    for arguments in ("?sort=2", "?sort=3&desc=1", "?sort=2&flt0_priority_is=low"):
        python, copied = both_exports(app, f"/admin/task/export/csv/{arguments}")
        assert copied == python, arguments
        lines = copied.split(b"\r\n")
        assert len(set(lines)) == len(lines), f"{arguments}: no row twice"


@pytest.mark.usefixtures("in_two_parts")
def test_records_changed_during_an_export_in_two_parts_do_not_change_its_file(app: Flask, database_url: str) -> None:
    awkward_records()
    path = "/admin/task/export/csv/"
    before, _copied = both_exports(app, path)
    with app.test_request_context(path):
        view = view_at(app, path)
        plan = CopyPlan.for_view(view)
        assert plan is not None
        chunks = plan.chunks(db.session(), view.export_query())
        first = next(chunks)
        with closing(psycopg2.connect(libpq_url(database_url))) as other, other.cursor() as cursor:
            cursor.execute("UPDATE tasks SET title = 'Changed', created_at = now() WHERE title = 'plain'")
            cursor.execute("DELETE FROM tasks WHERE title = '@me'")
            cursor.execute("UPDATE tags SET name = 'renamed' WHERE name = 'ops'")
            other.commit()
        copied = first + b"".join(chunks)
        db.session.rollback()
    header = before.split(b"\r\n", 1)[0] + b"\r\n"
    assert header + copied == before


def test_a_list_is_read_in_two_parts_only_when_it_is_a_good_share_of_its_table(
    app: Flask, auth: Auth, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The joined part aggregates the tag lists of the whole table: for a list filtered to a
    small part of a large table it would take longer than reading that list a row at a time."""
    monkeypatch.setattr(copy_export, "TWO_PARTS_ABOVE", -1)
    factories.make_many_tasks(190, status=TaskStatus.PENDING)
    factories.make_many_tasks(10, status=TaskStatus.ACTIVE)
    vacuum_analyze("tasks")
    auth.login()

    assert b"export_head" in copy_text(app, "/admin/task/export/csv/")
    assert b"export_head" not in copy_text(app, "/admin/task/export/csv/?flt0_status_is=active")


def plan_nodes(node: dict[str, Any]) -> list[str]:
    return [node["Node Type"], *(name for child in node.get("Plans", []) for name in plan_nodes(child))]


@pytest.mark.usefixtures("in_two_parts")
def test_the_two_parts_come_from_one_plain_append_in_turn(app: Flask) -> None:
    """What the order of an export in two parts rests on: PostgreSQL's ``Append`` reads its parts
    one after the other, each in its own order, with no parallel worker to mix them and no
    ``Merge Append`` to interleave them. A plan of another shape fails here before a file does."""
    awkward_records()
    path = "/admin/task/export/csv/?sort=2"
    with app.test_request_context(path):
        view = view_at(app, path)
        plan = CopyPlan.for_view(view)
        assert plan is not None
        connection, query = db.session.connection(), view.export_query()
        assert plan.set_up(connection, query), "read in two parts"
        select_text = inlined(connection, plan.two_part_select(query)).decode()
        explained = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {select_text}").scalar_one()
        db.session.rollback()
    top = explained[0]["Plan"]
    nodes = plan_nodes(top)
    members = [child for child in top.get("Plans", []) if child.get("Parent Relationship") == "Member"]
    assert top["Node Type"] == "Append" and len(members) == 2, nodes
    assert not {"Gather", "Gather Merge", "Merge Append"} & set(nodes), nodes
