"""Undoing a batch: every bulk action (move to trash, restore, add or remove a tag, merge) and a
cascade soft delete is one audit batch (``audit.batched``), and this takes it back.

Exactly what the batch changed, for the rows still in the state it left them, is put back:

- rows it moved to the trash are restored if they are still there from it (``deletion_batch``);
- rows it restored go back to the trash if nothing changed them since;
- links it added or removed are taken off or put back on the records nothing changed since.

"Changed since" is read from the audit trail, which records every change: a row whose history has
an entry after the batch's (outside the batch) was changed since, and is listed and left alone.
The rows are locked first (``webapp.locking``'s order), so an edit that commits meanwhile either
came first (its entry is then seen) or waits for the undo and then meets the bumped version.

The undo is itself a batch (its own id, undoable the same way) and all one transaction; the
caller commits. It is marked by one ``undo`` entry about the batch, which a second undo finds.
Imports have their own undo (``webapp.imports.applying.undo_batch``), on their page.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, cast, exists, func, or_, select
from sqlalchemy.orm import aliased

from webapp import audit, tagging, trash
from webapp.database import Base
from webapp.extensions import db
from webapp.locking import locked_ids, table_order
from webapp.models import AuditAction, AuditEntry, ImportBatch, Tag, User
from webapp.models.mixins import SoftDeleteMixin, TaggableMixin

CHUNK_ROWS = 10_000
SHOWN_LEFT_ALONE = 100
BATCH_SUBJECT = "Batch"
BATCH_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
UNDOABLE = frozenset({AuditAction.DELETE, AuditAction.RESTORE, AuditAction.TAG, AuditAction.UNTAG, AuditAction.MERGE})
CHANGED_SINCE = "changed since the batch"


class UndoRefused(Exception):
    """The undo cannot go ahead; nothing was written."""


@dataclass
class UndoOutcome:
    batch_id: str  # the undo's own batch
    undone: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    left_alone: list[tuple[str, str, str]] = field(default_factory=list)  # model, id, why
    left_alone_count: int = 0

    def leave(self, model: str, object_ids: Iterator[str] | list[str], why: str) -> None:
        for object_id in object_ids:
            self.left_alone_count += 1
            if len(self.left_alone) < SHOWN_LEFT_ALONE:
                self.left_alone.append((model, object_id, why))


def models_by_name() -> dict[str, type[Any]]:
    # db.Model shares Base's registry (Flask-SQLAlchemy copies Base's body); only Base's is typed.
    return {mapper.class_.__name__: mapper.class_ for mapper in Base.registry.mappers}


def undo_entry(batch_id: str) -> AuditEntry | None:
    """The entry that says the batch was undone, if it was."""
    query = select(AuditEntry).where(
        AuditEntry.model == BATCH_SUBJECT, AuditEntry.object_id == batch_id, AuditEntry.action == AuditAction.UNDO
    )
    return db.session.scalars(query.limit(1)).first()


def batch_actions(batch_id: str) -> dict[tuple[str, AuditAction], int]:
    """How many entries of each model and action the batch holds (one grouped statement)."""
    query = (
        select(AuditEntry.model, AuditEntry.action, func.count())
        .where(AuditEntry.batch_id == batch_id)
        .group_by(AuditEntry.model, AuditEntry.action)
    )
    return {(model, action): count for model, action, count in db.session.execute(query)}


def undo(batch_id: str, operator_id: int | None) -> UndoOutcome:
    """Take the batch back, as the module says; :class:`UndoRefused` when it cannot be."""
    if not BATCH_ID.match(batch_id or ""):
        raise UndoRefused("No batch has this id; nothing was changed.")
    _serialize(batch_id)
    actions = batch_actions(batch_id)
    if not actions:
        raise UndoRefused("No batch has this id; nothing was changed.")
    if db.session.get(ImportBatch, batch_id) is not None:
        raise UndoRefused("This batch is an import: undo it on the import's page. Nothing was changed.")
    done = undo_entry(batch_id)
    if done is not None:
        by = done.operator_email or "the command line"
        raise UndoRefused(f"This batch was undone already, by {by}; nothing was changed.")
    kinds = {action for (model, action) in actions if model != BATCH_SUBJECT}
    if not kinds <= UNDOABLE:
        gone = ", ".join(sorted(action.label.lower() for action in kinds - UNDOABLE))
        raise UndoRefused(f"This batch cannot be undone (it holds: {gone}); nothing was changed.")
    outcome = UndoOutcome(audit.new_batch_id())
    with audit.in_batch(outcome.batch_id):
        _undo(batch_id, {model for model, _ in actions if model != BATCH_SUBJECT}, operator_id, outcome)
        if not any(outcome.undone.values()):
            raise UndoRefused(f"Nothing was undone: all {outcome.left_alone_count:,} rows of the batch changed since.")
        undone = trash.describe((models_by_name()[name], count) for name, count in outcome.undone.items())
        audit.record_event(AuditAction.UNDO, BATCH_SUBJECT, batch_id, f"Undid a batch of changes: {undone}")
    return outcome


def _serialize(batch_id: str) -> None:
    """Two undos of one batch wait for each other; the second then finds the first's entry."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"undo:{batch_id}"))))


