"""Trigram indexes serve admin search on PostgreSQL and stay out of the way on SQLite."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Unicode, cast, create_engine, insert, or_, select, text

from tests import factories
from tests.conftest import vacuum_analyze
from webapp.admin.inputs.pickers import user_picker
from webapp.admin.inputs.search import like_pattern, matches
from webapp.extensions import db
from webapp.models import Task, User

pytestmark = pytest.mark.usefixtures("app_context")

TRIGRAM_INDEXES = {
    "tasks": {"ix_tasks_live_title_trgm", "ix_tasks_live_description_trgm"},
    "posts": {"ix_posts_live_title_trgm", "ix_posts_live_content_trgm"},
    "users": {"ix_users_email_trgm", "ix_users_username_trgm", "ix_users_full_name_trgm"},
}


def plan_of(statement) -> str:
    """The plan with sequential scans priced out: on a few thousand test rows the planner may
    rightly prefer a scan, but what these tests prove is that the index *can* serve the query's
    exact shape (the admin's casts and ORs), which is what a million rows then rely on."""
    compiled = statement.compile(db.engine)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).scalars())
        connection.exec_driver_sql("RESET enable_seqscan")
        return plan


def fill_with_analyzed_rows(count: int) -> None:
    """Enough rows, with statistics, that the planner picks the index on its merits."""
    factories.make_many_tasks(count, description="Nothing special")
    db.session.execute(
        insert(User),
        [{"email": f"person{n}@example.org", "username": f"person{n}", "full_name": "A Person"} for n in range(count)],
    )
    db.session.commit()
    vacuum_analyze("tasks", "users")


@pytest.mark.postgres
def test_migration_creates_gin_trigram_indexes_partial_for_lists_full_for_pickers() -> None:
    definitions = dict(
        db.session.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%_trgm'")).all()
    )
    assert set(definitions) == set().union(*TRIGRAM_INDEXES.values())
    for name, definition in definitions.items():
        assert "USING gin" in definition and "gin_trgm_ops" in definition
        assert ("WHERE (deleted_at IS NULL)" in definition) == name.startswith(("ix_tasks_live", "ix_posts_live"))


@pytest.mark.postgres
def test_admin_style_search_over_title_and_description_uses_the_trigram_indexes() -> None:
    fill_with_analyzed_rows(3000)
    # Flask-Admin casts every searched column to VARCHAR and ORs the columns per term.
    term = "%nightly%"
    statement = select(Task.id).where(
        Task.live(),
        or_(cast(Task.title, Unicode).ilike(term), cast(Task.description, Unicode).ilike(term)),
    )
    plan = plan_of(statement)
    assert "ix_tasks_live_title_trgm" in plan and "ix_tasks_live_description_trgm" in plan


@pytest.mark.postgres
@pytest.mark.parametrize("word", ["nightly", "^ni", "=x", "50%_"])
def test_bounded_search_words_in_their_escaped_shape_use_the_trigram_index(word: str) -> None:
    fill_with_analyzed_rows(3000)
    plan = plan_of(select(Task.id).where(Task.live(), matches(Task.title, like_pattern(word))))
    assert "ix_tasks_live_title_trgm" in plan


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("typed", "indexes"),
    [
        ("ho", {"ix_users_email_prefix", "ix_users_username_prefix", "ix_users_full_name_prefix"}),
        ("hopper", TRIGRAM_INDEXES["users"]),
    ],
    ids=["two letters: the prefix indexes", "longer: the trigram indexes"],
)
def test_the_user_pickers_own_condition_is_served_by_an_index_on_each_field(typed: str, indexes: set[str]) -> None:
    fill_with_analyzed_rows(3000)
    plan = plan_of(select(User.id).where(user_picker("owner").matching(typed)))
    assert indexes <= set(re.findall(r"ix_users_\w+", plan)), plan


def test_create_all_on_sqlite_builds_no_trigram_index() -> None:
    engine = create_engine("sqlite://")
    db.metadata.create_all(engine)
    with engine.connect() as connection:
        # sqlite_master rather than the inspector, which warns about expression indexes.
        names = set(connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'index'")))
    engine.dispose()
    assert names.isdisjoint(set().union(*TRIGRAM_INDEXES.values()))
    assert "ix_tasks_live_created_at_id" in names
