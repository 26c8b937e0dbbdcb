"""A deep numbered page shows exactly the rows the plain offset would, in any order and filter.

Past ``deep_offset_rows`` the list finds a page's keys before its rows (``list_page.py``); these
tests pin that the two ways agree row for row, on every database, and that the keys' walk is
served by the list order's index on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select

from tests import factories
from tests.admin_support import text_of
from tests.conftest import Auth
from tests.test_list_order_index import tasks_with_a_rare_tag
from webapp.extensions import db
from webapp.models import Tag, Task

pytestmark = pytest.mark.usefixtures("app_context")

ROWS = 1300
PAGE_SIZE = 20


def many_tasks() -> Tag:
    """``ROWS`` tasks, some created in the same second (ties the key must break), every third
    tagged, titles out of creation order."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    owner = factories.make_user()
    db.session.execute(
        insert(Task),
        [
            {
                "title": f"Task {(n * 7919) % ROWS:05d}",
                "owner_id": owner.id,
                "created_at": start + timedelta(seconds=n // 3),
            }
            for n in range(ROWS)
        ],
    )
    db.session.commit()
    tag = factories.tag_every_nth_task(3, name="third")
    return tag


def ids_on(client: FlaskClient, url: str) -> list[int]:
    response = client.get(url)
    assert response.status_code == 200, url
    return [int(value) for value in re.findall(r'<input[^>]*name="rowid"[^>]*value="(\d+)"', text_of(response))]


def offset_page(statement, page: int) -> list[int]:
    return list(db.session.scalars(statement.offset(page * PAGE_SIZE).limit(PAGE_SIZE)))


def test_deep_pages_hold_the_rows_of_the_plain_offset(client: FlaskClient, auth: Auth) -> None:
    tag = many_tasks()
    auth.login()
    live = select(Task.id).where(Task.deleted_at.is_(None))
    newest_first = live.order_by(Task.created_at.desc(), Task.id.desc())
    by_title = live.order_by(Task.title, Task.id)
    tagged = newest_first.where(
        Task.id.in_(select(Task.tag_link_table().c.task_id).where(Task.tag_link_table().c.tag_id == tag.id))
    )
    cases = [
        ("", newest_first),
        ("&sort=0", by_title),  # title: the first sortable column
        (f"&flt0_tag_is={tag.id}", tagged),
    ]
    for arguments, expected in cases:
        for page in (30, 31, 64):
            url = f"/admin/task/?page_size={PAGE_SIZE}&page={page}{arguments}"
            assert ids_on(client, url) == offset_page(expected, page), url


def test_a_page_past_the_end_is_empty_not_an_error(client: FlaskClient, auth: Auth) -> None:
    many_tasks()
    auth.login()
    assert ids_on(client, f"/admin/task/?page_size={PAGE_SIZE}&page=5000") == []


@pytest.mark.postgres
def test_a_deep_page_walks_the_order_index_alone(app: Flask) -> None:
    """The page's own statement, as sent (its rows with their owners and tags): the offset is
    walked in the index alone, and only the page's rows are read from the table. (On a few
    thousand rows reading the whole table is rightly cheaper: that is priced out.)"""
    tasks_with_a_rare_tag()
    with app.test_request_context("/admin/task/?page=60"):
        view = next(view for view in app.extensions["admin"][0]._views if view.endpoint == "task")
        args = view._get_list_extra_args()
        _count, query = view.get_list(args.page, None, args.sort_desc, args.search, args.filters, execute=False)
        compiled = query.statement.compile(db.engine)
        for method in ("seqscan", "bitmapscan", "hashjoin", "mergejoin"):
            db.session.connection().exec_driver_sql(f"SET LOCAL enable_{method} = off")
        lines = db.session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars()
    plan = "\n".join(lines)
    assert "Index Only Scan Backward using ix_tasks_live_created_at_id" in plan, plan
    assert "Index Scan using pk_tasks on tasks" in plan and "Index Cond: (id = tasks_1.id)" in plan, plan