def _undo(batch_id: str, names: set[str], operator_id: int | None, outcome: UndoOutcome) -> None:
    models = sorted((models_by_name()[name] for name in names), key=_lock_rank)
    for model in models:  # every row first, in the lock order; then each is judged on its final state
        for chunk in _object_ids(batch_id, model, UNDOABLE):
            locked_ids(model, model.id.in_(chunk))
    for model in models:
        if issubclass(model, SoftDeleteMixin):
            _restore_trashed(batch_id, model, outcome)
    for model in models:
        if issubclass(model, SoftDeleteMixin):
            _trash_restored(batch_id, model, operator_id, outcome)
    relinked: dict[int, Tag] = {}
    for model in models:
        if issubclass(model, TaggableMixin):
            relinked.update(_relink(batch_id, model, outcome))
    for tag in relinked.values():  # the undo's own batch names its tags by id, for its undo
        audit.record(AuditAction.TAG, tag, summary="Its links put back as they were by an undo")


def _lock_rank(model: type[Any]) -> tuple[int, str]:
    """Users (parents) first, then posts and tasks, tags last: ``webapp.locking``'s order."""
    return (0 if model is User else 2 if model is Tag else 1, table_order(model))


def _entries(batch_id: str, model: type[Any], actions: frozenset[AuditAction] | set[AuditAction]) -> Select[Any]:
    return select(AuditEntry).where(
        AuditEntry.batch_id == batch_id, AuditEntry.model == model.__name__, AuditEntry.action.in_(actions)
    )


def _object_ids(
    batch_id: str, model: type[Any], actions: frozenset[AuditAction] | set[AuditAction], *, unchanged: bool = False
) -> Iterator[list[int]]:
    """The ids of the rows the batch's entries name, :data:`CHUNK_ROWS` at a time (those with no
    later change outside the batch when ``unchanged``)."""
    entry = aliased(AuditEntry)
    later = aliased(AuditEntry)
    query = select(entry.object_id).where(
        entry.batch_id == batch_id, entry.model == model.__name__, entry.action.in_(actions)
    )
    if unchanged:
        query = query.where(~_changed_after(entry, later, batch_id))
    last = ""
    while True:
        chunk = list(
            db.session.scalars(
                query.where(entry.object_id > last)
                .group_by(entry.object_id)
                .order_by(entry.object_id)
                .limit(CHUNK_ROWS)
            )
        )
        if not chunk:
            return
        yield [int(object_id) for object_id in chunk]
        last = chunk[-1]


def _changed_after(entry: Any, later: Any, batch_id: str) -> Any:
    """A later entry about the same row, outside the batch (served by the (model, object_id) index)."""
    return exists().where(
        later.model == entry.model,
        later.object_id == entry.object_id,
        later.id > entry.id,
        or_(later.batch_id.is_(None), later.batch_id != batch_id),
    )


def _restore_trashed(batch_id: str, model: type[Any], outcome: UndoOutcome) -> None:
    """Rows the batch moved to the trash and that are still there from it come back (with the
    children that went with them, in the same batch)."""
    for chunk in _object_ids(batch_id, model, {AuditAction.DELETE}):
        still = locked_ids(model, model.id.in_(chunk) & model.trashed() & (model.deletion_batch == batch_id))
        restored = trash.restore(model, still) if still else trash.Outcome()
        outcome.undone[model.__name__] += restored.affected
        for child, count in restored.cascaded.items():
            outcome.undone[child.__name__] += count
        back = set(locked_ids(model, model.id.in_(chunk) & model.live()))
        outcome.leave(
            model.__name__,
            (str(i) for i in chunk if i not in back and i not in still),
            "restored, purged or deleted again since the batch",
        )
        outcome.leave(
            model.__name__,
            (str(i) for i in still if i not in back),
            "its parent is in the trash: restore that first",
        )


