"""CSV exports: every cell exactly as Flask-Admin's own per-cell export writes it, in batches.

The export selects columns instead of ORM objects and formats by value type
(``webapp/admin/listing/export.py``; on PostgreSQL, in SQL: ``copy_export.py``); these tests pin
its output literally and hold it against Flask-Admin's ``get_export_value`` over the list's ORM
objects, for every exportable view.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests import factories
from tests.admin_support import app_serving, recorded_statements, text_of
from tests.conftest import Auth
from webapp.admin.listing import export
from webapp.admin.views.users import UserView
from webapp.extensions import db
from webapp.models import PostStatus, Task, TaskPriority, TaskStatus, User

pytestmark = pytest.mark.usefixtures("app_context")

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def flask_admin_csv(app: Flask, path: str) -> str:
    """The export at ``path`` as Flask-Admin writes it: ``get_export_value`` for each column of
    each ORM object of the list's own query."""
    with app.test_request_context(path):
        view = next(view for view in app.extensions["admin"][0]._views if path.startswith(f"{view.url}/export/"))
        names = [name for name, _label in view._export_columns]
        rows = [[label for _name, label in view._export_columns]]
        rows += [[view.get_export_value(record, name) for name in names] for record in view.export_query()]
        return export.csv_text(rows)


def exported(client: FlaskClient, path: str) -> str:
    response = client.get(path, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return text_of(response)


def varied_records() -> None:
    """Tasks, posts, users and tags with every kind of cell: tags in and out of name order, owners
    with and without a name, missing values, text a spreadsheet would run as a formula."""
    ops, backend, alpha = (factories.make_tag(name=name) for name in ("ops", "backend", "=alpha"))
    ada = factories.make_user(full_name="Ada Lovelace", email="ada@example.org", username="ada")
    nameless = factories.make_user(full_name="", email="nameless@example.org", username="nameless", is_active=False)
    mallory = factories.make_user(full_name="+Mallory", email="mallory@example.org", username="mallory")
    factories.make_task(
        title="=HYPERLINK(1)",
        owner=ada,
        status=TaskStatus.ACTIVE,
        priority=TaskPriority.CRITICAL,
        tags=[ops, backend],
        due_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        created_at=START,
        description='Line one,\nline "two"',
    )
    factories.make_task(title="Plain, with a comma", owner=nameless, tags=[], created_at=START - timedelta(hours=1))
    factories.make_task(title="-5", owner=mallory, tags=[alpha, ops], created_at=START - timedelta(hours=2))
    factories.make_task(title="Gone", owner=ada, deleted_at=START, created_at=START - timedelta(hours=3))
    factories.make_post(
        title="Launch", author=ada, status=PostStatus.PUBLISHED, tags=[backend], published_at=START, created_at=START
    )
    factories.make_post(title="@draft", author=mallory, tags=[], created_at=START - timedelta(hours=1))


def test_task_export_pins_every_kind_of_cell(client: FlaskClient, auth: Auth) -> None:
    varied_records()
    ids = {task.title: task.id for task in db.session.scalars(select(Task))}
    auth.login()
    assert exported(client, "/admin/task/export/csv/") == (
        "ID,Title,Owner,Status,Priority,Tags,Due,Description,Created\r\n"
        f'{ids["=HYPERLINK(1)"]},\'=HYPERLINK(1),Ada Lovelace <ada@example.org>,Active,Critical,"backend, ops",'
        '2030-01-02 03:04:05 UTC,"Line one,\nline ""two""",2026-03-01 12:00:00 UTC\r\n'
        f'{ids["Plain, with a comma"]},"Plain, with a comma",nameless@example.org,Pending,Medium,,,,'
        "2026-03-01 11:00:00 UTC\r\n"
        f"{ids['-5']},'-5,'+Mallory <mallory@example.org>,Pending,Medium,\"'=alpha, ops\",,,2026-03-01 10:00:00 UTC\r\n"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/admin/task/export/csv/",
        "/admin/task/export/csv/?sort=0&desc=1",
        "/admin/task/export/csv/?search=comma",
        "/admin/task/export/csv/?flt0_status_is=pending",
        "/admin/post/export/csv/",
        "/admin/user/export/csv/",
        "/admin/user/export/csv/?flt0_is_active_equals=0",
        "/admin/tag/export/csv/",
    ],
)
def test_every_export_writes_what_flask_admin_would(app: Flask, client: FlaskClient, auth: Auth, path: str) -> None:
    varied_records()
    auth.login()
    assert exported(client, path) == flask_admin_csv(app, path)


