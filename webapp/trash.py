"""Soft delete, restore and purge as set-based SQL, with the cascade from parents to children.

A soft-deletable parent (a user) takes its live soft-deletable children (tasks, posts) to the
trash in the same transaction and under the same ``deletion_batch``; restoring the parent brings
back exactly that batch, never children that had been deleted on their own before. The cascade
follows the one-to-many relationships between soft-deletable models, the same paths the schema's
``ON DELETE CASCADE`` takes for a purge.

Every function works in the caller's transaction: it first locks the rows it will change, parents
before children and each table by id (``webapp.locking``, the order every bulk write keeps), then
writes the audit entries (one per affected row, cascaded rows included) and changes exactly the
rows it locked; the caller commits or rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, delete, func, inspect, select, update
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.sql import ColumnElement

from webapp import audit, tagging
from webapp.database import utcnow
from webapp.extensions import db
from webapp.formatting import noun_for, spoken_list
from webapp.locking import locked_ids, table_order
from webapp.models import AuditAction, Tag
from webapp.models.mixins import SoftDeleteMixin, TaggableMixin, VersionMixin


@dataclass(frozen=True)
class Cascade:
    """A soft-deletable child reached from a parent through a foreign key (``Task.owner_id``)."""

    child: type[Any]
    foreign_key: Any
    relationship: str  # the child's name for the parent, e.g. "owner"


@dataclass
class Outcome:
    """What a trash operation did, for the message shown to the operator."""

    affected: int = 0
    cascaded: dict[type[Any], int] = field(default_factory=dict)
    skipped: int = 0


def is_soft_deletable(model: type[Any]) -> bool:
    return issubclass(model, SoftDeleteMixin)


def cascades(model: type[Any]) -> list[Cascade]:
    """The soft-deletable children of ``model``, read from its one-to-many relationships."""
    found = []
    for relationship in inspect(model).relationships:
        child = relationship.mapper.class_
        if relationship.direction.name != "ONETOMANY" or not is_soft_deletable(child):
            continue
        (foreign_key,) = relationship.remote_side
        found.append(Cascade(child, getattr(child, foreign_key.key), _back_name(relationship)))
    return found


def _locked_children(
    model: type[Any], criterion: Callable[[Cascade], ColumnElement[bool]], *, deleting: bool = False
) -> list[tuple[Cascade, list[Any]]]:
    """Each cascade's children matching ``criterion``, locked table by table in the lock order
    (``webapp.locking``) and listed in the relationships' order, which the operator's message keeps."""
    found = cascades(model)
    in_lock_order = sorted(range(len(found)), key=lambda index: table_order(found[index].child))
    locked = {
        index: locked_ids(found[index].child, criterion(found[index]), deleting=deleting) for index in in_lock_order
    }
    return [(cascade, locked[index]) for index, cascade in enumerate(found)]


def parents(model: type[Any]) -> list[RelationshipProperty[Any]]:
    """Many-to-one relationships of ``model`` to soft-deletable parents (a task's owner)."""
    return [
        relationship
        for relationship in inspect(model).relationships
        if relationship.direction.name == "MANYTOONE" and is_soft_deletable(relationship.mapper.class_)
    ]


def locked_parent(relationship: RelationshipProperty[Any], parent_id: Any) -> Any | None:
    """The parent row as committed now, share-locked until the caller's transaction ends (``None``
    once purged).

    A record saved under a parent must see the parent's final state: the foreign key check alone
    takes a lock that does not wait for a concurrent move to the trash, which left live tasks under
    trashed users. ``FOR SHARE`` conflicts with that move's ``UPDATE``: either this transaction
    waits for it and then reads the parent in the trash, or the move waits for this one and then
    cascades to the record it saved. (SQLite, which has no row locks, serializes writers.)
    """
    parent = relationship.mapper.class_
    query = _share_locked(select(parent).where(parent.id == parent_id))
    return db.session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def _lock_parents(model: type[Any], criterion: ColumnElement[bool]) -> None:
    """Share-lock the parents of the rows matching ``criterion``, as :func:`locked_parent` does,
    before those rows are brought back: the ``UPDATE`` that follows then sees the parents' final
    state (a concurrent move to the trash either has committed or waits for this transaction).
    In id order, as a move to the trash locks them: a restore and a bulk move of the same users
    wait for each other instead of deadlocking."""
    for relationship in parents(model):
        parent = relationship.mapper.class_
        (foreign_key,) = relationship.local_columns
        children = select(foreign_key).where(criterion)
        db.session.execute(_share_locked(select(parent.id).where(parent.id.in_(children)).order_by(parent.id)))


def _share_locked(query: Select[Any]) -> Select[Any]:
    return query.with_for_update(read=True)


def _back_name(relationship: RelationshipProperty[Any]) -> str:
    return relationship.back_populates or relationship.key


def _ids_where(model: type[Any], criterion: ColumnElement[bool]) -> Select[Any]:
    return select(model.id).where(criterion)


def _count(model: type[Any], criterion: ColumnElement[bool]) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(criterion)) or 0


