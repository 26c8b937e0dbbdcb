"""The default list order is served by one index on PostgreSQL, even under a tag filter.

With a million tasks, "newest first, carrying tag X" walks the newest tasks until 50 carry the
tag; these plans prove the walk can read the ``(created_at, id)`` index alone (no table row per
task walked past, no sort step for the tie-breaker), and that a keyset page starts inside it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select

from tests import factories
from tests.conftest import vacuum_analyze
from webapp.admin.listing.keyset import encode_cursor
from webapp.extensions import db
from webapp.models import Task

pytestmark = [pytest.mark.usefixtures("app_context"), pytest.mark.postgres]

ROWS = 5000


def tasks_with_a_rare_tag() -> int:
    """Enough analysed rows that the planner walks the index on its merits; 2 % carry the tag."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    owner = factories.make_user()
    db.session.execute(
        insert(Task),
        [{"title": f"Task {n}", "owner_id": owner.id, "created_at": start + timedelta(minutes=n)} for n in range(ROWS)],
    )
    tag = factories.tag_every_nth_task(50, name="rare")
    vacuum_analyze("tasks", "task_tags")
    return tag.id


def plan_of_list_page(app: Flask, url: str) -> str:
    """The plan of the rows query the task list runs for ``url``."""
    with app.test_request_context(url):
        view = next(view for view in app.extensions["admin"][0]._views if view.endpoint == "task")
        args = view._get_list_extra_args()
        _count, query = view.get_list(args.page, None, args.sort_desc, args.search, args.filters, execute=False)
        return explain(query.with_entities(Task.id).statement)


def explain(statement: Any) -> str:
    """The plan of the million-row case: on a few thousand rows hashing the tag's links and
    sorting is rightly cheaper, so that is priced out; what is proved is that the index alone can
    give the whole order (with ``created_at`` alone it needs the table and a sort step)."""
    compiled = statement.compile(db.engine)
    connection = db.session.connection()
    for method in ("seqscan", "bitmapscan", "hashjoin", "mergejoin", "sort"):
        connection.exec_driver_sql(f"SET LOCAL enable_{method} = off")
    return "\n".join(connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars())


def test_a_tag_filtered_list_walks_the_order_index_alone(app: Flask) -> None:
    tag_id = tasks_with_a_rare_tag()
    plan = plan_of_list_page(app, f"/admin/task/?flt0_tag_is={tag_id}")
    assert "Index Only Scan Backward using ix_tasks_live_created_at_id" in plan, plan


def test_a_keyset_page_starts_inside_the_order_index(app: Flask) -> None:
    tasks_with_a_rare_tag()
    newest = db.session.execute(select(Task.created_at, Task.id).order_by(Task.created_at.desc()).limit(1)).one()
    plan = plan_of_list_page(app, f"/admin/task/?after={encode_cursor(tuple(newest))}")
    assert "ix_tasks_live_created_at_id" in plan, plan
    assert "Index Cond: (ROW(created_at, id) < ROW(" in plan, plan
