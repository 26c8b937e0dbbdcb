"""Keyset navigation: "Next" links walk every live row once, in the list's order, at any depth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, get_flashed_messages
from sqlalchemy import select

from tests import conftest, factories
from tests.admin_support import app_serving
from webapp.admin.base import AdminModelView
from webapp.admin.features.soft_delete import SoftDeleteViewMixin
from webapp.admin.listing.keyset import InvalidCursor, KeysetPaginationMixin, decode_cursor, encode_cursor
from webapp.extensions import db
from webapp.models import Task

pytestmark = pytest.mark.usefixtures("app_context")

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class KeysetTaskView(KeysetPaginationMixin, SoftDeleteViewMixin, AdminModelView):
    column_searchable_list = ("title",)
    column_default_sort = [("created_at", True), ("id", True)]
    page_size = 20


@pytest.fixture(scope="module")
def list_app(database_url: str) -> Iterator[Flask]:
    with app_serving(database_url, KeysetTaskView(Task, db, endpoint="keyset_task", url="/admin/keyset-task")) as app:
        yield app


def view_of(app: Flask) -> KeysetTaskView:
    return next(view for view in app.extensions["admin"][0]._views if isinstance(view, KeysetTaskView))


def list_page(app: Flask, url: str) -> tuple[object, list[Task], str | None, list[str]]:
    """What the list view would render at ``url``: count, rows, the Next link, flashed messages."""
    with app.test_request_context(url):
        view = view_of(app)
        args = view._get_list_extra_args()  # the list view's own reading of the query string
        count, rows = view.get_list(
            args.page,
            None,
            args.sort_desc,
            args.search,
            args.filters,
            page_size=view.get_safe_page_size(args.page_size),
        )
        titles = [row.title for row in rows]
        next_url = view.keyset_next_url(rows)
        return count, titles, next_url, get_flashed_messages()


def tasks_with_tied_timestamps(live: int, deleted: int = 0) -> list[str]:
    """Tasks whose creation times tie in threes (the id breaks ties); returns live titles in list order."""
    for n in range(live):
        factories.make_task(title=f"Task {n:03d}", created_at=START - timedelta(minutes=n // 3))
    for n in range(deleted):
        factories.make_task(title=f"Gone {n}", created_at=START - timedelta(minutes=n), deleted_at=START)
    order = select(Task.title).where(Task.live()).order_by(Task.created_at.desc(), Task.id.desc())
    return list(db.session.scalars(order))


def walk(app: Flask, first_url: str) -> tuple[list[str], int]:
    seen: list[str] = []
    url: str | None = first_url
    pages = 0
    while url and pages < 50:
        _count, titles, url, _messages = list_page(app, url)
        seen.extend(titles)
        pages += 1
    return seen, pages


def test_next_links_visit_every_live_row_once_in_list_order(list_app: Flask) -> None:
    expected = tasks_with_tied_timestamps(live=53, deleted=4)
    seen, pages = walk(list_app, "/admin/keyset-task/")
    assert seen == expected
    assert pages == 3


def test_next_links_keep_the_search(list_app: Flask) -> None:
    expected = tasks_with_tied_timestamps(live=130)
    for n in range(30):  # interleaved with the tasks searched for, and never on their pages
        factories.make_task(title=f"Other {n}", created_at=START - timedelta(minutes=n))
    seen, pages = walk(list_app, "/admin/keyset-task/?search=task")
    assert seen == expected
    assert pages == -(-len(seen) // 20)


def test_count_on_a_keyset_page_is_the_whole_list_not_the_page(list_app: Flask) -> None:
    tasks_with_tied_timestamps(live=45)
    _count, _titles, next_url, _messages = list_page(list_app, "/admin/keyset-task/")
    _count, _titles, next_url, _messages = list_page(list_app, next_url)
    count, titles, next_url, _messages = list_page(list_app, next_url)
    assert len(titles) == 5 and next_url is None
    assert count == 45


@pytest.mark.parametrize(
    "token",
    [
        "not-a-cursor!",
        encode_cursor(("2026-03-01T12:00:00+00:00",)),
        encode_cursor(("2026-03-01T12:00:00", 5)),
        encode_cursor(("yesterday", 5)),
        encode_cursor((5, "2026-03-01T12:00:00+00:00")),
        encode_cursor(("2026-03-01T12:00:00+00:00", True)),
    ],
)
def test_a_bad_cursor_shows_the_first_page_with_a_message(list_app: Flask, token: str) -> None:
    expected = tasks_with_tied_timestamps(live=25)
    _count, titles, _next_url, messages = list_page(list_app, f"/admin/keyset-task/?after={token}")
    assert titles == expected[:20]
    assert messages == ["That page link is not valid any more; showing the first page."]


def test_a_bad_cursor_over_http_is_not_an_error(list_app: Flask) -> None:
    auth = conftest.Auth(list_app, list_app.test_client())
    auth.login()
    response = auth.client.get("/admin/keyset-task/?after=%25%25garbage")
    assert response.status_code == 200
    assert "not valid any more" in response.get_data(as_text=True)


def test_another_sort_uses_the_numbered_pager(list_app: Flask) -> None:
    tasks_with_tied_timestamps(live=25)
    cursor = encode_cursor((START, 1))
    with list_app.test_request_context(f"/admin/keyset-task/?sort=0&after={cursor}"):
        view = view_of(list_app)
        _count, rows = view.get_list(0, "title", False, None, [], page_size=20)
        assert len(rows) == 20
        assert view.keyset_next_url(rows) is None


def test_cursor_round_trips_an_aware_timestamp_and_an_id() -> None:
    columns = (Task.created_at, Task.id)
    assert decode_cursor(encode_cursor((START, 42)), columns) == (START, 42)
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor((START, 42, 7)), columns)
    for out_of_range in (2**63, -(2**63) - 1, 2**80):  # SQLite cannot even bind them
        with pytest.raises(InvalidCursor, match="out of range"):
            decode_cursor(encode_cursor((START, out_of_range)), columns)


def test_a_default_sort_without_the_primary_key_is_refused() -> None:
    class Ambiguous(KeysetPaginationMixin, AdminModelView):
        column_default_sort = [("created_at", True)]

    with pytest.raises(TypeError, match="primary key"):
        Ambiguous(Task, db, endpoint="ambiguous").keyset_columns()