def _bump(model: type[Any]) -> dict[str, Any]:
    """Set-based updates bypass the ORM's version counter: versioned rows bump it themselves."""
    return model.bumped_version() if issubclass(model, VersionMixin) else {}


def _change(
    model: type[Any],
    ids: list[Any],
    audited: tuple[AuditAction, str, dict[str, list[Any]]],
    **values: Any,
) -> int:
    """Audit and update the rows ``ids``, which this transaction has locked (:func:`locked_ids`).

    The lock makes the rows' state final: a concurrent transaction that changed them first has
    committed, and they were matched again on its result, so every entry is for a real change.
    """
    if not ids:
        return 0
    action, summary, changes = audited
    audit.record_bulk(action, model, model.id.in_(ids), summary, changes)
    statement = update(model).where(model.id.in_(ids)).values(**values, **_bump(model))
    db.session.execute(statement, execution_options={"synchronize_session": False})
    return len(ids)


@audit.batched
def soft_delete(model: type[Any], ids: Sequence[Any], operator_id: int | None) -> Outcome:
    """Move the live rows among ``ids`` to the trash, with their live children.

    The rows' ``deletion_batch`` is the audit batch's id: a restore finds what went together, and
    an undo of the batch finds the rows still in the trash from it."""
    now, batch = utcnow(), audit.current_batch()
    marks = {"deleted_at": now, "deletion_batch": batch, "deleted_by_id": operator_id}
    changes = {"deleted_at": [None, now.isoformat()]}
    chosen = locked_ids(model, model.id.in_(ids) & model.live())
    following = _locked_children(model, lambda cascade: cascade.foreign_key.in_(chosen) & cascade.child.live())
    outcome = Outcome(affected=_change(model, chosen, (AuditAction.DELETE, "Moved to the trash", changes), **marks))
    for cascade, children in following:
        summary = f"Moved to the trash with its {cascade.relationship}"
        outcome.cascaded[cascade.child] = _change(
            cascade.child, children, (AuditAction.DELETE, summary, changes), **marks
        )
    return outcome


def restorable(model: type[Any]) -> ColumnElement[bool]:
    """Trashed rows whose soft-deletable parents are live: a task of a deleted user waits for
    its owner, or it would reappear under an owner nobody can see."""
    criterion = model.trashed()
    for relationship in parents(model):
        criterion = criterion & relationship.class_attribute.has(relationship.mapper.class_.live())
    return criterion


def _returning(cascade: Cascade, parent_batches: Select[Any], parent_ids: list[Any]) -> ColumnElement[bool]:
    """The children that went to the trash with their parent: in its batch, not deleted alone."""
    child = cascade.child
    return child.trashed() & child.deletion_batch.in_(parent_batches) & cascade.foreign_key.in_(parent_ids)


