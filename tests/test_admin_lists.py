"""List pages: constant statement count, indexed filters, search, order, export and readable values."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests import conftest, factories
from tests.admin_support import get_as_deployed, post_form, recorded_statements, text_of
from tests.conftest import Auth, vacuum_analyze
from webapp import create_app
from webapp.admin.listing.keyset import encode_cursor
from webapp.extensions import db
from webapp.models import Task, TaskPriority, TaskStatus

pytestmark = pytest.mark.usefixtures("app_context")


@pytest.mark.parametrize(
    "path", ["/admin/task/", "/admin/post/", "/admin/user/", "/admin/tag/", "/admin/audit/", "/admin/operator/"]
)
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
        response, statements = get_as_deployed(client, f"{path}?page_size={page_size}")
        assert response.status_code == 200
        counts.append(len(statements))
    # Four at most, as a worker serves the page: the sign-in check (the session row with its
    # operator), the count (the planner's estimate and a capped count in one), the page, and the
    # menu's saved views however many there are (tests/test_saved_views.py). The audit log has no
    # count but its chains' last verification.
    assert counts[0] == counts[1] <= 4, (counts, statements)


def test_the_count_shows_a_record_the_operator_just_created(client: FlaskClient, auth: Auth) -> None:
    """Nothing of a count is kept between requests: the next page counts the operator's own write."""
    owner = factories.make_user()
    for _ in range(3):
        factories.make_task(owner=owner)
    auth.login()

    def tab(path: str) -> str:
        response, _statements = get_as_deployed(client, path)
        return re.search(r"List \((.*?)\)", text_of(response)).group(1)

    assert (tab("/admin/task/"), tab("/admin/task/?search=Ship")) == ("3", "0")
    new_task = {"title": "Ship it", "owner": owner.id, "status": "active", "priority": "low"}
    assert post_form(client, auth, "/admin/task/new/", new_task).status_code == 302
    assert (tab("/admin/task/"), tab("/admin/task/?search=Ship")) == ("4", "1")


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


def test_owner_filter_keeps_the_picked_persons_id_and_shows_who_it_is(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada", full_name="Ada Lovelace")
    factories.make_task(title="Ada's", owner=ada)
    factories.make_task(title="Someone else's", owner=factories.make_user(email="adam@example.org"))
    auth.login()
    client.get("/admin/task/")  # the first page of a session reads more (the operator, the theme)
    with recorded_statements() as plain:
        client.get("/admin/task/")
    with recorded_statements() as statements:
        html = text_of(client.get(f"/admin/task/?flt0_owner_is={ada.id}"))
    assert "Ada&#39;s" in html and "Someone else" not in html
    pickers = json.loads(unescape(html.split('id="filter-pickers-data" class="d-none">')[1].split("</div>")[0]))
    assert pickers["owner_is"]["url"] == "/admin/task/ajax/lookup/?name=owner"
    assert pickers["owner_is"]["chosen"] == {str(ada.id): "Ada Lovelace <ada@example.org>"}
    assert len(statements) == len(plain) + 1, "the picked person's label: one statement"


@pytest.mark.parametrize("value", ["ada", "-1", "99999999999999999999", "1.5"])
def test_owner_filter_refuses_what_is_not_an_id(client: FlaskClient, auth: Auth, value: str) -> None:
    factories.make_task(title="Anyone's")
    auth.login()
    response = client.get(f"/admin/task/?flt0_owner_is={value}")
    assert response.status_code == 200 and "Invalid Filter Value" in text_of(response)


def test_author_filter_lists_the_picked_persons_posts(client: FlaskClient, auth: Auth) -> None:
    ada = factories.make_user()
    factories.make_post(title="Ada's post", author=ada)
    factories.make_post(title="Another post")
    auth.login()
    html = text_of(client.get(f"/admin/post/?flt0_author_is={ada.id}"))
    assert "Ada&#39;s post" in html and "Another post" not in html


def test_date_range_filter_reads_times_in_the_display_zone(client: FlaskClient, auth: Auth) -> None:
    factories.make_task(title="In range", due_at=datetime(2030, 3, 10, 12, tzinfo=UTC))
    factories.make_task(title="Out of range", due_at=datetime(2030, 4, 10, 12, tzinfo=UTC))
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
    factories.make_task(title="Oldest", created_at=datetime(2024, 1, 1, tzinfo=UTC))
    factories.make_task(title="Newest", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    factories.make_task(title="Middle", created_at=datetime(2025, 1, 1, tzinfo=UTC))
    auth.login()
    html = text_of(client.get("/admin/task/"))
    assert html.index("Newest") < html.index("Middle") < html.index("Oldest")


def test_csv_export_streams_the_filtered_live_rows_as_plain_text(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="ops")
    owner = factories.make_user(full_name="Ada Lovelace", email="ada@example.org")
    factories.make_task(
        title="=HYPERLINK(1)",
        owner=owner,
        status=TaskStatus.ACTIVE,
        tags=[tag],
        due_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    factories.make_task(title="Filtered out", status=TaskStatus.PENDING)
    factories.make_task(title="Deleted", status=TaskStatus.ACTIVE, deleted_at=datetime.now(UTC))
    auth.login()
    response = client.get("/admin/task/export/csv/?flt0_status_is=active", buffered=False)
    assert response.is_streamed and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text_of(response))))
    assert rows[0] == ["ID", "Title", "Owner", "Status", "Priority", "Tags", "Due", "Description", "Created"]
    assert len(rows) == 2
    _, title, owner_cell, status, priority, tags, due, _description, _ = rows[1]
    assert title == "'=HYPERLINK(1)"  # a spreadsheet must not run it
    assert (owner_cell, status, priority, tags, due) == (
        "Ada Lovelace <ada@example.org>",
        "Active",
        "Medium",
        "ops",
        "2030-01-02 03:04:05 UTC",
    )


