"""The default list order is served by one index on PostgreSQL, even under a tag filter; so is
every other order a list offers by a person's name.

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
from webapp.admin import compat
from webapp.admin.listing.keyset import encode_cursor
from webapp.extensions import db
from webapp.models import Task, User

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


def list_view(app: Flask, endpoint: str) -> Any:
    return next(view for view in compat.registered_views(app.extensions["admin"][0]) if view.endpoint == endpoint)


def plan_of_list_page(app: Flask, url: str, endpoint: str = "task") -> str:
    """The plan of the rows query the list of ``endpoint`` runs for ``url``."""
    with app.test_request_context(url):
        view = list_view(app, endpoint)
        args = compat.list_arguments(view)
        sort = compat.sort_column(view, args.sort)
        _count, query = view.get_list(args.page, sort, args.sort_desc, args.search, args.filters, execute=False)
        return explain(query.with_entities(view.model.id).statement)


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


def test_the_user_list_sorted_by_name_reads_the_name_index_in_either_direction(app: Flask) -> None:
    db.session.execute(
        insert(User),
        [{"email": f"u{n}@example.org", "username": f"u{n}", "full_name": f"Name {n}"} for n in range(ROWS)],
    )
    db.session.commit()
    vacuum_analyze("users")
    by_name = list_view(app, "user").column_list.index("full_name")
    for url, scan in (
        (f"/admin/user/?sort={by_name}", "Index Scan"),
        (f"/admin/user/?sort={by_name}&desc=1", "Index Scan Backward"),
    ):
        plan = plan_of_list_page(app, url, endpoint="user")
        assert f"{scan} using ix_users_live_full_name" in plan, plan
        assert "Sort" not in plan, plan


def test_lists_offer_no_order_an_index_cannot_give(app: Flask) -> None:
    """By owner or author name, a million tasks are joined to their users and sorted whole (about
    2 s, an index on the names or not); by tag count, every task's links are counted (about 9 s):
    docs/performance.md. Neither is offered."""
    with app.test_request_context("/admin/"):
        for endpoint, person in (("task", "owner"), ("post", "author")):
            sortable = compat.sortable_column_names(list_view(app, endpoint))
            assert person not in sortable and "tags" not in sortable, (endpoint, sortable)
        assert compat.sortable_column_names(list_view(app, "tag")) == {"name", "created_at"}