@audit.batched
def restore(model: type[Any], ids: Sequence[Any]) -> Outcome:
    """Bring back the trashed rows among ``ids`` and exactly the children deleted with them."""
    _lock_parents(model, model.id.in_(ids))
    chosen = locked_ids(model, model.id.in_(ids) & restorable(model))
    requested = _count(model, model.id.in_(ids) & model.trashed())
    clear = {"deleted_at": None, "deletion_batch": None, "deleted_by_id": None}
    changes = {"deleted_at": ["(in the trash)", None]}
    # Children are chosen before the parents change: they are the ones in their parent's batch.
    parent_batches = select(model.deletion_batch).where(model.id.in_(chosen))
    returning = _locked_children(model, lambda cascade: _returning(cascade, parent_batches, chosen))
    outcome = Outcome()
    for cascade, children in returning:
        summary = f"Restored with its {cascade.relationship}"
        outcome.cascaded[cascade.child] = _change(
            cascade.child, children, (AuditAction.RESTORE, summary, changes), **clear
        )
    outcome.affected = _change(model, chosen, (AuditAction.RESTORE, "Restored from the trash", changes), **clear)
    outcome.skipped = requested - outcome.affected
    return outcome


@dataclass
class PurgePlan:
    """What a purge would remove, for the confirmation page."""

    total: int
    cascaded: dict[type[Any], int]
    tag_links: int


def _tag_link_count(model: type[Any], ids: Select[Any]) -> int:
    if model is Tag:
        links = [taggable.tag_link_table() for taggable in tagging.taggable_models()]
        counts = (select(func.count()).select_from(link).where(link.c.tag_id.in_(ids)) for link in links)
        return sum(db.session.scalar(count) or 0 for count in counts)
    if not issubclass(model, TaggableMixin):
        return 0
    link_column = model.tag_link_column()
    count = select(func.count()).select_from(link_column.table).where(link_column.in_(ids))
    return db.session.scalar(count) or 0


def purge_plan(model: type[Any], ids: Sequence[Any]) -> PurgePlan:
    chosen = model.id.in_(ids) & model.trashed()
    chosen_ids = _ids_where(model, chosen)
    total = _count(model, chosen)
    cascaded: dict[type[Any], int] = {}
    tag_links = _tag_link_count(model, chosen_ids)
    for cascade in cascades(model):
        child_ids = _ids_where(cascade.child, cascade.foreign_key.in_(chosen_ids))
        cascaded[cascade.child] = _count(cascade.child, cascade.foreign_key.in_(chosen_ids))
        tag_links += _tag_link_count(cascade.child, child_ids)
    return PurgePlan(total, cascaded, tag_links)


def _delete_rows(model: type[Any], ids: list[Any], summary: str) -> int:
    """Delete the locked rows ``ids`` and their tag links explicitly: SQLite does not enforce
    ``ON DELETE CASCADE`` unless a pragma is set on every connection, and the result must not
    depend on it."""
    if not ids:
        return 0
    audit.record_bulk(AuditAction.PURGE, model, model.id.in_(ids), summary)
    if issubclass(model, TaggableMixin):
        db.session.execute(delete(model.tag_link_table()).where(model.tag_link_column().in_(ids)))
    db.session.execute(delete(model).where(model.id.in_(ids)), execution_options={"synchronize_session": False})
    return len(ids)


@audit.batched
def purge(model: type[Any], ids: Sequence[Any]) -> Outcome:
    """Delete trashed rows for good, with every child row (live or trashed) that hangs off them.

    Each row is locked for the delete before any link goes: a bulk untag holds a record before it
    deletes its links, so a purge deleting the links first could wait for it while holding them.
    Tags come last in the lock order: their records are locked and untagged (audited) first."""
    if model is Tag:
        tagging.detach_everywhere(list(db.session.scalars(select(Tag).where(Tag.id.in_(ids), Tag.trashed()))))
    chosen = locked_ids(model, model.id.in_(ids) & model.trashed(), deleting=True)
    children = _locked_children(model, lambda cascade: cascade.foreign_key.in_(chosen), deleting=True)
    outcome = Outcome()
    for cascade, child_ids in children:
        summary = f"Permanently deleted with its {cascade.relationship}"
        outcome.cascaded[cascade.child] = _delete_rows(cascade.child, child_ids, summary)
    outcome.affected = _delete_rows(model, chosen, "Permanently deleted from the trash")
    return outcome


def describe(counts: Iterable[tuple[type[Any], int]]) -> str:
    """``"3 tasks and 1 post"`` for the operator's message; empty when nothing cascaded."""
    return spoken_list([plural(count, model) for model, count in counts if count])


def plural(count: int, model: type[Any]) -> str:
    noun = model.__name__.lower()
    return f"{count:,} {noun_for(count, noun, noun + 's')}"