@contextmanager
def app_in_zone(database_url: str, zone: str) -> Iterator[tuple[Flask, FlaskClient]]:
    """A second app on the test database that shows times in ``zone``."""
    zoned = create_app(env=conftest.test_env(database_url, DISPLAY_TIMEZONE=zone))
    try:
        yield zoned, zoned.test_client()
    finally:
        conftest.close_app(zoned)


@pytest.fixture
def paris_client(database_url: str, app: Flask) -> Iterator[tuple[Flask, FlaskClient]]:
    with app_in_zone(database_url, "Europe/Paris") as zoned:
        yield zoned


def test_values_are_shown_for_people(paris_client: tuple[Flask, FlaskClient]) -> None:
    paris, client = paris_client
    factories.make_user(is_active=False, email="idle@example.org")
    factories.make_task(
        title="T" * 120,
        status=TaskStatus.PENDING,
        priority=TaskPriority.CRITICAL,
        due_at=datetime(2030, 1, 15, 11, 30, 59, 123456, tzinfo=UTC),
        description="Long description " * 20,
        metadata_={"sprint": 12},
    )
    paris_auth = Auth(paris, client)
    paris_auth.login()
    html = text_of(client.get("/admin/task/"))
    assert (
        '<time datetime="2030-01-15T11:30:59.123456+00:00" title="2030-01-15 12:30:59 CET">2030-01-15 12:30</time>'
        in html
    )
    assert "Critical" in html and ">critical<" not in html
    assert f'<span title="{"T" * 120}">{"T" * 79}…</span>' in html  # truncated, the full text on hover
    details = text_of(client.get("/admin/task/details/?id=1"))
    assert "Long description " * 5 in details and "&#34;sprint&#34;: 12" in details
    users = text_of(client.get("/admin/user/"))
    assert 'fa-minus-circle text-muted" title="No"' in users


def test_counts_use_thousands_separators(client: FlaskClient, auth: Auth) -> None:
    factories.make_tasks(1234)
    auth.login()
    if db.engine.dialect.name != "postgresql":
        assert "List (1,234)" in text_of(client.get("/admin/task/?page_size=20"))
        return
    vacuum_analyze("tasks")  # above a thousand rows PostgreSQL's estimate is shown, and says so
    assert re.search(r"List \(about 1,\d{3}\)", text_of(client.get("/admin/task/?page_size=20")))


def pager_links(html: str) -> dict[str, str]:
    """The list pager's links by their text ("Newest", "Next →", "2", …)."""
    pager = html[html.rindex('<ul class="pagination">') :]
    pager = pager[: pager.index("</ul>")]
    return {
        unescape(text).strip(): unescape(href) for href, text in re.findall(r'href="([^"]*)"[^>]*>([^<]*)</a>', pager)
    }


@pytest.mark.postgres
def test_a_large_list_goes_forward_by_keyset_from_the_newest(client: FlaskClient, auth: Auth) -> None:
    factories.make_many_tasks(1500)
    vacuum_analyze("tasks")
    auth.login()
    first = text_of(client.get("/admin/task/?page_size=20"))
    links = pager_links(first)
    assert set(links) == {"Newest", "Next →"}, links  # no page numbers, no last page
    second = text_of(client.get(links["Next →"]))
    first_ids = re.findall(r'name="rowid" class="action-checkbox" value="(\d+)"', first)
    second_ids = re.findall(r'name="rowid" class="action-checkbox" value="(\d+)"', second)
    assert len(first_ids) == len(second_ids) == 20 and not set(first_ids) & set(second_ids)
    assert int(second_ids[0]) == int(first_ids[-1]) - 1  # the same creation time: newest id first
    assert pager_links(second)["Newest"].endswith("/admin/task/?page_size=20")


