"""Demo data: realistic, repeatable, set-based, and idempotent.

Running it again tops the data up to the requested size instead of duplicating it. Users come
from Python (at most 10,000). On PostgreSQL, tasks and posts are drawn by the database itself
(``INSERT … SELECT … FROM generate_series``, its ``random()`` seeded by ``setseed``): ten million
tasks travel no row through Python, so the command's memory stays flat. A load at least as large
as the table it fills builds that table's indexes and keys afterwards, in the same transaction
(one build instead of ten million insertions into each of nine indexes, two of them trigram GIN,
and a foreign key check per row; a failure rolls the dropped ones back with everything else). SQLite (the
embedded development database, a few hundred rows) gets the same shape from Python in batches of
multi-row ``INSERT``s. Tag links are one ``INSERT … SELECT`` on both.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, scoped_session

from webapp.database import utcnow
from webapp.models import Operator, OperatorRole, Post, PostStatus, Tag, Task, TaskPriority, TaskStatus, User
from webapp.models.tags import normalize_tag_name, tag_name_key
from webapp.tagging import usage_counter

BATCH_SIZE = 10_000
# A PostgreSQL load of at least this many rows, into a table holding no more than it adds, builds
# the table's secondary indexes and foreign keys after the rows are in.
INDEX_AFTER_LOAD_ROWS = 100_000
# The data's shape, which both generators (Python for SQLite, SQL for PostgreSQL) follow.
MAX_AGE_SECONDS = 365 * 24 * 3600
TRASHED_SHARE = 0.02
DESCRIBED_SHARE = 0.5
DUE_SHARE = 0.7
MAX_DUE_DAYS = 90
MAX_ESTIMATE_HOURS = 40
SOURCES = ["email", "web", "api"]
PUBLISHED_SHARE = 0.6
TASK_DESCRIPTION = "Generated demo task."
POST_CONTENT = "Generated demo post."
DEMO_EMAIL_DOMAIN = "example.com"
TAG_NAMES = [
    "backend",
    "frontend",
    "database",
    "urgent",
    "bug",
    "feature",
    "security",
    "billing",
    "customer",
    "internal",
    "docs",
    "design",
    "research",
    "ops",
    "infra",
    "mobile",
    "api",
    "performance",
    "ux",
    "legal",
    "finance",
    "hiring",
    "marketing",
    "sales",
    "support",
    "release",
    "qa",
    "analytics",
    "data",
    "ml",
    "cleanup",
    "refactor",
    "blocked",
    "waiting",
    "review",
    "planning",
    "q1",
    "q2",
    "q3",
    "q4",
    "europe",
    "americas",
    "asia",
    "partner",
    "vendor",
    "compliance",
    "audit",
    "migration",
    "onboarding",
    "training",
]
PALETTE = [
    "#007bff",
    "#6610f2",
    "#6f42c1",
    "#e83e8c",
    "#dc3545",
    "#fd7e14",
    "#ffc107",
    "#28a745",
    "#20c997",
    "#17a2b8",
    "#343a40",
    "#6c757d",
]
VERBS = [
    "Fix",
    "Review",
    "Write",
    "Update",
    "Plan",
    "Migrate",
    "Test",
    "Deploy",
    "Document",
    "Investigate",
    "Refactor",
    "Design",
    "Prepare",
    "Clean up",
    "Automate",
]
OBJECTS = [
    "invoice export",
    "login page",
    "search index",
    "billing report",
    "API docs",
    "onboarding email",
    "database backup",
    "release notes",
    "customer import",
    "dashboard chart",
    "password reset",
    "audit log",
    "tag filter",
    "mobile layout",
    "nightly job",
    "payment webhook",
    "user survey",
    "access review",
    "cache layer",
]
FIRST_NAMES = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Donald",
    "Katherine",
    "Guido",
    "Hedy",
    "Tim",
]
LAST_NAMES = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Knuth",
    "Johnson",
    "Rossum",
]
DEMO_OPERATOR_EMAIL = "demo@example.com"
DEMO_OPERATOR_PASSWORD = "demo-password-2026"
# The CLI hands over Flask-SQLAlchemy's scoped session (``db.session``), which forwards to a Session.
AnySession = Session | scoped_session[Any]


@dataclass
class SeedReport:
    users: int
    tags: int
    tasks: int
    posts: int


def seed_demo(session: AnySession, tasks: int, seed: int = 2026) -> SeedReport:
    """Make the demo data set hold at least ``tasks`` tasks, with users, posts and tags to match.

    One transaction: a failure leaves the database as it was (indexes included)."""
    rng = random.Random(seed)
    now = utcnow()
    user_target = min(10_000, max(50, tasks // 100))
    targets = {Task: tasks, Post: max(10, tasks // 10)}
    try:
        _seed_tags(session)
        _top_up(session, User, user_target, lambda n: _user_row(n, rng, now))
        user_ids = session.scalars(select(User.id).order_by(User.id)).all()
        if session.connection().dialect.name == "postgresql":
            _seed_records_in_sql(session, targets, user_ids, now, rng.uniform(-1, 1))
        else:
            first_new = {model: _next_id(session, model) for model in targets}
            _top_up(session, Task, targets[Task], lambda n: _task_row(rng, now, user_ids))
            _top_up(session, Post, targets[Post], lambda n: _post_row(rng, now, user_ids))
            for model, first in first_new.items():
                _link_tags(session, model, first)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return SeedReport(
        users=_count(session, User),
        tags=_count(session, Tag),
        tasks=_count(session, Task),
        posts=_count(session, Post),
    )


def ensure_demo_operator(session: AnySession) -> bool:
    """Create the demo admin if it is missing; returns True when it was created."""
    exists = session.scalar(select(Operator.id).where(Operator.email == DEMO_OPERATOR_EMAIL))
    if exists:
        return False
    operator = Operator(email=DEMO_OPERATOR_EMAIL, role=OperatorRole.ADMIN)
    operator.set_password(DEMO_OPERATOR_PASSWORD)
    session.add(operator)
    session.commit()
    return True


def _count(session: AnySession, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _next_id(session: AnySession, model: Any) -> int:
    return (session.scalar(select(func.max(model.id))) or 0) + 1


def _seed_tags(session: AnySession) -> None:
    """The demo tags that no tag has yet, compared as tags are (``Tag.name_key``)."""
    existing = set(session.scalars(select(Tag.name_key)))
    rows = [
        {"name": normalize_tag_name(name), "name_key": tag_name_key(name), "color": PALETTE[index % len(PALETTE)]}
        for index, name in enumerate(TAG_NAMES)
        if tag_name_key(name) not in existing
    ]
    if rows:
        session.execute(insert(Tag), rows)


def _top_up(session: AnySession, model: Any, target: int, make_row: Callable[[int], dict[str, Any]]) -> None:
    start = _count(session, model)
    for batch in _batches(range(start, target)):
        session.execute(insert(model.__table__), [make_row(n) for n in batch])


def _batches(numbers: range) -> Iterator[range]:
    for first in range(numbers.start, numbers.stop, BATCH_SIZE):
        yield range(first, min(first + BATCH_SIZE, numbers.stop))


def _created(rng: random.Random, now: datetime) -> datetime:
    return now - timedelta(seconds=rng.randint(60, MAX_AGE_SECONDS))


def _deleted(rng: random.Random, created: datetime) -> dict[str, Any]:
    """About one row in fifty starts out in the trash, each in a deletion batch of its own."""
    if rng.random() >= TRASHED_SHARE:
        return {"deleted_at": None, "deletion_batch": None}
    return {"deleted_at": created + timedelta(days=1), "deletion_batch": f"seed-{rng.getrandbits(64):016x}"}


def _user_row(n: int, rng: random.Random, now: datetime) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    created = _created(rng, now)
    return {
        "email": f"{first.lower()}.{last.lower()}.{n:05d}@{DEMO_EMAIL_DOMAIN}",
        "username": f"{first.lower()}{n:05d}",
        "full_name": f"{first} {last}",
        "is_active": rng.random() > 0.1,
        "bio": None,
        "created_at": created,
        "updated_at": created,
        "version": 1,
        "deleted_at": None,
        "deletion_batch": None,
    }


def _task_row(rng: random.Random, now: datetime, user_ids: Sequence[int]) -> dict[str, Any]:
    created = _created(rng, now)
    return {
        "owner_id": rng.choice(user_ids),
        "title": f"{rng.choice(VERBS)} {rng.choice(OBJECTS)}",
        "description": TASK_DESCRIPTION if rng.random() < DESCRIBED_SHARE else None,
        "status": rng.choice(list(TaskStatus)),
        "priority": rng.choice(list(TaskPriority)),
        "metadata": {"estimate_hours": rng.randint(1, MAX_ESTIMATE_HOURS), "source": rng.choice(SOURCES)},
        "due_at": created + timedelta(days=rng.randint(1, MAX_DUE_DAYS)) if rng.random() < DUE_SHARE else None,
        "created_at": created,
        "updated_at": created,
        "version": 1,
        **_deleted(rng, created),
    }


def _post_row(rng: random.Random, now: datetime, user_ids: Sequence[int]) -> dict[str, Any]:
    created = _created(rng, now)
    published = rng.random() < PUBLISHED_SHARE
    return {
        "author_id": rng.choice(user_ids),
        "title": f"Notes on the {rng.choice(OBJECTS)}",
        "content": POST_CONTENT,
        "status": PostStatus.PUBLISHED if published else PostStatus.DRAFT,
        "published_at": created + timedelta(hours=2) if published else None,
        "created_at": created,
        "updated_at": created,
        "version": 1,
        **_deleted(rng, created),
    }


def _link_tags(session: AnySession, model: Any, first_new_id: int) -> None:
    """Give the rows from ``first_new_id`` on about 1.6 tags each (none for one id in five, two
    for the others), chosen from their id, in one set-based statement. The two choices never
    coincide (7 id ≡ 13 id + 3 has no solution modulo 50). Those ids are new, so no link of
    theirs can exist but one left behind by a record deleted without its links (SQLite enforces
    no foreign key): removing those first spares the insert a conflict check per link, which
    doubled its time at a million tasks."""
    link = model.tag_link_table()
    owner = model.tag_link_column()
    session.execute(link.delete().where(owner >= first_new_id))
    session.execute(
        text(
            f"INSERT INTO {link.name} ({owner.name}, tag_id) "
            f"SELECT r.id, g.id FROM {model.__tablename__} r "
            "CROSS JOIN (SELECT 7 AS step, 0 AS shift UNION ALL SELECT 13, 3) m "
            "JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS position FROM tags) g "
            "ON g.position = (r.id * m.step + m.shift) % (SELECT count(*) FROM tags) "
            "WHERE r.id >= :first AND r.id % 5 <> 0"
        ),
        {"first": first_new_id},
    )


# PostgreSQL: the same shape as ``_task_row``/``_post_row``, drawn by the database. The inner
# query draws each row's random numbers once, by name (a volatile select list keeps PostgreSQL
# from folding it into the outer one); the outer one turns them into values.
_DRAWN = (
    "SELECT :now - make_interval(secs => 60 + floor(random() * (:max_age - 59))) AS created, "
    "random() AS trash, random() AS batch, random() AS person, {draws} FROM generate_series(1, :rows)"
)
_TRASH = (
    "CASE WHEN d.trash < :trashed THEN d.created + interval '1 day' END, "
    "CASE WHEN d.trash < :trashed THEN 'seed-' || left(md5(d.batch::text), 16) END"
)
_PICK = "(CAST(:{name} AS {type}[]))[1 + floor(d.{draw} * cardinality(CAST(:{name} AS {type}[])))::int]"
_TASKS_IN_SQL = (
    "INSERT INTO tasks (owner_id, title, description, status, priority, metadata, due_at, created_at, "
    "updated_at, version, deleted_at, deletion_batch) "
    f"SELECT {_PICK.format(name='people', type='int', draw='person')}, "
    f"{_PICK.format(name='verbs', type='text', draw='verb')} || ' ' || "
    f"{_PICK.format(name='objects', type='text', draw='object')}, "
    "CASE WHEN d.described < :described THEN :description END, "
    f"{_PICK.format(name='statuses', type='text', draw='status')}, "
    f"{_PICK.format(name='priorities', type='text', draw='priority')}, "
    "jsonb_build_object('estimate_hours', 1 + floor(d.estimate * :max_estimate)::int, "
    f"'source', {_PICK.format(name='sources', type='text', draw='source')}), "
    "CASE WHEN d.due < :due THEN d.created + make_interval(days => 1 + floor(d.due_days * :max_due_days)::int) END, "
    f"d.created, d.created, 1, {_TRASH} "
    "FROM ("
    + _DRAWN.format(
        draws="random() AS verb, random() AS object, random() AS described, random() AS status, "
        "random() AS priority, random() AS estimate, random() AS source, random() AS due, random() AS due_days"
    )
    + ") d"
)
_POSTS_IN_SQL = (
    "INSERT INTO posts (author_id, title, content, status, published_at, created_at, updated_at, version, "
    "deleted_at, deletion_batch) "
    f"SELECT {_PICK.format(name='people', type='int', draw='person')}, "
    f"'Notes on the ' || {_PICK.format(name='objects', type='text', draw='object')}, :content, "
    "CASE WHEN d.published < :published THEN :published_status ELSE :draft_status END, "
    "CASE WHEN d.published < :published THEN d.created + interval '2 hours' END, "
    f"d.created, d.created, 1, {_TRASH} "
    "FROM (" + _DRAWN.format(draws="random() AS object, random() AS published") + ") d"
)


def _seed_records_in_sql(
    session: AnySession, targets: dict[Any, int], user_ids: Sequence[int], now: datetime, seed: float
) -> None:
    """Top tasks and posts up to ``targets`` with rows the database draws, then tag the new ones."""
    session.execute(text("SELECT setseed(:seed)"), {"seed": seed})
    missing = {model: max(0, target - _count(session, model)) for model, target in targets.items()}
    bulk = [model for model, rows in missing.items() if rows >= max(INDEX_AFTER_LOAD_ROWS, _count(session, model))]
    shared = {
        "now": now,
        "max_age": MAX_AGE_SECONDS,
        "trashed": TRASHED_SHARE,
        "people": list(user_ids),
        "objects": OBJECTS,
    }
    statements = {
        Task: (
            _TASKS_IN_SQL,
            {
                "verbs": VERBS,
                "described": DESCRIBED_SHARE,
                "description": TASK_DESCRIPTION,
                "statuses": [status.value for status in TaskStatus],
                "priorities": [priority.value for priority in TaskPriority],
                "max_estimate": MAX_ESTIMATE_HOURS,
                "sources": SOURCES,
                "due": DUE_SHARE,
                "max_due_days": MAX_DUE_DAYS,
            },
        ),
        Post: (
            _POSTS_IN_SQL,
            {
                "content": POST_CONTENT,
                "published": PUBLISHED_SHARE,
                "published_status": PostStatus.PUBLISHED.value,
                "draft_status": PostStatus.DRAFT.value,
            },
        ),
    }
    tables = [table for model in bulk for table in (model.__tablename__, model.tag_link_table().name)]
    with _tags_counted_after(session, bulk), _indexes_built_after(session, tables):
        for model, rows in missing.items():
            first = _next_id(session, model)
            if rows:
                statement, values = statements[model]
                session.execute(text(statement), {**shared, **values, "rows": rows})
            _link_tags(session, model, first)


@contextmanager
def _tags_counted_after(session: AnySession, models: Sequence[Any]) -> Iterator[None]:
    """The tag counters' triggers on the links of ``models`` off for the body, then every tag's
    counters counted once from the links (PostgreSQL; in the caller's transaction).

    For a large load the records' keys are dropped, and a trigger looking up each new link's
    record would find no index to do it with."""
    links = [model.tag_link_table().name for model in models]
    for link in links:
        session.execute(text(f"ALTER TABLE {link} DISABLE TRIGGER USER"))
    yield
    for link in links:
        session.execute(text(f"ALTER TABLE {link} ENABLE TRIGGER USER"))
    for model in models:
        link, record = model.tag_link_table(), model.tag_link_column().name
        counted = (
            f"SELECT l.tag_id, count(*) AS n FROM {link.name} l JOIN {model.__tablename__} r "
            f"ON r.id = l.{record} AND r.deleted_at IS NULL GROUP BY l.tag_id"
        )
        counter = usage_counter(model).key
        session.execute(
            text(
                f"UPDATE tags SET {counter} = coalesce(c.n, 0) FROM tags t LEFT JOIN ({counted}) c ON c.tag_id = t.id "
                "WHERE tags.id = t.id"
            )
        )


@contextmanager
def _indexes_built_after(session: AnySession, tables: Sequence[str]) -> Iterator[None]:
    """Drop the indexes and key constraints of ``tables`` (PostgreSQL) for the body, then build
    them again from their own definitions and analyse the tables.

    Everything happens in the caller's transaction, which is also what makes it safe: should the
    load fail, its rollback brings the dropped indexes and constraints back with the table as it
    was, and a row that breaks a key fails the rebuild and so the whole seed. A key that a table
    outside ``tables`` refers to stays (dropping it would take that table's foreign key along),
    and so do unique indexes that are not constraints."""
    if not tables:
        yield
        return
    # Hash joins of millions of rows (the tag counters' count, the foreign keys' validation)
    # stay in memory with this much, and a b-tree build sorts in it (split among its parallel
    # workers); a GIN build collects its entries in it before writing them out.
    session.execute(text("SET LOCAL work_mem = '256MB'"))
    session.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
    names = {"tables": list(tables)}
    # Keys first and foreign keys last: the order to add them in (a foreign key needs the key
    # it refers to); they are dropped the other way round.
    constraints = session.execute(
        text(
            "SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE c.conrelid = ANY(CAST(:tables AS regclass[])) AND (c.contype = 'f' "
            "OR c.contype IN ('p', 'u') AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' "
            "AND r.confrelid = c.conrelid AND r.conrelid <> ALL(CAST(:tables AS regclass[])))) "
            "ORDER BY c.contype = 'f', c.conrelid, c.conname"
        ),
        names,
    ).all()
    indexes = session.execute(
        text(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.indrelid = ANY(CAST(:tables AS regclass[])) AND NOT i.indisunique ORDER BY c.relname"
        ),
        names,
    ).all()
    for table, constraint, _definition in reversed(constraints):
        session.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}"))
    for index, _definition in indexes:
        session.execute(text(f"DROP INDEX {index}"))
    yield
    keys = [row for row in constraints if not row[2].startswith("FOREIGN KEY")]
    for table, constraint, definition in keys:
        session.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} {definition}"))
    for _index, definition in indexes:
        session.execute(text(definition))
    for table, constraint, definition in constraints[len(keys) :]:
        session.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} {definition}"))
    for table in tables:
        session.execute(text(f"ANALYZE {table}"))
