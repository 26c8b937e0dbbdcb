"""The demo seed: the data's shape on either database, and on PostgreSQL the large load that builds
the indexes after the rows (``webapp.seed``).

The shape test runs on whichever database the suite uses: SQLite takes the Python rows,
PostgreSQL the rows its own ``random()`` draws, and both must come out alike."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from tests.test_tag_usage_counts import fresh_counts, kept_counts
from webapp import seed
from webapp.database import utcnow
from webapp.extensions import db
from webapp.models import Post, PostStatus, Tag, Task, TaskPriority, TaskStatus, User

pytestmark = pytest.mark.usefixtures("app_context")

TASKS = 3000
LOADED = ("tasks", "task_tags", "posts", "post_tags")


def share(rows: list[bool]) -> float:
    return sum(rows) / len(rows)


def assert_demo_shape(tasks: int) -> None:
    assert db.session.scalar(select(func.count()).select_from(User)) == max(50, min(10_000, tasks // 100))
    assert db.session.scalar(select(func.count()).select_from(Tag)) == len(seed.TAG_NAMES)
    rows = db.session.scalars(select(Task)).all()
    posts = db.session.scalars(select(Post)).all()
    assert len(rows) == tasks and len(posts) == max(10, tasks // 10)
    now = utcnow()
    titles = {f"{verb} {thing}" for verb in seed.VERBS for thing in seed.OBJECTS}
    for task in rows:
        assert task.title in titles
        assert task.description in (None, seed.TASK_DESCRIPTION)
        assert 1 <= task.metadata_["estimate_hours"] <= seed.MAX_ESTIMATE_HOURS
        assert task.metadata_["source"] in seed.SOURCES
        assert timedelta(seconds=60) <= now - task.created_at <= timedelta(seconds=seed.MAX_AGE_SECONDS + 60)
        assert task.updated_at == task.created_at and task.version == 1
        if task.due_at is not None:
            assert timedelta(days=1) <= task.due_at - task.created_at <= timedelta(days=seed.MAX_DUE_DAYS)
    for record in [*rows, *posts]:
        if record.deleted_at is None:
            assert record.deletion_batch is None
        else:
            assert record.deleted_at - record.created_at == timedelta(days=1)
            assert record.deletion_batch.startswith("seed-") and len(record.deletion_batch) == 21
    for post in posts:
        assert post.title in {f"Notes on the {thing}" for thing in seed.OBJECTS}
        assert (post.status is PostStatus.PUBLISHED) == (post.published_at == post.created_at + timedelta(hours=2))
    assert 0.005 <= share([task.deleted_at is not None for task in rows]) <= 0.04
    assert 0.63 <= share([task.due_at is not None for task in rows]) <= 0.77
    assert 0.43 <= share([task.description is not None for task in rows]) <= 0.57
    assert 0.5 <= share([post.status is PostStatus.PUBLISHED for post in posts]) <= 0.7
    statuses, priorities = Counter(task.status for task in rows), Counter(task.priority for task in rows)
    assert set(statuses) == set(TaskStatus) and all(0.28 <= n / tasks <= 0.39 for n in statuses.values())
    assert set(priorities) == set(TaskPriority) and all(0.2 <= n / tasks <= 0.3 for n in priorities.values())
    assert len({task.owner_id for task in rows}) == db.session.scalar(select(func.count()).select_from(User))
    for model, records in ((Task, rows), (Post, posts)):
        # No tag for one id in five, two different tags for each of the others.
        links = db.session.execute(select(model.tag_link_table())).all()
        assert len(links) == len(set(links)) == 2 * sum(1 for record in records if record.id % 5)
    assert kept_counts() == fresh_counts()


def test_seed_gives_the_demo_shape_and_counts_every_tag_it_links() -> None:
    seed.seed_demo(db.session, tasks=TASKS)
    assert_demo_shape(TASKS)


def schema() -> dict[str, list[tuple[str, ...]]]:
    """The loaded tables' indexes and constraints, as PostgreSQL would write them."""
    indexes = db.session.execute(
        text(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid), indisvalid::text FROM pg_index "
            "WHERE indrelid = ANY(CAST(:tables AS regclass[])) ORDER BY 1"
        ),
        {"tables": list(LOADED)},
    )
    constraints = db.session.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid), convalidated::text FROM pg_constraint "
            "WHERE conrelid = ANY(CAST(:tables AS regclass[])) ORDER BY 1"
        ),
        {"tables": list(LOADED)},
    )
    return {"indexes": [tuple(row) for row in indexes], "constraints": [tuple(row) for row in constraints]}


@pytest.mark.postgres
def test_a_large_postgresql_load_builds_every_index_and_foreign_key_again(monkeypatch: pytest.MonkeyPatch) -> None:
    before = schema()
    assert len(before["indexes"]) >= 20 and any("FOREIGN KEY" in row[1] for row in before["constraints"])
    dropped: list[int] = []
    link_tags = seed._link_tags

    def counting_indexes(session: seed.AnySession, model: type, first: int) -> None:
        dropped.append(len(schema()["indexes"]))
        link_tags(session, model, first)

    monkeypatch.setattr(seed, "INDEX_AFTER_LOAD_ROWS", 100)
    monkeypatch.setattr(seed, "_link_tags", counting_indexes)
    seed.seed_demo(db.session, tasks=TASKS)
    assert dropped and all(count == 0 for count in dropped), "no index during the load"
    assert schema() == before
    assert_demo_shape(TASKS)


@pytest.mark.postgres
def test_a_failed_large_load_leaves_every_index_and_no_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    before = schema()

    def failing(session: seed.AnySession, model: type, first: int) -> None:
        raise RuntimeError("the load broke off")

    monkeypatch.setattr(seed, "INDEX_AFTER_LOAD_ROWS", 100)
    monkeypatch.setattr(seed, "_link_tags", failing)
    with pytest.raises(RuntimeError):
        seed.seed_demo(db.session, tasks=TASKS)
    assert schema() == before
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0


def rows_of_loaded_tables() -> list[int]:
    return [db.session.scalar(select(func.count()).select_from(db.metadata.tables[name])) or 0 for name in LOADED]


@pytest.mark.parametrize("index_after_load_rows", [100, seed.INDEX_AFTER_LOAD_ROWS], ids=["bulk", "in place"])
def test_seeding_again_tops_up_to_the_size_and_keeps_the_counts(
    monkeypatch: pytest.MonkeyPatch, index_after_load_rows: int
) -> None:
    monkeypatch.setattr(seed, "INDEX_AFTER_LOAD_ROWS", index_after_load_rows)
    seed.seed_demo(db.session, tasks=1000)
    first = rows_of_loaded_tables()
    seed.seed_demo(db.session, tasks=1000)
    assert rows_of_loaded_tables() == first
    # 1,200 tasks next to 1,000 is no large load: the indexes stay and take the new rows in place.
    seed.seed_demo(db.session, tasks=1200)
    assert_demo_shape(1200)
