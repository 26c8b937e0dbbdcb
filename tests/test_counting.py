"""List counts: exact where cheap, PostgreSQL's estimate (flagged) where a full count would not be."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from tests import factories
from tests.conftest import vacuum_analyze
from webapp.admin.base import AdminModelView
from webapp.admin.features.soft_delete import SoftDeleteViewMixin
from webapp.admin.listing.counting import ListCount, count_rows, estimate_then_capped_count
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import Task, TaskPriority, TaskStatus

pytestmark = pytest.mark.usefixtures("app_context")

LIVE_TASKS = select(Task.id).where(Task.live())


def live_tasks_with(*criteria) -> object:
    return LIVE_TASKS.where(*criteria)


def true_count(statement) -> int:
    return db.session.scalar(select(func.count()).select_from(statement.subquery()))


def within(value: int, expected: int, tolerance: float) -> bool:
    return abs(value - expected) <= expected * tolerance


class CountedTaskView(SoftDeleteViewMixin, AdminModelView):
    """Every admin model view counts this way; a low limit makes a few hundred rows "large"."""

    column_searchable_list = ("title",)
    column_default_sort = [("created_at", True), ("id", True)]
    exact_count_limit = 100


@pytest.fixture
def request_context(app: Flask) -> Iterator[None]:
    """Flask-Admin reads the request's arguments while listing."""
    with app.test_request_context("/admin/task/"):
        yield


def small_and_large_task_sets() -> None:
    """400 live tasks (1/4 of them active), plus 50 deleted ones."""
    factories.make_many_tasks(100, status=TaskStatus.ACTIVE, priority=TaskPriority.HIGH)
    factories.make_many_tasks(300, status=TaskStatus.PENDING, priority=TaskPriority.LOW)
    factories.make_many_tasks(50, status=TaskStatus.ACTIVE, deleted_at=utcnow() - timedelta(days=1))
    factories.make_task(title="Rotate the nightly backup")


def test_count_below_the_limit_is_exact_on_every_database() -> None:
    small_and_large_task_sets()
    count = count_rows(db.session, live_tasks_with(Task.status == TaskStatus.ACTIVE), exact_limit=1000)
    assert count == 100 and not count.estimated


@pytest.mark.postgres
def test_large_unfiltered_count_is_the_planner_estimate_of_live_rows_and_flagged() -> None:
    factories.make_many_tasks(4000)
    factories.make_many_tasks(1000, deleted_at=utcnow())
    vacuum_analyze("tasks")
    count = count_rows(db.session, LIVE_TASKS, exact_limit=500)
    assert count.estimated
    assert within(count, 4000, 0.10), count


@pytest.mark.postgres
def test_large_filtered_count_estimates_the_filter() -> None:
    factories.make_many_tasks(1000, status=TaskStatus.ACTIVE)
    factories.make_many_tasks(3000, status=TaskStatus.PENDING)
    vacuum_analyze("tasks")
    count = count_rows(db.session, live_tasks_with(Task.status == TaskStatus.ACTIVE), exact_limit=500)
    assert count.estimated
    assert within(count, 1000, 0.15), count


@pytest.mark.postgres
def test_underestimated_count_is_capped_not_trusted() -> None:
    # Every active task is also critical: the planner multiplies the two selectivities
    # (1/2 * 1/2 of 2000 = 500 rows) while 1000 rows match.
    factories.make_many_tasks(1000, status=TaskStatus.ACTIVE, priority=TaskPriority.CRITICAL)
    factories.make_many_tasks(1000, status=TaskStatus.PENDING, priority=TaskPriority.LOW)
    vacuum_analyze("tasks")
    statement = live_tasks_with(Task.status == TaskStatus.ACTIVE, Task.priority == TaskPriority.CRITICAL)
    estimate, _counted = db.session.execute(estimate_then_capped_count(db.session, statement, 700)).one()
    assert estimate <= 700, "the premise: an underestimate"
    count = count_rows(db.session, statement, exact_limit=700)
    assert count.estimated
    assert count >= 701


def test_what_a_page_held_corrects_the_estimate() -> None:
    estimate = ListCount(5000, estimated=True)
    assert estimate.seen_on_page(page=3, page_size=50, rows_on_page=20) == 170
    assert not estimate.seen_on_page(page=3, page_size=50, rows_on_page=20).estimated
    assert estimate.seen_on_page(page=0, page_size=50, rows_on_page=0) == 0
    assert estimate.seen_on_page(page=200, page_size=50, rows_on_page=0) == 5000
    beyond = estimate.seen_on_page(page=50, page_size=50, rows_on_page=0)
    assert beyond.estimated and beyond == 2500
    full = estimate.seen_on_page(page=200, page_size=50, rows_on_page=50)
    assert full.estimated and full == 10_050


def test_list_view_counts_only_live_rows(request_context) -> None:
    small_and_large_task_sets()
    view = CountedTaskView(Task, db, endpoint="counted_live_tasks")
    count, rows = view.get_list(0, None, False, None, [], page_size=500)
    assert count == true_count(LIVE_TASKS) == 401
    assert not count.estimated and len(rows) == 401


def test_count_reads_as_a_number_and_says_when_it_is_an_estimate() -> None:
    assert str(ListCount(1234)) == "1,234"
    assert str(ListCount(979_980, estimated=True)) == "about 979,980"


@pytest.mark.postgres
def test_list_view_shows_an_estimate_for_a_large_list_and_exact_for_a_selective_search(request_context) -> None:
    small_and_large_task_sets()
    vacuum_analyze("tasks")
    view = CountedTaskView(Task, db, endpoint="counted_tasks")

    count, rows = view.get_list(0, None, False, None, [], page_size=50)
    assert count.estimated and len(rows) == 50
    assert within(count, 401, 0.10), count

    count, rows = view.get_list(0, None, False, "nightly", [], page_size=50)
    assert count == 1 and not count.estimated
    assert [task.title for task in rows] == ["Rotate the nightly backup"]


@pytest.mark.postgres
def test_large_list_count_reads_no_rows_only_the_plan(request_context) -> None:
    """Estimate and capped count are one statement; PostgreSQL runs the count only for a small
    estimate (the ``CASE`` branch it sits in)."""
    small_and_large_task_sets()
    vacuum_analyze("tasks")
    view = CountedTaskView(Task, db, endpoint="counted_tasks")
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        view.get_list(0, None, False, None, [], page_size=50)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len([statement for statement in statements if "count(" in statement.lower()]) == 1
    assert times_the_capped_count_ran(LIVE_TASKS, exact_limit=100) == 0
    assert times_the_capped_count_ran(LIVE_TASKS, exact_limit=1000) == 1


def times_the_capped_count_ran(statement, exact_limit: int) -> int:
    counting = estimate_then_capped_count(db.session, statement, exact_limit).compile(db.engine)
    analyzed = f"EXPLAIN (ANALYZE, FORMAT JSON) {counting}"
    [plan] = db.session.connection().exec_driver_sql(analyzed, counting.params).scalar_one()
    [count] = [node for node in plan["Plan"]["Plans"] if node.get("Subplan Name", "").startswith("InitPlan")]
    return count["Actual Loops"]
