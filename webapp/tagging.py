"""Tagging many records at once as set-based SQL: one statement per step, whatever the selection.

Adding a tag is one ``INSERT … SELECT`` that skips rows already carrying it (``NOT EXISTS``, which
PostgreSQL and SQLite both understand), removing one is one ``DELETE``. Each also bumps ``version``
on the rows it changes, so an edit form opened before the bulk action reports a conflict instead
of writing the old tag list back, and writes one audit entry per changed row. The caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, insert, literal, select, update
from sqlalchemy.sql import ColumnElement

from webapp import audit
from webapp.extensions import db
from webapp.models import AuditAction, Tag
from webapp.models.mixins import SoftDeleteMixin, TaggableMixin


def taggable_models() -> list[type[Any]]:
    """Every model with tags (tasks, posts), found on the registry rather than listed by hand."""
    mappers = db.Model.registry.mappers
    return sorted(
        (mapper.class_ for mapper in mappers if issubclass(mapper.class_, TaggableMixin)),
        key=lambda model: model.__name__,
    )


def _live(model: type[Any]) -> ColumnElement[bool]:
    return model.live() if issubclass(model, SoftDeleteMixin) else model.id.is_not(None)


def _carries(model: type[Any], tag_id: int) -> ColumnElement[bool]:
    link = model.tag_link_table()
    return exists().where(model.tag_link_column() == model.id, link.c.tag_id == tag_id)


def _touch(model: type[Any], criterion: ColumnElement[bool]) -> int:
    statement = update(model).where(criterion).values(version=model.version + 1)
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return result.rowcount or 0  # type: ignore[attr-defined]


def _link(model: type[Any], criterion: ColumnElement[bool], tag_id: int) -> None:
    rows = select(model.id, literal(tag_id)).where(criterion)
    columns = [model.tag_link_column().name, "tag_id"]
    db.session.execute(insert(model.tag_link_table()).from_select(columns, rows))


def add_tag(model: type[Any], ids: Sequence[Any], tag: Tag) -> int:
    """Tag the live rows among ``ids``; rows that already carry the tag are left alone."""
    gaining = model.id.in_(ids) & _live(model) & ~_carries(model, tag.id)
    audit.record_bulk(AuditAction.TAG, model, gaining, f"Tagged “{tag.name}”", {"tags": [None, tag.name]})
    changed = _touch(model, gaining)
    _link(model, gaining, tag.id)
    return changed


def remove_tag(model: type[Any], ids: Sequence[Any], tag: Tag) -> int:
    """Untag the live rows among ``ids`` that carry the tag."""
    losing = model.id.in_(ids) & _live(model) & _carries(model, tag.id)
    audit.record_bulk(AuditAction.UNTAG, model, losing, f"Untagged “{tag.name}”", {"tags": [tag.name, None]})
    changed = _touch(model, losing)
    link = model.tag_link_table()
    live_ids = select(model.id).where(model.id.in_(ids) & _live(model))
    db.session.execute(delete(link).where(link.c.tag_id == tag.id, model.tag_link_column().in_(live_ids)))
    return changed


def merge_tags(source: Tag, target: Tag) -> dict[type[Any], int]:
    """Re-point every record (live or trashed) from ``source`` to ``target``, then delete ``source``.

    Returns, per taggable model, how many records gained ``target``.
    """
    summary = f"Tagged “{target.name}” (merged from “{source.name}”)"
    gained: dict[type[Any], int] = {}
    for model in taggable_models():
        gaining = _carries(model, source.id) & ~_carries(model, target.id)
        gained[model] = audit.record_bulk(AuditAction.TAG, model, gaining, summary, {"tags": [source.name, target.name]})
        _touch(model, _carries(model, source.id))
        _link(model, gaining, target.id)
        _drop_links(model, source.id)
    audit.record(AuditAction.MERGE, source, summary=f"Merged tag “{source.name}” into “{target.name}”")
    db.session.execute(delete(Tag).where(Tag.id == source.id), execution_options={"synchronize_session": False})
    return gained


def detach_everywhere(tag: Tag) -> None:
    """Untag every record before a tag is deleted: explicit, because SQLite does not enforce the
    link table's ``ON DELETE CASCADE`` without a per-connection pragma, and audited."""
    for model in taggable_models():
        carrying = _carries(model, tag.id)
        summary = f"Untagged “{tag.name}” (tag deleted)"
        audit.record_bulk(AuditAction.UNTAG, model, carrying, summary, {"tags": [tag.name, None]})
        _touch(model, carrying)
        _drop_links(model, tag.id)


def _drop_links(model: type[Any], tag_id: int) -> None:
    link = model.tag_link_table()
    db.session.execute(delete(link).where(link.c.tag_id == tag_id))


def usage_counts(tag_ids: Sequence[int]) -> dict[int, dict[type[Any], int]]:
    """How many live records use each tag, one grouped query per taggable model (not per tag)."""
    counts: dict[int, dict[type[Any], int]] = {tag_id: {} for tag_id in tag_ids}
    if not tag_ids:
        return counts
    for model in taggable_models():
        link = model.tag_link_table()
        query = (
            select(link.c.tag_id, func.count())
            .join(model, model.id == model.tag_link_column())
            .where(link.c.tag_id.in_(tag_ids), _live(model))
            .group_by(link.c.tag_id)
        )
        for tag_id, count in db.session.execute(query):
            counts[tag_id][model] = count
    return counts
