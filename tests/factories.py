"""Test data factories: each makes a valid row, overridable field by field, and flushes it."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import insert, literal, select

from webapp.extensions import db
from webapp.models import Operator, OperatorRole, Post, Tag, Task, User

_sequence = itertools.count(1)


def _next() -> int:
    return next(_sequence)


def _save(obj: Any) -> Any:
    db.session.add(obj)
    db.session.commit()
    return obj


def make_user(**fields: Any) -> User:
    n = _next()
    fields.setdefault("email", f"user{n}@example.org")
    fields.setdefault("username", f"user{n}")
    fields.setdefault("full_name", f"User Number{n}")
    return _save(User(**fields))


def make_tag(**fields: Any) -> Tag:
    fields.setdefault("name", f"tag-{_next()}")
    fields.setdefault("color", "#17a2b8")
    return _save(Tag(**fields))


def make_task(**fields: Any) -> Task:
    if "owner" not in fields and "owner_id" not in fields:
        fields["owner"] = make_user()
    fields.setdefault("title", f"Task {_next()}")
    return _save(Task(**fields))


def make_many_tasks(count: int, **fields: Any) -> None:
    """Insert ``count`` tasks in one statement: for tests that need volume (statistics, estimates)."""
    if "owner_id" not in fields:
        fields["owner_id"] = make_user().id
    db.session.execute(insert(Task), [{"title": f"Task {_next()}", **fields} for _ in range(count)])
    db.session.commit()


def tag_every_nth_task(n: int, **fields: Any) -> Tag:
    """A new tag on every task whose id is a multiple of ``n``, linked in one statement."""
    tag = make_tag(**fields)
    links = select(Task.id, literal(tag.id)).where(Task.id % n == 0)
    db.session.execute(insert(Task.tag_link_table()).from_select(["task_id", "tag_id"], links))
    db.session.commit()
    return tag


def make_post(**fields: Any) -> Post:
    if "author" not in fields and "author_id" not in fields:
        fields["author"] = make_user()
    fields.setdefault("title", f"Post {_next()}")
    return _save(Post(**fields))


def make_operator(
    role: OperatorRole = OperatorRole.ADMIN, email: str | None = None, password: str = "a-long-test-password"
) -> Operator:
    operator = Operator(email=email or f"operator{_next()}@example.org", role=role)
    operator.set_password(password)
    return _save(operator)


def make_tasks(count: int, **fields: Any) -> list[Task]:
    """Many tasks in one commit, for bulk-action and page-size tests."""
    if "owner" not in fields and "owner_id" not in fields:
        fields["owner"] = make_user()
    tasks = [Task(title=f"Bulk task {_next()}", **fields) for _ in range(count)]
    db.session.add_all(tasks)
    db.session.commit()
    return tasks