def python_export(app: Flask, path: str) -> str:
    """The export at ``path`` through ``ExportPlan`` (what SQLite gets, and PostgreSQL where a
    column cannot be written in SQL), called directly."""
    with app.test_request_context(path):
        view = next(view for view in app.extensions["admin"][0]._views if path.startswith(f"{view.url}/export/"))
        header = export.csv_text([[label for _name, label in view._export_columns]])
        return header + b"".join(export.ExportPlan(view).chunks(db.session(), view.export_query())).decode()


def test_relationships_cost_statements_per_batch_and_shared_records_load_once(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXPORT_BATCH_SIZE", 10)
    tags = [factories.make_tag() for _ in range(3)]
    owners = [factories.make_user() for _ in range(2)]
    for n in range(25):
        factories.make_task(owner=owners[n % 2], tags=tags[: n % 4], created_at=START - timedelta(minutes=n))
    with recorded_statements() as statements:
        text = python_export(app, "/admin/task/export/csv/")
    assert len(text.splitlines()) == 26
    tag_links = [statement for statement in statements if statement.lstrip().startswith("SELECT task_tags.task_id")]
    owner_loads = [statement for statement in statements if "FROM users" in statement]
    tag_loads = [statement for statement in statements if "FROM tags" in statement and "task_tags" not in statement]
    assert len(tag_links) == 3  # one per batch of 10
    assert len(owner_loads) == 1 and len(tag_loads) == 1  # kept for the batches after the first
    assert len(statements) == 1 + 3 + 1 + 1  # the rows, tag links per batch, owners, tags


def test_a_bounded_cache_of_related_records_gives_the_same_export(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "EXPORT_BATCH_SIZE", 4)
    monkeypatch.setattr(export, "RELATED_CACHE_SIZE", 3)
    owners = [factories.make_user() for _ in range(5)]
    tags = [factories.make_tag() for _ in range(5)]
    for n in range(20):
        factories.make_task(
            owner=owners[n * 7 % 5], tags=tags[n % 5 : n % 5 + 2], created_at=START - timedelta(minutes=n)
        )
    assert python_export(app, "/admin/task/export/csv/") == flask_admin_csv(app, "/admin/task/export/csv/")


def _shouting(view: Any, context: Any, user: User, name: str) -> str:
    return user.username.upper()


class DetailedUserView(UserView):
    """Columns the export cannot select: a Python property, a column with an export formatter,
    one with choices; and a one-to-many relationship, loaded through the tasks' foreign key."""

    column_export_list = ("email", "tasks", "is_deleted", "username", "full_name")
    column_formatters_export = {"username": _shouting}
    column_choices = {"full_name": [("Ada Lovelace", "Countess of Lovelace")]}


@pytest.fixture(scope="module")
def detailed_app(database_url: str) -> Iterator[Flask]:
    with app_serving(
        database_url, DetailedUserView(User, db, endpoint="detailed_user", url="/admin/detailed-user")
    ) as app:
        yield app


def test_columns_it_cannot_select_go_through_flask_admin_on_the_record(detailed_app: Flask) -> None:
    ada = factories.make_user(full_name="Ada Lovelace", email="ada@example.org", username="ada", created_at=START)
    factories.make_user(
        full_name="Idle", email="idle@example.org", username="idle", created_at=START - timedelta(hours=1)
    )
    factories.make_task(title="Only task", owner=ada)
    client = detailed_app.test_client()
    Auth(detailed_app, client).login()
    text = exported(client, "/admin/detailed-user/export/csv/")
    assert text == flask_admin_csv(detailed_app, "/admin/detailed-user/export/csv/")
    assert list(csv.reader(io.StringIO(text))) == [
        ["Email", "Tasks", "Is Deleted", "Username", "Full Name"],
        ["ada@example.org", "Only task", "no", "ADA", "Countess of Lovelace"],
        ["idle@example.org", "", "no", "IDLE", "Idle"],
    ]
