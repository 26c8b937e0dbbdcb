"""The one order in which every bulk write takes its row locks, so that no two of them deadlock.

PostgreSQL stops one of two transactions that each wait for a row the other holds (a deadlock,
SQLSTATE 40P01). A plain ``UPDATE … WHERE owner_id IN (…)`` locks rows in whatever order its plan
meets them (table order, or an index's such as creation time), so two bulk writes over the same
rows could each hold one the other wants: a bulk tag of a user's tasks racing the move of that
user to the trash did. So every bulk write (trash, restore, purge, bulk tag and untag, tag merge
and delete) first locks the rows it will write, one ``SELECT … ORDER BY id FOR …`` per table, then
writes only those rows, and it goes through the tables in one order:

1. parents (users) before their children: a form save share-locks its owner
   (``trash.locked_parent``) before it writes the record, and a restore the owners first too;
2. children by table name (posts, then tasks; :func:`table_order`), each by id;
3. tags last: a save or a bulk tag reaches a tag only through a link's foreign key, after its
   record, and a tag merge or delete removes its tags after it has locked and untagged the records.

Link rows (``task_tags``) are written only by transactions that hold their record. SQLite, which
has no row locks, serializes writers and ignores ``FOR UPDATE``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.sql import ColumnElement

from webapp.extensions import db


def table_order(model: type[Any]) -> str:
    """The key that sorts sibling tables (posts, tasks) into the lock order."""
    return str(model.__tablename__)


def locked_ids(model: type[Any], criterion: ColumnElement[bool], *, deleting: bool = False) -> list[Any]:
    """The ids of the rows matching ``criterion``, locked in id order until the transaction ends.

    ``FOR NO KEY UPDATE`` is the lock an ``UPDATE`` of non-key columns takes (it still lets
    others insert rows that reference these); rows about to be deleted take ``FOR UPDATE``. A row
    changed meanwhile by a transaction we waited for is matched again on its new version.
    """
    return list(db.session.scalars(_locking(model, criterion, deleting)))


def lock_rows(model: type[Any], criterion: ColumnElement[bool], *, deleting: bool = False) -> int:
    """Lock the rows as :func:`locked_ids` does, without bringing their ids to Python (an import
    of a million rows locks a million records); how many."""
    locking = _locking(model, criterion, deleting).subquery()
    return int(db.session.scalar(select(func.count()).select_from(locking)) or 0)


def _locking(model: type[Any], criterion: ColumnElement[bool], deleting: bool) -> Select[Any]:
    return select(model.id).where(criterion).order_by(model.id).with_for_update(key_share=not deleting)