def test_a_keyset_page_offers_newest_and_next_on_any_database(client: FlaskClient, auth: Auth) -> None:
    tasks = [
        factories.make_task(title=f"Keyed {n:02d}", created_at=datetime(2026, 1, 1, 0, n, tzinfo=UTC))
        for n in range(30)
    ]
    auth.login()
    newest = tasks[-1]
    html = text_of(client.get(f"/admin/task/?page_size=20&after={encode_cursor((newest.created_at, newest.id))}"))
    assert "Keyed 28" in html and "Keyed 29" not in html and "Keyed 09" in html and "Keyed 08" not in html
    links = pager_links(html)
    assert set(links) == {"Newest", "Next →"}
    rest = text_of(client.get(links["Next →"]))
    assert "Keyed 08" in rest and "Keyed 00" in rest and "Keyed 09" not in rest


# Hand-edited or stale list URLs: each value is reported and its filter ignored, never a 500.
BAD_FILTER_VALUES = [
    "flt0_status_is=bogus",
    "flt0_priority_is=HIGH",  # the label's case, not a stored value
    "flt0_tag_is=abc",
    "flt0_tag_is=-1",
    "flt0_tag_is=%C2%B2",  # "²" is a digit to str.isdigit, not to int()
    "flt0_tag_is=99999999999999999999",  # beyond the id column: SQLite would overflow
    "flt0_due_between=garbage",
    "flt0_due_between=2030-13-45 00:00:00 to 2030-01-01 00:00:00",
    "flt0_due_between=2030-02-01 00:00:00 to 2030-01-01 00:00:00",  # backwards
    "flt0_created_greater_than=yesterday",
    "flt0_due_empty=maybe",
]


@pytest.mark.parametrize("argument", BAD_FILTER_VALUES)
def test_a_bad_filter_value_is_reported_and_ignored(client: FlaskClient, auth: Auth, argument: str) -> None:
    factories.make_task(title="First", status=TaskStatus.ACTIVE)
    factories.make_task(title="Second", status=TaskStatus.PENDING)
    auth.login()
    response = client.get(f"/admin/task/?{argument}")
    html = text_of(response)
    assert response.status_code == 200
    assert "Invalid Filter Value" in html
    assert "First" in html and "Second" in html


@pytest.fixture
def far_west_client(database_url: str, app: Flask) -> Iterator[tuple[Flask, FlaskClient]]:
    with app_in_zone(database_url, "America/New_York") as zoned:
        yield zoned


def test_a_local_time_beyond_what_utc_can_hold_is_an_invalid_filter_value(
    far_west_client: tuple[Flask, FlaskClient],
) -> None:
    west, client = far_west_client
    factories.make_task(title="Any task")
    Auth(west, client).login()
    html = text_of(client.get("/admin/task/?flt0_created_greater_than=9999-12-31 23:59:59"))
    assert "Invalid Filter Value: 9999-12-31 23:59:59" in html and "Any task" in html


# Page numbers are refused with a 400 before the view runs (webapp/security.py, tested in
# test_malformed_input.py); the other odd arguments are ignored by the list.
@pytest.mark.parametrize("arguments", ["sort=99", "sort=-1", "desc=abc", "page_size=abc", "flt0_unknown_is=1"])
def test_odd_list_arguments_fall_back_to_the_plain_list(client: FlaskClient, auth: Auth, arguments: str) -> None:
    factories.make_task(title="Still listed")
    auth.login()
    response = client.get(f"/admin/task/?{arguments}")
    assert response.status_code == 200 and "Still listed" in text_of(response)


def test_an_id_that_is_not_one_finds_no_record_instead_of_failing(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    for value in ("99999999999999999999", "%C2%B2", "-1"):
        assert client.get(f"/admin/task/details/?id={value}").status_code == 302
        assert client.get(f"/admin/task/edit/?id={value}").status_code == 302
    assert "Invalid Filter Value" in text_of(client.get("/admin/audit/?flt0_operator_equals=99999999999999999999"))


@pytest.mark.parametrize(
    "path",
    [
        "/admin/task/?search=a%00b",
        "/admin/task/?flt0_owner_is_email_or_username=a%00b",
        "/admin/task/trash/?search=%00",
        "/admin/task/ajax/lookup/?name=owner&query=%00",
    ],
)
def test_a_nul_character_is_refused_with_a_message(client: FlaskClient, auth: Auth, path: str) -> None:
    auth.login()
    response = client.get(path)
    assert response.status_code == 400
    assert "NUL character" in text_of(response)


def test_a_form_with_a_nul_character_saves_nothing(client: FlaskClient, auth: Auth) -> None:
    owner = factories.make_user()
    auth.login()
    token = auth.csrf_token("/admin/task/new/")
    response = client.post(
        "/admin/task/new/",
        data={"csrf_token": token, "title": "Bad\x00title", "owner": owner.id, "status": "active", "priority": "low"},
    )
    assert response.status_code == 400 and "NUL character" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0
