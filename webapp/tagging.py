"""Tagging many records at once as set-based SQL: one statement per step, whatever the selection.

The selected rows that are still live are locked first, in id order (``webapp.locking``: the order
every bulk write takes its locks in), so none of them goes to the trash while the action runs and
the outcome can say how many were gone; the statements then touch only the locked rows. Adding a
tag is then one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` that skips rows already
carrying it, removing one is one ``DELETE … RETURNING`` (PostgreSQL and SQLite both understand
them). The rows those statements return, and only those, then get their ``version`` bumped, so an
edit form opened before the bulk action reports a conflict instead of writing the old tag list
back, and one audit entry each. The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import ColumnElement

from webapp import audit
from webapp.database import Base
from webapp.extensions import db
from webapp.locking import locked_ids, table_order
from webapp.models import AuditAction, Tag
from webapp.models.mixins import SoftDeleteMixin, TaggableMixin


def taggable_models() -> list[type[Any]]:
    """Every model with tags (posts, tasks), found on the registry rather than listed by hand, in
    the order their rows are locked."""
    # db.Model shares Base's registry (Flask-SQLAlchemy copies Base's body); only Base's is typed.
    mappers = Base.registry.mappers
    return sorted(
        (mapper.class_ for mapper in mappers if issubclass(mapper.class_, TaggableMixin)),
        key=table_order,
    )


def carried(tag_ids: Sequence[int]) -> set[int]:
    """The tags among ``tag_ids`` that some live record carries."""
    found: set[int] = set()
    for model in taggable_models():
        link = model.tag_link_table()
        carrying = (
            select(link.c.tag_id)
            .join(model, model.id == model.tag_link_column())
            .where(link.c.tag_id.in_(tag_ids), _live(model))
            .distinct()
        )
        found.update(db.session.scalars(carrying))
    return found


def _live(model: type[Any]) -> ColumnElement[bool]:
    return model.live() if issubclass(model, SoftDeleteMixin) else model.id.is_not(None)


def _carries(model: type[Any], tag_ids: Sequence[int]) -> ColumnElement[bool]:
    """The rows carrying one of ``tag_ids``."""
    link = model.tag_link_table()
    return exists().where(model.tag_link_column() == model.id, link.c.tag_id.in_(tag_ids))


def _touch(model: type[Any], ids: list[int]) -> None:
    """Set-based changes bypass the ORM's version counter; bump it so open forms see the change."""
    if ids:
        statement = update(model).where(model.id.in_(ids)).values(**model.bumped_version())
        db.session.execute(statement, execution_options={"synchronize_session": False})


def _link(model: type[Any], criterion: ColumnElement[bool], tag_id: int) -> list[int]:
    """Link the matching rows to the tag; returns the rows that gained it.

    ``ON CONFLICT DO NOTHING`` makes a concurrent add of the same tag wait for the other one and
    then skip its rows, instead of failing on the primary key or claiming the rows too.
    """
    link = model.tag_link_table()
    rows = select(model.id, literal(tag_id)).where(criterion & ~_carries(model, [tag_id]))
    insert_for = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert_for(link)
        .from_select([model.tag_link_column().name, "tag_id"], rows)
        .on_conflict_do_nothing()
        .returning(model.tag_link_column())
    )
    return list(db.session.scalars(statement))


def _unlink(model: type[Any], criterion: ColumnElement[bool], tag_id: int) -> list[int]:
    """Unlink the tag from the rows matching ``criterion``; returns the rows that lost it."""
    link = model.tag_link_table()
    owners = select(model.id).where(criterion)
    statement = (
        delete(link)
        .where(link.c.tag_id == tag_id, model.tag_link_column().in_(owners))
        .returning(model.tag_link_column())
    )
    return list(db.session.scalars(statement))


def _audit(action: AuditAction, model: type[Any], ids: list[int], summary: str, change: list[Any]) -> int:
    """One entry per row the link statement actually changed (not per row it was asked about)."""
    _touch(model, ids)
    if ids:
        audit.record_bulk(action, model, model.id.in_(ids), summary, {"tags": change})
    return len(ids)


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk tag or untag did to the selected rows, for the operator's message."""

    changed: int  # gained (lost) the tag
    unchanged: int  # live, and already carried it (or did not carry it)
    gone: int  # in the trash or deleted for good by the time the action ran


def _bulk(model: type[Any], ids: Sequence[Any], change: Any) -> BulkOutcome:
    """Run ``change`` on the live rows among ``ids``, locked until the transaction ends.

    A concurrent move to the trash either committed before (the row is not live, so it is gone) or
    waits for this transaction: a row is never both tagged and trashed by two operators at once.
    """
    live = locked_ids(model, model.id.in_(ids) & _live(model))
    changed = change(model.id.in_(live)) if live else 0
    return BulkOutcome(changed, len(live) - changed, len(set(ids)) - len(live))


