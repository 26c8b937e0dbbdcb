"""Demo data: realistic, repeatable, set-based, and idempotent.

Running it again tops the data up to the requested size instead of duplicating it. Rows go in
with multi-row ``INSERT``s in batches, and tag links with one ``INSERT … SELECT``, so a million
tasks take minutes on PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, scoped_session

from webapp.database import utcnow
from webapp.models import Operator, OperatorRole, Post, PostStatus, Tag, Task, TaskPriority, TaskStatus, User
from webapp.models.tags import normalize_tag_name, tag_name_key

BATCH_SIZE = 10_000
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
    """Make the demo data set hold at least ``tasks`` tasks, with users, posts and tags to match."""
    rng = random.Random(seed)
    now = utcnow()
    user_target = min(10_000, max(50, tasks // 100))
    _seed_tags(session)
    _top_up(session, User, user_target, lambda n: _user_row(n, rng, now))
    user_ids = session.scalars(select(User.id).order_by(User.id)).all()
    first_new_task = _next_id(session, Task)
    _top_up(session, Task, tasks, lambda n: _task_row(rng, now, user_ids))
    first_new_post = _next_id(session, Post)
    _top_up(session, Post, max(10, tasks // 10), lambda n: _post_row(rng, now, user_ids))
    _link_tags(session, Task, first_new_task)
    _link_tags(session, Post, first_new_post)
    session.commit()
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
    return now - timedelta(seconds=rng.randint(60, 365 * 24 * 3600))


def _deleted(rng: random.Random, created: datetime) -> dict[str, Any]:
    """About one row in fifty starts out in the trash."""
    if rng.random() >= 0.02:
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
        "description": "Generated demo task." if rng.random() < 0.5 else None,
        "status": rng.choice(list(TaskStatus)),
        "priority": rng.choice(list(TaskPriority)),
        "metadata": {"estimate_hours": rng.randint(1, 40), "source": rng.choice(["email", "web", "api"])},
        "due_at": created + timedelta(days=rng.randint(1, 90)) if rng.random() < 0.7 else None,
        "created_at": created,
        "updated_at": created,
        "version": 1,
        **_deleted(rng, created),
    }


def _post_row(rng: random.Random, now: datetime, user_ids: Sequence[int]) -> dict[str, Any]:
    created = _created(rng, now)
    published = rng.random() < 0.6
    return {
        "author_id": rng.choice(user_ids),
        "title": f"Notes on the {rng.choice(OBJECTS)}",
        "content": "Generated demo post.",
        "status": PostStatus.PUBLISHED if published else PostStatus.DRAFT,
        "published_at": created + timedelta(hours=2) if published else None,
        "created_at": created,
        "updated_at": created,
        "version": 1,
        **_deleted(rng, created),
    }


def _link_tags(session: AnySession, model: Any, first_new_id: int) -> None:
    """Give new rows about two tags each, chosen from their id, in two set-based statements."""
    link = model.tag_link_table()
    owner_column = model.tag_link_column().name
    table = model.__tablename__
    for multiplier, offset in ((7, 0), (13, 3)):
        session.execute(
            text(
                f"INSERT INTO {link.name} ({owner_column}, tag_id) "
                f"SELECT r.id, g.id FROM {table} r "
                "JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS position FROM tags) g "
                "ON g.position = (r.id * :multiplier + :offset) % (SELECT count(*) FROM tags) "
                f"WHERE r.id >= :first AND r.id % 5 <> 0 "
                f"AND NOT EXISTS (SELECT 1 FROM {link.name} x "
                f"WHERE x.{owner_column} = r.id AND x.tag_id = g.id)"
            ),
            {"multiplier": multiplier, "offset": offset, "first": first_new_id},
        )
