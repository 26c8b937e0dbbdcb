"""List pages: constant statement count, indexed filters, search, order, export and readable values."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import recorded_statements, text_of
from tests import conftest
from tests.conftest import Auth
from webapp import create_app
from webapp.extensions import db
from webapp.models import TaskPriority, TaskStatus

pytestmark = pytest.mark.usefixtures("app_context")


@pytest.mark.parametrize("path", ["/admin/task/", "/admin/post/", "/admin/user/", "/admin/tag/"])
def test_list_page_costs_the_same_few_statements_whatever_its_size(client: FlaskClient, auth: Auth, path: str) -> None:
    tags = [factories.make_tag() for _ in range(3)]
    owners = [factories.make_user() for _ in range(3)]
    for n in range(120):
        factories.make_task(owner=owners[n % 3], tags=tags[: n % 4])
    for n in range(3):
        factories.make_post(author=owners[n], tags=tags)
    auth.login()
    counts = []
    for page_size in (20, 100):
        with recorded_statements() as statements:
            response = client.get(f"{path}?page_size={page_size}")
        assert response.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 6, counts


def test_status_and_priority_filters_are_equality_not_text_search(client: FlaskClient, auth: Auth) -> None:
    factories.make_task(title="Hot one", status=TaskStatus.ACTIVE, priority=TaskPriority.CRITICAL)
    factories.make_task(title="Cold one", status=TaskStatus.INACTIVE, priority=TaskPriority.LOW)
    auth.login()
    listing = text_of(client.get("/admin/task/"))
    assert '"operation": "is"' in listing or "&#34;is&#34;" in listing or '"is"' in listing
    with recorded_statements() as statements:
        html = text_of(client.get("/admin/task/?flt0_status_is=active&flt1_priority_is=critical"))
    assert "Hot one" in html and "Cold one" not in html
    assert not any("LIKE" in statement.upper() for statement in statements)
    bogus = client.get("/admin/task/?flt0_status_is=Active%25")
    assert bogus.status_code == 200 and "Invalid Filter Value" in text_of(bogus)


def test_owner_filter_matches_email_or_username_exactly(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    factories.make_task(title="Ada's", owner=ada)
    factories.make_task(title="Someone else's", owner=factories.make_user(email="adam@example.org"))
    auth.login()
    for value in ("ADA@example.org", "ada"):
        html = text_of(client.get(f"/admin/task/?flt0_owner_is_email_or_username={value}"))
        assert "Ada&#39;s" in html and "Someone else" not in html


def test_date_range_filter_reads_times_in_the_display_zone(client: FlaskClient, auth: Auth) -> None:
    factories.make_task(title="In range", due_at=datetime(2030, 3, 10, 12, tzinfo=timezone.utc))
    factories.make_task(title="Out of range", due_at=datetime(2030, 4, 10, 12, tzinfo=timezone.utc))
    auth.login()
    html = text_of(client.get("/admin/task/?flt0_due_between=2030-03-01 00:00:00 to 2030-03-31 23:59:59"))
    assert "In range" in html and "Out of range" not in html


def test_search_covers_the_text_columns(client: FlaskClient, auth: Auth) -> None:
    factories.make_task(title="Invoice export", description="")
    factories.make_task(title="Other", description="Mentions the invoice too")
    factories.make_task(title="Unrelated")
    auth.login()
    html = text_of(client.get("/admin/task/?search=INVOICE"))
    assert "Invoice export" in html and "Other" in html and "Unrelated" not in html
    factories.make_user(username="grace_h", email="g@example.org")
    assert "grace_h" in text_of(client.get("/admin/user/?search=grace"))


def test_newest_records_come_first(client: FlaskClient, auth: Auth) -> None:
    factories.make_task(title="Oldest", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc))
    factories.make_task(title="Newest", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    factories.make_task(title="Middle", created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    auth.login()
    html = text_of(client.get("/admin/task/"))
    assert html.index("Newest") < html.index("Middle") < html.index("Oldest")


def test_csv_export_streams_the_filtered_live_rows_as_plain_text(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="ops")
    owner = factories.make_user(full_name="Ada Lovelace", email="ada@example.org")
    factories.make_task(title="=HYPERLINK(1)", owner=owner, status=TaskStatus.ACTIVE, tags=[tag],
                        due_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    factories.make_task(title="Filtered out", status=TaskStatus.PENDING)
    factories.make_task(title="Deleted", status=TaskStatus.ACTIVE, deleted_at=datetime.now(timezone.utc))
    auth.login()
    response = client.get("/admin/task/export/csv/?flt0_status_is=active", buffered=False)
    assert response.is_streamed and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text_of(response))))
    assert rows[0] == ["Title", "Owner", "Status", "Priority", "Tags", "Due", "Created"]
    assert len(rows) == 2
    title, owner_cell, status, priority, tags, due, _ = rows[1]
    assert title == "'=HYPERLINK(1)"  # a spreadsheet must not run it
    assert (owner_cell, status, priority, tags, due) == (
        "Ada Lovelace <ada@example.org>", "Active", "Medium", "ops", "2030-01-02 03:04:05 UTC"
    )


@pytest.fixture
def paris_client(database_url: str, app: Flask) -> Iterator[tuple[Flask, FlaskClient]]:
    paris = create_app(env=conftest.test_env(database_url, DISPLAY_TIMEZONE="Europe/Paris"))
    yield paris, paris.test_client()
    with paris.app_context():
        db.engine.dispose()


def test_values_are_shown_for_people(paris_client: tuple[Flask, FlaskClient]) -> None:
    paris, client = paris_client
    factories.make_user(is_active=False, email="idle@example.org")
    factories.make_task(
        title="T" * 120, status=TaskStatus.PENDING, priority=TaskPriority.CRITICAL,
        due_at=datetime(2030, 1, 15, 11, 30, 59, 123456, tzinfo=timezone.utc),
        description="Long description " * 20, metadata_={"sprint": 12},
    )
    paris_auth = Auth(paris, client)
    paris_auth.login()
    html = text_of(client.get("/admin/task/"))
    assert '<time datetime="2030-01-15T11:30:59.123456+00:00" title="2030-01-15 12:30:59 CET">2030-01-15 12:30</time>' in html
    assert "Critical" in html and ">critical<" not in html
    assert f'<span title="{"T" * 120}">{"T" * 79}…</span>' in html  # truncated, the full text on hover
    details = text_of(client.get("/admin/task/details/?id=1"))
    assert "Long description " * 5 in details and "&#34;sprint&#34;: 12" in details
    users = text_of(client.get("/admin/user/"))
    assert 'fa-minus-circle text-muted" title="No"' in users


def test_counts_use_thousands_separators(client: FlaskClient, auth: Auth) -> None:
    factories.make_tasks(1234)
    auth.login()
    assert "List (1,234)" in text_of(client.get("/admin/task/?page_size=20"))