def _trash_restored(batch_id: str, model: type[Any], operator_id: int | None, outcome: UndoOutcome) -> None:
    """Rows the batch restored, still live and unchanged since, go back to the trash; a parent
    with live children the batch did not restore stays (the trash would take them along)."""
    restored_ids: list[int] = []
    for chunk in _object_ids(batch_id, model, {AuditAction.RESTORE}):
        restored_ids += chunk
    eligible: set[int] = set()
    for chunk in _object_ids(batch_id, model, {AuditAction.RESTORE}, unchanged=True):
        eligible.update(locked_ids(model, model.id.in_(chunk) & model.live()))
    for cascade in trash.cascades(model):
        child = cascade.child
        restored_with = _entries(batch_id, child, {AuditAction.RESTORE}).with_only_columns(AuditEntry.object_id)
        extra = select(cascade.foreign_key).where(
            cascade.foreign_key.in_(eligible), child.live(), _as_object_id(child.id).not_in(restored_with)
        )
        eligible -= set(db.session.scalars(extra))
    outcome.leave(model.__name__, (str(i) for i in restored_ids if i not in eligible), CHANGED_SINCE)
    ordered = sorted(eligible)
    for start in range(0, len(ordered), CHUNK_ROWS):
        moved = trash.soft_delete(model, ordered[start : start + CHUNK_ROWS], operator_id)
        outcome.undone[model.__name__] += moved.affected
        for child, count in moved.cascaded.items():
            outcome.undone[child.__name__] += count


def _relink(batch_id: str, model: type[Any], outcome: UndoOutcome) -> dict[int, Tag]:
    """Links the batch added come off, links it removed go back, on the records unchanged since.

    A record's entry says ``{"tags": [removed, added]}`` by name; the names are the batch's own
    tags' (each has an entry of its own in the batch, by id)."""
    tags = _batch_tags(batch_id)
    entry, later = aliased(AuditEntry), aliased(AuditEntry)
    query = select(entry.object_id, entry.changes).where(
        entry.batch_id == batch_id,
        entry.model == model.__name__,
        entry.action.in_([AuditAction.TAG, AuditAction.UNTAG]),
        ~_changed_after(entry, later, batch_id),
    )
    pairs: dict[tuple[str | None, str | None], list[int]] = defaultdict(list)
    unchanged: set[str] = set()
    for object_id, changes in db.session.execute(query.order_by(entry.id)):
        removed, added = changes.get("tags", [None, None])
        pairs[(removed, added)].append(int(object_id))
        unchanged.add(object_id)
    every = select(AuditEntry.object_id).where(
        AuditEntry.batch_id == batch_id,
        AuditEntry.model == model.__name__,
        AuditEntry.action.in_([AuditAction.TAG, AuditAction.UNTAG]),
    )
    outcome.leave(
        model.__name__, (i for i in db.session.scalars(every.distinct()) if i not in unchanged), CHANGED_SINCE
    )
    used: dict[int, Tag] = {}
    for (removed, added), ids in pairs.items():
        if (removed is not None and removed not in tags) or (added is not None and added not in tags):
            outcome.leave(model.__name__, (str(i) for i in ids), "its tag was renamed or purged since the batch")
            continue
        back, off = tags.get(removed) if removed else None, tags.get(added) if added else None
        used.update({tag.id: tag for tag in (back, off) if tag is not None})
        for start in range(0, len(ids), CHUNK_ROWS):
            changed = tagging.swap(model, ids[start : start + CHUNK_ROWS], off, back, "Undid a bulk tag change")
            outcome.undone[model.__name__] += len(changed)
    return used


def _batch_tags(batch_id: str) -> dict[str, Tag]:
    """The tags the batch names by id (a bulk tag's, a merge's), by their current names."""
    named = select(AuditEntry.object_id).where(AuditEntry.batch_id == batch_id, AuditEntry.model == Tag.__name__)
    found = db.session.scalars(select(Tag).where(_as_object_id(Tag.id).in_(named)))
    return {tag.name: tag for tag in found}


def _as_object_id(column: Any) -> Any:
    """An id as audit entries store it (text), to compare with ``object_id``."""
    return cast(column, AuditEntry.object_id.type)
