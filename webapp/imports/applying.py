"""Applying a previewed import, and undoing an applied one: each one transaction, set-based.

The planned rows wait in ``import_rows``. The apply reads them a chunk at a time: new records
take their ids from the table's sequence, are streamed (``COPY``) into a temporary table and go in
by one ``INSERT … SELECT``; changed ones are copied into a temporary table, then written by one
``UPDATE … FROM`` that bumps their versions; tags by one ``DELETE`` and one ``INSERT … SELECT``
from a temporary table of links; audit entries by one ``INSERT … SELECT`` from the planned rows,
all under the batch's id. Nothing is committed here: the caller commits once, so a worker killed
mid-way leaves nothing behind.

Locks follow ``webapp.locking``'s order (the users a row names, then the records, tags last). A
record whose version moved since the preview, or a user gone to the trash, is a conflict: with
"all or nothing" the apply is refused; with "import the valid rows" that row is refused and the
rest go in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    Select,
    Table,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from webapp import audit, heartbeat, tagging, trash
from webapp.audit import RowChange
from webapp.bulk_copy import copy_rows
from webapp.database import utcnow
from webapp.errors import stopped_message
from webapp.extensions import db
from webapp.imports.fields import Person
from webapp.imports.planning import current_values
from webapp.imports.progress import Progress
from webapp.imports.specs import Column as ImportColumn
from webapp.imports.specs import ModelSpec, spec_for
from webapp.imports.staging import drop, empty, temporary
from webapp.locking import lock_rows, locked_ids
from webapp.models import AuditAction, AuditEntry, ImportBatch, ImportRow, ImportState, RowAction, Tag, User
from webapp.models.tags import tag_name_key

logger = logging.getLogger(__name__)

CHUNK_ROWS = 1000
SHOWN_CONFLICTS = 100
# An apply or undo writing this many records refreshes the planner's statistics of what it wrote.
ANALYZE_AFTER_ROWS = 10_000


class ImportRefused(Exception):
    """The apply or the undo cannot go ahead; nothing was written. ``rows`` lists the row numbers
    concerned (conflicts), with a message each."""

    def __init__(self, message: str, rows: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.rows = rows or []


def database_refusal(error: SQLAlchemyError) -> str:
    """What to tell the operator when the database stopped an apply or an undo (rolled back)."""
    if isinstance(error, IntegrityError):
        return (
            "Another change took an email, a username or a tag name this import needs, or removed a record it "
            "refers to, while it ran; nothing was imported. Preview the file again."
        )
    reason = stopped_message(error) or "The database refused the import."
    return f"{reason} Nothing was imported."


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)
    left_alone: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0


def locked_batch(batch_id: str) -> ImportBatch:
    """The batch, locked: two applies (or an apply and an undo) of one batch wait for each other,
    and the second finds the first's state."""
    batch = db.session.scalars(
        select(ImportBatch)
        .where(ImportBatch.id == batch_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if batch is None:
        raise ImportRefused("This import no longer exists.")
    return batch


def apply_batch(batch_id: str, timezone: str, *, valid_only: bool) -> Outcome:
    started = time.monotonic()
    batch = locked_batch(batch_id)
    if batch.state is not ImportState.PREVIEWED:
        raise ImportRefused(f"This import was {batch.state.value} already; nothing was changed.")
    refused = batch.counts.get(RowAction.REFUSED.value, 0)
    if refused and not valid_only:
        raise ImportRefused(
            f"{refused:,} row{'s are' if refused != 1 else ' is'} refused, so nothing was imported: fix "
            "them and preview the file again, or choose “import the valid rows”."
        )
    spec = spec_for(batch.model, timezone)
    with Writer(spec, batch) as writer:
        return _apply(writer, valid_only, refused, started)


def _apply(writer: Writer, valid_only: bool, refused: int, started: float) -> Outcome:
    batch = writer.batch
    conflicts = writer.conflicts()
    if conflicts and not valid_only:
        raise ImportRefused(
            f"{len(conflicts):,} record{'s' if len(conflicts) != 1 else ''} changed since the preview, so nothing was "
            "imported: preview the file again to see the current values.",
            conflicts[:SHOWN_CONFLICTS],
        )
    writer.refuse_rows(conflicts)
    with audit.in_batch(batch.id):
        outcome = writer.write()
    writer.refresh_statistics(outcome.created + outcome.updated)
    outcome.refused = conflicts
    outcome.seconds = round(time.monotonic() - started, 2)
    batch.state = ImportState.APPLIED
    batch.applied_at = utcnow()
    batch.result = {
        "created": outcome.created,
        "updated": outcome.updated,
        "refused": refused + len(conflicts),
        "conflicts": [list(row) for row in conflicts[:SHOWN_CONFLICTS]],
        "seconds": outcome.seconds,
        "valid_only": valid_only,
    }
    writer.progress.finish()
    return outcome


def _rows(
    batch_id: str, actions: Sequence[RowAction], columns: Sequence[str], progress: Progress | None = None
) -> Iterator[list[Any]]:
    """The batch's rows with these actions (one action after the other), a chunk at a time, as
    plain rows of their ``row_number`` and ``columns`` only: each JSON column read is a decode per
    row. Each chunk done counts on ``progress`` (or just tells gunicorn the worker is busy)."""
    selected = [ImportRow.row_number, *(getattr(ImportRow, name) for name in columns)]
    for action in actions:
        last = 0
        while True:
            statement = (
                select(*selected)
                .where(ImportRow.batch_id == batch_id, ImportRow.action == action, ImportRow.row_number > last)
                .order_by(ImportRow.row_number)
                .limit(CHUNK_ROWS)
            )
            chunk = list(db.session.execute(statement))
            if not chunk:
                break
            yield chunk
            last = chunk[-1].row_number
            if progress is not None:
                progress.advance(len(chunk))
            else:
                heartbeat.beat()  # a long import is progress, not a hung worker


WRITTEN = (RowAction.CREATE, RowAction.UPDATE)
CREATED = (RowAction.CREATE,)
UPDATED = (RowAction.UPDATE,)


def _insert_or_skip(table: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)


class Writer:
    """The set-based writes of one batch's apply (and, with other values, of its undo)."""

    def __init__(self, spec: ModelSpec, batch: ImportBatch) -> None:
        self.spec = spec
        self.batch = batch
        self.model = spec.model
        attrs = set(batch.options.get("columns", []))
        self.columns = [column for column in spec.columns if column.attr in attrs]
        self.plain = [column for column in self.columns if column.target is not None]
        self.people = [column for column in self.plain if isinstance(column.field, Person)]
        self.tag_ids: dict[str, int] = {}
        # Live tags by key, for the links a write removes (a trashed tag keeps its links).
        self.live_tag_ids: dict[str, int] = {}
        self.sets_tags = any(column.target is None for column in self.columns)
        self.summary = f"Imported from {batch.filename}"
        self.progress = Progress(batch.id, "checking")

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exception: object) -> None:
        self.progress.__exit__(kind, *exception)

    # Conflicts -----------------------------------------------------------------------------

    def conflicts(self) -> list[tuple[int, str]]:
        """Lock what the apply writes, in the lock order, and list the rows that cannot go in."""
        users, tag_names = self._referenced()
        found = self._trashed_people(users)
        found += self._moved_records()
        found += self._missing_tags(tag_names)
        return sorted(set(found))

    def _referenced(self) -> tuple[set[int], dict[str, str]]:
        """The users and the tag names the rows to write name, in one pass over them."""
        users: set[int] = set()
        names: dict[str, str] = {}
        tagged = self.sets_tags
        if not self.people and not tagged:
            return users, names
        self.progress.start("checking", self._to_write())
        for chunk in _rows(self.batch.id, WRITTEN, ("values",), progress=self.progress):
            for row in chunk:
                users.update(row.values[c.attr] for c in self.people if c.attr in row.values)
                for name in row.values.get("tags", ()) if tagged else ():
                    names.setdefault(tag_name_key(name), name)
        return users, names

    def _rows_naming(self, wrong: Callable[[dict[str, Any]], bool], message: str) -> list[tuple[int, str]]:
        return [
            (row.row_number, message)
            for chunk in _rows(self.batch.id, WRITTEN, ("values",))
            for row in chunk
            if wrong(row.values)
        ]

    def _trashed_people(self, users: set[int]) -> list[tuple[int, str]]:
        live: set[int] = set()
        ordered = sorted(users)
        for start in range(0, len(ordered), CHUNK_ROWS):
            part = ordered[start : start + CHUNK_ROWS]
            query = select(User.id).where(User.id.in_(part), User.live()).order_by(User.id).with_for_update(read=True)
            live.update(db.session.scalars(query))
        gone = users - live
        if not gone:
            return []
        return self._rows_naming(
            lambda values: any(values.get(c.attr) in gone for c in self.people),
            "That user went to the trash since the preview.",
        )

    def _updated_rows(self) -> Any:
        return select(ImportRow.object_id).where(
            ImportRow.batch_id == self.batch.id, ImportRow.action == RowAction.UPDATE
        )

    def _moved_records(self) -> list[tuple[int, str]]:
        model = self.model
        if not self.spec.versioned:
            return self._changed_unversioned()
        lock_rows(model, model.id.in_(self._updated_rows()))
        same = exists().where(
            model.id == ImportRow.object_id, model.version == ImportRow.expected_version, model.live()
        )
        statement = select(ImportRow.row_number).where(
            ImportRow.batch_id == self.batch.id, ImportRow.action == RowAction.UPDATE, ~same
        )
        message = f"This {self.spec.name} was changed (or moved to the trash) since the preview."
        return [(number, message) for number in db.session.scalars(statement)]

    def _changed_unversioned(self) -> list[tuple[int, str]]:
        """Tags have no version: a tag whose fields no longer hold what the preview read (the old
        value of a field the file changes, the file's own of one it leaves as it was), or that
        went to the trash, was changed since. Every field the file sets is written, so every one
        is checked."""
        found: list[tuple[int, str]] = []
        message = f"This {self.spec.name} was changed (or moved to the trash) since the preview."
        for chunk in _rows(self.batch.id, UPDATED, ("object_id", "values", "previous")):
            ids = [row.object_id for row in chunk]
            locked_ids(self.model, self.model.id.in_(ids))
            current = current_values(self.spec, self.columns, ids)
            for row in chunk:
                if not _holds(current.get(row.object_id), {**row.values, **row.previous}):
                    found.append((row.row_number, message))
        return found

    def _missing_tags(self, names: dict[str, str]) -> list[tuple[int, str]]:
        if not names:
            return []
        self.tag_ids = _tag_ids(list(names))
        missing = {key: name for key, name in names.items() if key not in self.tag_ids}
        if missing and self.batch.options.get("create_missing_tags"):
            self.tag_ids.update(_create_tags(list(missing.values()), self.batch.id, self.summary))
            missing = {key: name for key, name in missing.items() if key not in self.tag_ids}
        if not missing:
            return []
        return self._rows_naming(
            lambda values: any(tag_name_key(name) in missing for name in values.get("tags", ())),
            "Tags: a tag it names was moved to the trash since the preview.",
        )

    def refuse_rows(self, rows: list[tuple[int, str]]) -> None:
        """Rows left out by "import the valid rows" are refused for the record (and the undo)."""
        for number, message in rows:
            db.session.execute(
                update(ImportRow)
                .where(ImportRow.batch_id == self.batch.id, ImportRow.row_number == number)
                .values(action=RowAction.REFUSED, problems=[["", message]])
            )

    def refresh_statistics(self, written: int) -> None:
        """``ANALYZE`` the records' table and its links after a large write, in the same
        transaction (it counts the transaction's own rows), without waiting for a lock
        (``SKIP_LOCKED``: a vacuum under way skips it) and in a savepoint: statistics are worth
        having, never worth the import itself, which a timeout or error here must not undo. A
        role that does not own the tables gets PostgreSQL's warning and no statistics.

        The planner's statistics would otherwise lag until autovacuum comes round (a minute at
        best, never where it is off), and the next import's preview plans its joins for the
        tables as they were: 100,000 tasks just imported made each chunk's tag comparison a
        merge join over every link (120–290 ms a chunk, 2 ms once analyzed)."""
        if written < ANALYZE_AFTER_ROWS or db.session.get_bind().dialect.name != "postgresql":
            return
        tables = [self.model.__table__, *([self.model.tag_link_table()] if self.spec.taggable else [])]
        preparer = db.session.get_bind().dialect.identifier_preparer
        analyze = text("ANALYZE (SKIP_LOCKED) " + ", ".join(preparer.format_table(table) for table in tables))
        try:
            with db.session.begin_nested():
                db.session.execute(analyze)
        except SQLAlchemyError as error:
            logger.warning("statistics not refreshed after an import: %s", type(error).__name__)

    # Writes --------------------------------------------------------------------------------

    def _to_write(self) -> int:
        counts = self.batch.counts
        return int(counts.get(RowAction.CREATE.value, 0)) + int(counts.get(RowAction.UPDATE.value, 0))

    def write(self) -> Outcome:
        outcome = Outcome()
        created = temporary("import_created", Column("row_number", Integer), Column("object_id", Integer))
        links = _link_stage()
        stage = self._stage_table()
        self.progress.start("writing", self._to_write())
        for chunk in _rows(self.batch.id, CREATED, ("values",), progress=self.progress):
            outcome.created += self._create(chunk, stage, created, links)
            self._finish_creations(chunk, created, links)
        # A row's old tags (``previous``) say which links it replaces: read only where tags are set.
        read = ("object_id", "values", "previous") if self.sets_tags else ("object_id", "values")
        for chunk in _rows(self.batch.id, UPDATED, read, progress=self.progress):
            replaced = (lambda row: row.previous.get("tags")) if self.sets_tags else (lambda row: None)
            outcome.updated += self.write_updates(chunk, stage, links, lambda row: row.values, replaced)
            self._audit(AuditAction.UPDATE, self._planned(chunk, RowAction.UPDATE, ImportRow.object_id))
        drop(created, links, stage)
        return outcome

    def _planned(self, chunk: list[Any], action: RowAction, object_id: Any) -> Select[Any]:
        """The chunk's planned rows of ``action``: the record's id and the row's changes (the
        chunk's range of row numbers bounds the read, whatever the plan)."""
        return select(object_id, ImportRow.changes).where(
            ImportRow.batch_id == self.batch.id,
            ImportRow.action == action,
            ImportRow.row_number.between(chunk[0].row_number, chunk[-1].row_number),
        )

    def _audit(self, action: AuditAction, rows: Select[Any]) -> None:
        """An entry per record written, with the changes the preview showed, straight from the
        planned rows."""
        audit.record_selected(action, self.model, rows, self.summary)

    def _finish_creations(self, chunk: list[Any], created: Table, links: Table) -> None:
        """Link a chunk's new records to their tags, and note their ids on the batch's rows (for
        the undo). The chunk's range of row numbers bounds the rows updated, whatever plan the
        database picks for a batch it has no statistics of yet."""
        if self.spec.taggable:
            self._insert_links(links, created.c.object_id)
        planned = self._planned(chunk, RowAction.CREATE, created.c.object_id)
        self._audit(AuditAction.CREATE, planned.where(ImportRow.row_number == created.c.row_number))
        db.session.execute(
            update(ImportRow)
            .where(
                ImportRow.batch_id == self.batch.id,
                ImportRow.row_number.between(chunk[0].row_number, chunk[-1].row_number),
                ImportRow.row_number == created.c.row_number,
            )
            .values(object_id=created.c.object_id)
        )
        empty(created, links)

    def write_updates(self, rows: list[Any], stage: Table, links: Table, values_of: Any, replaced_of: Any) -> int:
        """Write one chunk's changed records: staged, one ``UPDATE … FROM``, their links replaced
        (``replaced_of(row)``: the tag names the write replaces, None for none). A chunk at a
        time, so that no statement runs long (the request's statement timeout) and the worker
        reports progress between them."""
        count = self._stage(rows, stage, links, values_of, replaced_of)
        self._update_from(stage)
        self._relink(stage, links)
        empty(stage, links)
        return count

    def _values(self, values: dict[str, Any]) -> dict[str, Any]:
        written = {c.target: c.field.value(values[c.attr]) for c in self.plain if c.attr in values and c.target}
        return {**written, **self.spec.derived(written)}

    def _create(self, chunk: list[Any], stage: Table, created: Table, links: Table) -> int:
        """Insert a chunk's new records, grouped by the fields they set (a field a row leaves
        empty takes its default)."""
        groups: dict[frozenset[str], list[tuple[Any, dict[str, Any]]]] = {}
        for row in chunk:
            values = self._values(row.values)
            groups.setdefault(frozenset(values), []).append((row, values))
        for group in groups.values():
            ids = self._insert_records([values for _, values in group], stage)
            copy_rows(
                created,
                ("row_number", "object_id"),
                [(row.row_number, id_) for (row, _), id_ in zip(group, ids, strict=True)],
            )
            self._stage_links(
                links, [(id_, row.values.get("tags"), None) for (row, _), id_ in zip(group, ids, strict=True)]
            )
        return len(chunk)

    def _insert_records(self, records: list[dict[str, Any]], stage: Table) -> list[int]:
        """Insert records that set the same fields; their ids, in order.

        On PostgreSQL the ids are taken from the table's sequence first, the records streamed into
        the stage with them (``COPY``) and inserted by one ``INSERT … SELECT``, which adds the
        fields' defaults: a multi-row ``INSERT … RETURNING`` binds every value of every row as a
        parameter, several times the work. SQLite has no sequence to take ids from ahead."""
        model = self.model
        if db.session.get_bind().dialect.name != "postgresql":
            statement = insert(model).returning(model.id, sort_by_parameter_order=True)
            return list(db.session.scalars(statement, records))
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        taken = select(func.nextval(sequence)).select_from(func.generate_series(1, len(records)))
        ids = sorted(db.session.scalars(taken))
        names = list(records[0])
        copy_rows(
            stage,
            ["object_id", *names],
            [(id_, *map(values.get, names)) for id_, values in zip(ids, records, strict=True)],
        )
        source = select(stage.c.object_id, *(stage.c[name] for name in names))
        db.session.execute(insert(model).from_select(["id", *names], source))
        empty(stage)
        return ids

    def _stage_table(self) -> Table:
        table = self.model.__table__
        columns = [Column(c.target, table.c[c.target].type) for c in self.plain if c.target]
        derived = [
            Column(name, table.c[name].type)
            for name in self.spec.derived({c.target: "" for c in self.plain if c.target})
        ]
        return temporary("import_stage", Column("object_id", Integer, primary_key=True), *columns, *derived)

    def _stage(self, chunk: list[Any], stage: Table, links: Table, values_of: Any, replaced_of: Any) -> int:
        names = stage.c.keys()
        staged = []
        for row in chunk:
            values = self._values(values_of(row))
            staged.append((row.object_id, *(values.get(name) for name in names[1:])))
        copy_rows(stage, names, staged)
        self._stage_links(links, [(row.object_id, values_of(row).get("tags"), replaced_of(row)) for row in chunk])
        return len(chunk)

    def _stage_links(self, links: Table, rows: list[tuple[int, Any, Any]]) -> None:
        """Each record's links to add (its ``names``; None: the row leaves its tags) and to remove:
        the ``replaced`` tags (as the preview read them) it no longer names, live ones only.
        Nothing else goes: a tag in the trash at the preview, restored since, keeps its links."""
        replaced_keys = {tag_name_key(name) for _, names, old in rows if names is not None for name in old or ()}
        self._look_up_live(replaced_keys)
        staged = []
        for object_id, names, old in rows:
            if names is None:
                continue
            keys = {tag_name_key(name) for name in names}
            staged += [(object_id, self.tag_ids[key], False) for key in keys]
            gone = {tag_name_key(name) for name in old or ()} - keys
            staged += [(object_id, self.live_tag_ids[key], True) for key in gone if key in self.live_tag_ids]
        copy_rows(links, ("object_id", "tag_id", "removed"), staged)

    def _look_up_live(self, keys: set[str]) -> None:
        unknown = [key for key in keys if key not in self.live_tag_ids]
        if unknown:
            self.live_tag_ids.update(_tag_ids(unknown))

    def _update_from(self, stage: Table) -> None:
        """One ``UPDATE … FROM`` for every staged record. A field the row left to its default
        (an empty cell of a field that cannot be empty) is NULL in the stage and keeps its value."""
        model = self.model
        values: dict[str, Any] = {}
        for name in stage.c.keys()[1:]:
            target = model.__table__.c[name]
            values[name] = stage.c[name] if target.nullable else func.coalesce(stage.c[name], target)
        if self.spec.versioned:
            values.update(model.bumped_version())
        values["updated_at"] = utcnow()
        statement = update(model).where(model.id == stage.c.object_id).values(**values)
        db.session.execute(statement, execution_options={"synchronize_session": False})

    def _relink(self, stage: Table, links: Table) -> None:
        """Remove and add the staged records' links, as staged."""
        if not self.spec.taggable:
            return
        link, owner = self.model.tag_link_table(), self.model.tag_link_column()
        removed = exists().where(links.c.object_id == owner, links.c.tag_id == link.c.tag_id, links.c.removed)
        db.session.execute(delete(link).where(removed))
        self._insert_links(links, stage.c.object_id)

    def _insert_links(self, links: Table, objects: Any) -> None:
        link, owner = self.model.tag_link_table(), self.model.tag_link_column()
        rows = select(links.c.object_id, links.c.tag_id).where(
            links.c.removed.is_(False), links.c.object_id.in_(select(objects))
        )
        statement = _insert_or_skip(link).from_select([owner.name, "tag_id"], rows.distinct()).on_conflict_do_nothing()
        db.session.execute(statement)


def _link_stage() -> Table:
    """The links a chunk's records should gain, and lose (``removed``), indexed as the relink
    looks them up. The planner has no statistics of a temporary table: without the index it
    guessed the chunk small and compared every link with every other (4 million comparisons,
    0.4 s a chunk of 1,000 tagged records)."""
    return temporary(
        "import_links",
        Column("object_id", Integer),
        Column("tag_id", Integer),
        Column("removed", Boolean),
        Index("ix_import_links", "object_id", "tag_id"),
    )


def _tag_ids(keys: list[str], *, live_only: bool = True) -> dict[str, int]:
    """The ids of the tags with these keys: live ones for an apply (a tag trashed since the
    preview is missing); for an undo, which puts back the links the import replaced, any."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK_ROWS):
        part = keys[start : start + CHUNK_ROWS]
        query = select(Tag.name_key, Tag.id).where(Tag.name_key.in_(part))
        found.update(db.session.execute(query.where(Tag.live()) if live_only else query).all())
    return found


def _create_tags(names: list[str], batch_id: str, summary: str) -> dict[str, int]:
    """Create the tags a row names and no tag has, audited under the batch; a name a trashed tag
    keeps (or one created meanwhile) is skipped, and stays missing."""
    rows = [{"name": name, "name_key": tag_name_key(name)} for name in names]
    statement = _insert_or_skip(Tag).on_conflict_do_nothing(index_elements=["name_key"])
    created = dict(db.session.execute(statement.returning(Tag.name_key, Tag.id), rows).all())
    audit.record_rows(
        Tag,
        (
            RowChange(AuditAction.CREATE, created[row["name_key"]], summary, {"name": [None, row["name"]]})
            for row in rows
            if row["name_key"] in created
        ),
        batch_id,
    )
    return created


# Undo --------------------------------------------------------------------------------------


def undo_batch(batch_id: str, timezone: str) -> Outcome:
    """Take an applied import back: records (and tags) it created go to the trash, records it
    updated get their previous values, unless someone changed them since: those are left alone
    and listed."""
    started = time.monotonic()
    batch = locked_batch(batch_id)
    if batch.state is not ImportState.APPLIED:
        message = "undone already" if batch.state is ImportState.UNDONE else "not applied"
        raise ImportRefused(f"This import was {message}; nothing was changed.")
    spec = spec_for(batch.model, timezone)
    outcome = Outcome()
    with Writer(spec, batch) as writer, audit.in_batch(batch.id):
        writer.summary = f"Undid the import from {batch.filename}"
        created_tags = _tags_created_by(writer)
        _undo_updates(writer, outcome)
        _undo_creations(writer, outcome)
        _undo_created_tags(writer, created_tags, outcome)
        writer.refresh_statistics(outcome.created + outcome.updated)
        writer.progress.finish()
    outcome.seconds = round(time.monotonic() - started, 2)
    batch.state = ImportState.UNDONE
    batch.undone_at = utcnow()
    batch.result = {
        **batch.result,
        "undo": {
            "trashed": outcome.created,
            "restored": outcome.updated,
            "left_alone": [list(row) for row in outcome.left_alone[:SHOWN_CONFLICTS]],
            "left_alone_count": len(outcome.left_alone),
            "seconds": outcome.seconds,
        },
    }
    return outcome


UNDONE_UPDATE_COLUMNS = ("object_id", "expected_version", "values", "previous", "changes")


def _undo_updates(writer: Writer, outcome: Outcome) -> None:
    spec, model = writer.spec, writer.model
    names: set[str] = set()
    for chunk in _rows(writer.batch.id, UPDATED, ("values", "previous")):
        names.update(name for row in chunk for name in _undone(row).get("tags", ()))
    writer.tag_ids = _tag_ids([tag_name_key(name) for name in names], live_only=False)
    missing = [name for name in names if tag_name_key(name) not in writer.tag_ids]
    if missing:
        writer.tag_ids.update(_create_tags(missing, writer.batch.id, writer.summary))
    links = _link_stage()
    stage = writer._stage_table()
    writer.progress.start("undoing", writer._to_write())
    for chunk in _rows(writer.batch.id, UPDATED, UNDONE_UPDATE_COLUMNS, progress=writer.progress):
        ids = locked_ids(model, model.id.in_([row.object_id for row in chunk]))
        current = current_values(spec, _compared_columns(writer), ids)
        untouched = [row for row in chunk if _untouched(spec, row, current.get(row.object_id))]
        outcome.left_alone += _others(chunk, untouched, _left_alone(spec))
        if untouched:
            outcome.updated += writer.write_updates(untouched, stage, links, _undone, _undone_replaces)
            reverted = [
                RowChange(AuditAction.UPDATE, row.object_id, writer.summary, _reversed(row.changes))
                for row in untouched
            ]
            audit.record_rows(model, reverted, writer.batch.id)
    drop(links, stage)


def _undone_replaces(row: Any) -> list[str] | None:
    """The tags the undo takes off: the import's, where it changed them."""
    return row.values.get("tags") if "tags" in row.previous else None


def _undone(row: Any) -> dict[str, Any]:
    """What the undo writes back: the old value of each field the import changed, the file's
    (which the record held before too) of each other field it set."""
    return {**row.values, **row.previous}


def _others(chunk: list[Any], chosen: list[Any], message: str) -> list[tuple[int, str]]:
    """The rows of ``chunk`` not among ``chosen``, each with ``message``."""
    numbers = {row.row_number for row in chosen}
    return [(row.row_number, message) for row in chunk if row.row_number not in numbers]


def _compared_columns(writer: Writer) -> list[ImportColumn]:
    """The fields the undo reads of each record to see whether someone changed it since: none
    for a versioned model, whose version tells (reading every field of a hundred thousand
    records was a third of an undo's time), else the import's."""
    return [] if writer.spec.versioned else writer.columns


def _untouched(spec: ModelSpec, row: Any, now: dict[str, Any] | None) -> bool:
    """Whether the record still holds what the import wrote: its version is the import's (the
    one the preview saw, plus one), or, for tags, its fields are the file's."""
    if not spec.versioned:
        return _holds(now, row.values)
    return _live_at(now, (row.expected_version or 0) + 1)


def _live_at(now: dict[str, Any] | None, version: int) -> bool:
    """Whether a versioned record, as read now, is live at ``version``."""
    return now is not None and now.get("deleted_at") is None and now.get("version") == version


def _holds(now: dict[str, Any] | None, expected: dict[str, Any]) -> bool:
    """Whether a record of a model without versions, as read now, is live and holds ``expected``
    in each of its fields."""
    if now is None or now.get("deleted_at") is not None:
        return False
    return all(now.get(attr) == value for attr, value in expected.items())


def _left_alone(spec: ModelSpec) -> str:
    return f"This {spec.name} was changed since the import, so it was left as it is."


def _reversed(changes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {attr: [new, old] for attr, (old, new) in changes.items()}


def _undo_creations(writer: Writer, outcome: Outcome) -> None:
    """Created records go to the trash, except those changed since, and those live records
    point to since (a new user who owns tasks now): the trash would take those records along."""
    spec, model = writer.spec, writer.model
    for chunk in _rows(writer.batch.id, CREATED, ("object_id", "values"), progress=writer.progress):
        # Locked first: a record that would point to one of them waits for the undo's end.
        ids = locked_ids(model, model.id.in_([row.object_id for row in chunk if row.object_id is not None]))
        current = current_values(spec, _compared_columns(writer), ids)
        fresh = [row for row in chunk if _fresh(spec, row, current.get(row.object_id))]
        outcome.left_alone += _others(chunk, fresh, _left_alone(spec))
        pointed_to = _pointed_to(model, [row.object_id for row in fresh])
        unused = [row for row in fresh if row.object_id not in pointed_to]
        message = f"Records were added to this {spec.name} since the import, so it was left as it is."
        outcome.left_alone += _others(fresh, unused, message)
        if unused:
            ids = [row.object_id for row in unused]
            outcome.created += trash.soft_delete(model, ids, writer.batch.operator_id).affected


def _pointed_to(model: type[Any], ids: list[int]) -> set[int]:
    """The records among ``ids`` that live records point to (by a foreign key; a tag, by a link)."""
    if not ids:
        return set()
    found: set[int] = tagging.carried(ids) if model is Tag else set()
    for cascade in trash.cascades(model):
        pointing = select(cascade.foreign_key).where(cascade.foreign_key.in_(ids), cascade.child.live()).distinct()
        found.update(db.session.scalars(pointing))
    return found


def _tags_created_by(writer: Writer) -> list[int]:
    """The tags an import of tasks or posts created for its rows ("create missing tags"): none
    without a Tags column (an import of users or tags, say), so no audit entry is read then."""
    if not writer.sets_tags:
        return []
    created = select(AuditEntry.object_id).where(
        AuditEntry.batch_id == writer.batch.id,
        AuditEntry.model == audit.model_name(Tag),
        AuditEntry.action == AuditAction.CREATE,
    )
    return [int(tag_id) for tag_id in db.session.scalars(created)]


def _undo_created_tags(writer: Writer, tag_ids: list[int], outcome: Outcome) -> None:
    """The tags the import created go to the trash after its records, unless a live record
    carries one since (then it stays)."""
    for start in range(0, len(tag_ids), CHUNK_ROWS):  # a list of ids per statement, of bounded length
        part = tag_ids[start : start + CHUNK_ROWS]
        unused = sorted(set(part) - tagging.carried(part))
        if unused:
            outcome.created += trash.soft_delete(Tag, unused, writer.batch.operator_id).affected


def _fresh(spec: ModelSpec, row: Any, now: dict[str, Any] | None) -> bool:
    """A created record nobody changed since: still at its first version (or, for tags, with
    the file's values)."""
    return _live_at(now, 1) if spec.versioned else _holds(now, row.values)