@audit.batched
def add_tag(model: type[Any], ids: Sequence[Any], tag: Tag) -> BulkOutcome:
    """Tag the live rows among ``ids``; rows that already carry the tag are left alone."""

    def link(criterion: ColumnElement[bool]) -> int:
        gaining = _link(model, criterion, tag.id)
        return _audit(AuditAction.TAG, model, gaining, f"Tagged “{tag.name}”", [None, tag.name])

    return _noted_on_tag(AuditAction.TAG, tag, model, _bulk(model, ids, link))


@audit.batched
def remove_tag(model: type[Any], ids: Sequence[Any], tag: Tag) -> BulkOutcome:
    """Untag the live rows among ``ids`` that carry the tag."""

    def unlink(criterion: ColumnElement[bool]) -> int:
        losing = _unlink(model, criterion, tag.id)
        return _audit(AuditAction.UNTAG, model, losing, f"Untagged “{tag.name}”", [tag.name, None])

    return _noted_on_tag(AuditAction.UNTAG, tag, model, _bulk(model, ids, unlink))


def _noted_on_tag(action: AuditAction, tag: Tag, model: type[Any], outcome: BulkOutcome) -> BulkOutcome:
    """One entry on the tag itself: its history shows the bulk change, and the batch names the tag
    by id (the records' entries name it as it was called), which its undo needs."""
    if outcome.changed:
        noun = model.__name__.lower()
        done = "Added to" if action is AuditAction.TAG else "Removed from"
        audit.record(action, tag, summary=f"{done} {outcome.changed:,} {noun}{'s' if outcome.changed != 1 else ''}")
    return outcome


def swap(model: type[Any], ids: Sequence[int], removed: Tag | None, added: Tag | None, summary: str) -> list[int]:
    """Take ``removed`` off and put ``added`` on the rows ``ids``, which the caller has locked:
    an undo's step, audited like the change it takes back (``{"tags": [removed, added]}``)."""
    criterion = model.id.in_(ids)
    changed = set(_unlink(model, criterion, removed.id) if removed is not None else [])
    changed.update(_link(model, criterion, added.id) if added is not None else [])
    change = [removed.name if removed else None, added.name if added else None]
    _audit(AuditAction.TAG if added is not None else AuditAction.UNTAG, model, sorted(changed), summary, change)
    return sorted(changed)


def _lock_carrying(tags: Sequence[Tag]) -> dict[type[Any], ColumnElement[bool]]:
    """Lock every record (live or trashed) carrying one of ``tags``, each taggable table in turn;
    returns, per model, the criterion that selects the locked rows."""
    tag_ids = [tag.id for tag in tags]
    return {model: model.id.in_(locked_ids(model, _carries(model, tag_ids))) for model in taggable_models()}


@audit.batched
def merge_tags(sources: Sequence[Tag], target: Tag) -> dict[type[Any], int]:
    """Re-point every record (live or trashed) from each of ``sources`` to ``target``.

    The records are all locked first (``webapp.locking``); the caller then moves the sources to
    the trash in the same batch, so an undo of the merge finds them and their records. Records
    that carried both only lose the source; both kinds are audited. Returns, per taggable model,
    how many records gained ``target``.
    """
    locked = _lock_carrying(sources)
    gained: dict[type[Any], int] = {model: 0 for model in locked}
    for source in sources:
        for model, records in locked.items():
            carrying = _unlink(model, records, source.id)
            gaining = _link(model, model.id.in_(carrying), target.id)
            already = sorted(set(carrying) - set(gaining))
            merged = f"Tagged “{target.name}” (merged from “{source.name}”)"
            gained[model] += _audit(AuditAction.TAG, model, gaining, merged, [source.name, target.name])
            untagged = f"Untagged “{source.name}” (merged into “{target.name}”, already tagged)"
            _audit(AuditAction.UNTAG, model, already, untagged, [source.name, None])
        audit.record(AuditAction.MERGE, source, summary=f"Merged tag “{source.name}” into “{target.name}”")
    names = ", ".join(f"“{source.name}”" for source in sources)
    audit.record(AuditAction.MERGE, target, summary=f"Took over the records of {names}")
    return gained


def detach_everywhere(tags: Sequence[Tag]) -> None:
    """Untag every record before tags are deleted for good: explicit, because SQLite does not
    enforce the link table's ``ON DELETE CASCADE`` without a per-connection pragma, and audited.
    The records are locked first; the tags' own delete comes after (``webapp.locking``)."""
    for model, records in _lock_carrying(tags).items():
        for tag in tags:
            carrying = _unlink(model, records, tag.id)
            _audit(AuditAction.UNTAG, model, carrying, f"Untagged “{tag.name}” (tag deleted)", [tag.name, None])


def usage_counter(model: type[Any]) -> Any:
    """The tag's column counting the live records of ``model`` that carry it (``task_count``)."""
    return getattr(Tag, f"{model.__tablename__.removesuffix('s')}_count")
