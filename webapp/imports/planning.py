"""The preview: what each row of a file would do (create, update, nothing, or be refused, and why),
worked out without writing a record.

Rows are planned a chunk at a time: the chunk's cells are converted, its relations resolved with
a statement or two (not one per row), its records loaded by id (or by natural key) and compared
field by field. Memory holds one chunk plus one set of keys per unique column (to catch two rows
for one record), whatever the file's length.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import Column as SqlColumn
from sqlalchemy import Enum, Integer, Select, String, and_, case, literal, null, select, type_coerce
from sqlalchemy import Table as SqlTable
from sqlalchemy.types import TypeEngine

from webapp import heartbeat
from webapp.bulk_copy import copy_rows
from webapp.extensions import db
from webapp.imports.fields import CellError, Lookup, Memo, cell_text, is_empty
from webapp.imports.files import FileRefused, Table
from webapp.imports.progress import Progress
from webapp.imports.specs import ID_HEADER, Column, ModelSpec
from webapp.imports.staging import drop, empty, temporary
from webapp.models import RowAction, Tag

CHUNK_ROWS = 1000


@dataclass(frozen=True)
class Options:
    """What the operator ticked: rows without an ID update the record with the same natural key
    (a user's email, a tag's name) instead of being refused as taken; unknown tag names are
    created at the apply instead of refused."""

    update_matching: bool = False
    create_missing_tags: bool = False


@dataclass
class PlannedRow:
    row_number: int
    action: RowAction
    object_id: int | None = None
    expected_version: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, list[Any]] = field(default_factory=dict)
    problems: list[list[str]] = field(default_factory=list)
    cells: list[Any] = field(default_factory=list)
    # An update's record as the comparison found it (``Compared``), until it is decided.
    record: Compared | None = None

    def refuse(self, column: str, message: str) -> None:
        self.problems.append([column, message])

    def kept_cells(self) -> list[str]:
        """The cells as read, as text, for a refused row (its line of the refusals' CSV): the
        other rows keep none."""
        return [cell_text(cell) for cell in self.cells] if self.action is RowAction.REFUSED else []


@dataclass
class Layout:
    """Where each importable column sits in the file's rows."""

    id_position: int | None
    positions: list[tuple[Column, int]]
    width: int
    # The columns in the file's order: read for every row (made once, not a list each time).
    columns: list[Column] = field(init=False)

    def __post_init__(self) -> None:
        self.columns = [column for column, _ in self.positions]


def layout(spec: ModelSpec, header: list[str]) -> Layout:
    """Match the header row to the spec's columns (any letter case), or refuse the file naming
    the columns expected."""
    known = {column.header.casefold(): column for column in spec.columns}
    ignored = {name.casefold() for name in spec.read_only}
    expected = ", ".join(spec.headers)
    id_position, positions, seen = None, [], set()
    for position, name in enumerate(header):
        folded = name.casefold()
        if folded in seen:
            raise FileRefused(f"The column “{name}” appears twice in the header row.")
        seen.add(folded)
        if folded == ID_HEADER.casefold():
            id_position = position
        elif folded in known:
            positions.append((known[folded], position))
        elif folded not in ignored:
            shown = f"“{name}”" if name else f"number {position + 1} (it has no name)"
            raise FileRefused(f"The header row has an unknown column {shown}. The columns are: {expected}.")
    missing = [column.header for column in spec.columns if column.required and column.header.casefold() not in seen]
    if missing:
        listed = ", ".join(f"“{name}”" for name in missing)
        raise FileRefused(f"The header row lacks {listed}. The columns are: {expected}.")
    return Layout(id_position, positions, len(header))


class FirstRows:
    """The first row that named each record ID, in blocks of 4-byte row numbers by ID range.

    A dict of a million IDs holds a hundred megabytes of entries and int objects; records' IDs
    come from a sequence and cluster, so a file of a million IDs fills a few blocks of 256 KB."""

    BLOCK = 65536

    def __init__(self) -> None:
        self.blocks: dict[int, array[int]] = {}

    def claim(self, record_id: int, row_number: int) -> int:
        """The first row that named ``record_id``: ``row_number`` if none did before."""
        block, offset = divmod(record_id, self.BLOCK)
        numbers = self.blocks.get(block)
        if numbers is None:
            numbers = self.blocks[block] = array("I", bytes(4 * self.BLOCK))
        if not numbers[offset]:  # row numbers start at 2 (the header is row 1): 0 is "none"
            numbers[offset] = row_number
        return numbers[offset]


class Planner:
    """Plans the rows of one file for one spec; :meth:`rows` yields them in file order."""

    def __init__(self, spec: ModelSpec, table: Table, options: Options) -> None:
        self.spec = spec
        self.table = table
        self.options = options
        self.layout = layout(spec, table.header)
        self.model = spec.model
        # Per unique column: key -> (row number, record id) of the first row that claimed it.
        self.claimed: dict[str, dict[str, tuple[int, int | None]]] = {key.attr: {} for key in spec.unique}
        self.ids_seen = FirstRows()
        self.comparison = Comparison(spec, self.layout.columns)
        # Each column's place, with what its cells were read as, for a field whose cells repeat
        # down the file (a refused cell is read again: its error is raised anew).
        self.readings = [
            (column, position, Memo() if column.field.repeats else None) for column, position in self.layout.positions
        ]

    def rows(
        self, progress: Progress | None = None, before_statements: Callable[[], object] = lambda: None
    ) -> Iterator[PlannedRow]:
        """Every row planned, in file order; each chunk counts on ``progress`` (or just tells
        gunicorn the worker is busy, not hung). Each chunk's cells are read and converted first,
        then ``before_statements`` is called, then the chunk's statements run: the caller may
        keep the session's connection busy until then (``bulk_copy.CopyBehind``)."""
        rows = iter(self.table.rows)
        try:
            while chunk := list(islice(rows, CHUNK_ROWS)):
                yield from self._plan_chunk(chunk, before_statements)
                if progress is not None:
                    progress.advance(len(chunk))
                else:
                    heartbeat.beat()
        except FileRefused:
            # A row the reader refuses ends the preview, not the transaction: leave no table
            # behind on the connection (a database error rolls back, and the table with it).
            before_statements()
            self.comparison.close()
            raise
        before_statements()
        self.comparison.close()

    def _plan_chunk(
        self, chunk: list[tuple[int, list[Any]]], before_statements: Callable[[], object]
    ) -> list[PlannedRow]:
        planned = [self._converted(number, cells) for number, cells in chunk]
        before_statements()
        self._resolve_lookups(planned)
        self._identify(planned)
        self._check_unique(planned)
        for row in planned:
            self._decide(row)
        return planned

    def _converted(self, number: int, cells: list[Any]) -> PlannedRow:
        row = PlannedRow(number, RowAction.CREATE, cells=cells)
        width = self.layout.width
        if len(cells) > width and any(not is_empty(cell) for cell in cells[width:]):
            row.refuse("", f"The row has {len(cells)} cells; the header row names {width} columns.")
        elif len(cells) < width:
            cells = [*cells, *[""] * (width - len(cells))]  # a short row's last cells are empty
        if self.layout.id_position is not None:
            row.object_id = self._record_id(row, cells[self.layout.id_position])
        values = row.values
        # The loop of every cell of the file: written out, without a call per cell to test it.
        for column, position, readings in self.readings:
            cell = cells[position]
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                self._empty(row, column)
                continue
            try:
                if readings is None or cell.__class__ is not str:  # text only: 1 == True as a key
                    values[column.attr] = column.field.parse(cell)
                elif (value := readings.get(cell)) is not None:
                    values[column.attr] = value
                else:
                    values[column.attr] = readings.keep(cell, column.field.parse(cell))
            except CellError as error:
                row.refuse(column.header, str(error))
        return row

    def _record_id(self, row: PlannedRow, cell: Any) -> int | None:
        if is_empty(cell):
            return None
        text = cell_text(cell).strip()
        if isinstance(cell, int) and not isinstance(cell, bool):
            number = cell
        elif text.isascii() and text.isdigit():
            digits = text.lstrip("0") or "0"
            number = int(digits) if len(digits) <= 10 else 2**31  # past every id: "no record has this ID"
        else:
            row.refuse(ID_HEADER, "An ID is a whole number (leave it empty to create a record).")
            return None
        if not 0 < number < 2**31:
            row.refuse(ID_HEADER, "No record has this ID.")
            return None
        return number

    def _empty(self, row: PlannedRow, column: Column) -> None:
        """An empty cell empties a field that may be empty; one that may not is refused, unless
        the record is new and the field has a default (which then applies)."""
        if column.field.nullable:
            row.values[column.attr] = [] if column.target is None else column.field.empty
        elif column.has_default:
            row.values[column.attr] = _DEFAULTED
        else:
            row.refuse(column.header, f"{column.header} cannot be empty.")

    def _resolve_lookups(self, planned: list[PlannedRow]) -> None:
        for column in self.layout.columns:
            lookup = column.field
            if not isinstance(lookup, Lookup):
                continue
            names = {row.values[column.attr] for row in planned if _given(row.values.get(column.attr))}
            if not names:
                continue
            resolved = lookup.resolve(names, self.options.create_missing_tags)
            for row in planned:
                name = row.values.get(column.attr)
                if not _given(name):
                    continue
                outcome = resolved[name]
                if isinstance(outcome, CellError):
                    row.refuse(column.header, str(outcome))
                    del row.values[column.attr]
                else:
                    row.values[column.attr] = outcome

    def _identify(self, planned: list[PlannedRow]) -> None:
        """Match each row to its record: by ID, else by natural key when asked to; load the
        matched records' current values for the comparison."""
        key = self.spec.natural_key
        if key is not None and self.options.update_matching:
            wanted = {
                key.key(row.values[key.attr]): row
                for row in planned
                if row.object_id is None and _given(row.values.get(key.attr)) and not row.problems
            }
            for found_id, found_key in self._existing_keys(key, list(wanted)):
                wanted[found_key].object_id = found_id
        named = []
        for row in planned:
            if row.object_id is None:
                continue
            first = self.ids_seen.claim(row.object_id, row.row_number)
            if first != row.row_number:
                row.refuse(ID_HEADER, f"Row {first} already imports this {self.spec.name}: keep one row per record.")
            else:
                named.append(row)
        found = self.comparison.compare(named)
        for row in named:
            record = found.get(row.row_number)
            if record is None:
                row.refuse(ID_HEADER, f"No {self.spec.name} has the ID {row.object_id}.")
            elif record.trashed:
                row.refuse(ID_HEADER, f"This {self.spec.name} is in the trash: restore it first.")
            else:
                row.action = RowAction.UPDATE
                row.expected_version = record.version
                row.record = record

    def _existing_keys(self, key: Any, keys: list[str]) -> Iterable[tuple[int, str]]:
        return ((found_id, found_key) for found_id, found_key, _ in self._holders(key, keys))

    def _check_unique(self, planned: list[PlannedRow]) -> None:
        for key in self.spec.unique:
            given = [row for row in planned if _given(row.values.get(key.attr)) and not row.problems]
            keys = [key.key(row.values[key.attr]) for row in given]
            taken = {
                found_key: (found_id, trashed) for found_id, found_key, trashed in self._holders(key, sorted(set(keys)))
            }
            claimed = self.claimed[key.attr]
            for row, value in zip(given, keys, strict=True):
                first = claimed.setdefault(value, (row.row_number, row.object_id))
                header = self.spec.header_of(key.attr)
                if first[0] != row.row_number:
                    row.refuse(
                        header, f"Row {first[0]} has the same {header.lower()}: no two {self.spec.name}s can share one."
                    )
                elif value in taken and taken[value][0] != row.object_id:
                    row.refuse(header, self._taken_message(key, row, header, *taken[value]))

    def _holders(self, key: Any, keys: list[str]) -> Iterable[tuple[int, str, bool]]:
        """The records holding these keys, with whether each is in the trash (where it still
        holds its key, until it is purged)."""
        expression = key.stored(self.model)
        trashed = self.model.deleted_at.is_not(None) if self.spec.soft_deletes else literal(False)
        for start in range(0, len(keys), CHUNK_ROWS):
            chunk = keys[start : start + CHUNK_ROWS]
            statement = select(self.model.id, expression, trashed).where(expression.in_(chunk))
            yield from (
                (found_id, found_key, bool(trashed)) for found_id, found_key, trashed in db.session.execute(statement)
            )

    def _taken_message(self, key: Any, row: PlannedRow, header: str, holder: int, trashed: bool) -> str:
        name, field = self.spec.name, header.lower()
        if trashed:
            return f"A {name} in the trash (ID {holder}) has this {field}: restore it (or purge it) first."
        matching = key is self.spec.natural_key and row.object_id is None and not self.options.update_matching
        hint = " (tick “update matching records” to update it)" if matching else ""
        return f"Another {name} (ID {holder}) has this {field}{hint}."

    def _decide(self, row: PlannedRow) -> None:
        record, row.record = row.record, None
        if row.problems:
            row.action = RowAction.REFUSED
            row.values = {}
            return
        if record is None:
            self._creation(row)
            return
        for column in self.layout.columns:
            new = row.values.get(column.attr, _DEFAULTED)
            if new is _DEFAULTED:
                row.values.pop(column.attr, None)
            elif column.attr in record.changed:
                old = record.changed[column.attr]
                row.previous[column.attr] = old
                row.changes[column.attr] = [column.field.shown(old), column.field.shown(new)]
            elif column.attr in record.kept:
                row.values[column.attr] = record.kept[column.attr]
        if not row.changes:
            row.action = RowAction.UNCHANGED

    def _creation(self, row: PlannedRow) -> None:
        for column in self.spec.columns:
            value = row.values.get(column.attr, _DEFAULTED)
            if value is _DEFAULTED:
                row.values.pop(column.attr, None)
                if column.required:
                    row.refuse(column.header, f"A new {self.spec.name} needs a {column.header.lower()}.")
            elif value not in (None, "", [], ()):
                row.changes[column.attr] = [None, column.field.shown(value)]
        if row.problems:
            row.action = RowAction.REFUSED
            row.values, row.changes = {}, {}


class _Defaulted:
    """An empty cell of a field that has a default: a new record takes the default, an existing
    one keeps its value."""

    def __repr__(self) -> str:
        return "<defaulted>"


_DEFAULTED: Any = _Defaulted()


def _given(value: Any) -> bool:
    return value is not None and value is not _DEFAULTED and value != [] and value != ()


def current_values(spec: ModelSpec, columns: list[Column], ids: list[int]) -> dict[int, dict[str, Any]]:
    """The records' stored values of ``columns``, by id, with their version and trash mark."""
    if not ids:
        return {}
    model = spec.model
    plain = [column for column in columns if column.target is not None]
    extra = [name for name in ("version", "deleted_at") if hasattr(model, name)]
    statement = select(model.id, *(getattr(model, name) for name in extra)).add_columns(
        *(getattr(model, column.target) for column in plain if column.target)
    )
    records: dict[int, dict[str, Any]] = {}
    for found in db.session.execute(statement.where(model.id.in_(ids))):
        record = dict(zip(extra, found[1 : 1 + len(extra)], strict=True))
        values = found[1 + len(extra) :]
        record.update({column.attr: column.field.stored(value) for column, value in zip(plain, values, strict=True)})
        records[found[0]] = record
    if any(column.target is None for column in columns):
        for record_id, names in _tag_names(model, ids).items():
            records[record_id]["tags"] = names
        for record in records.values():
            record.setdefault("tags", [])
    return records


@dataclass
class Compared:
    """A record a row names, as the comparison found it: its version, whether it is in the
    trash, and the stored values of the fields the row changes (only those; and ``kept``)."""

    version: int | None
    trashed: bool
    changed: dict[str, Any]
    # The stored values of fields the row gives the same, but not to the letter: written back.
    kept: dict[str, Any] = field(default_factory=dict)


class Comparison:
    """Which fields each row changes, found by the database: a chunk's converted values are
    copied into a temporary table and compared there with the records they name (``IS DISTINCT
    FROM``, one statement), so that only the old values of changed fields come to Python. An
    edited export changes a few cells of many rows; loading and comparing every cell here was
    most of its preview. A row's tags (links, not a column) are compared by name."""

    def __init__(self, spec: ModelSpec, columns: list[Column]) -> None:
        self.spec = spec
        self.plain = [(column, column.target) for column in columns if column.target]
        self.tagged = [column for column in columns if not column.target]
        self.lookups = [column for column, _ in self.plain if isinstance(column.field, Lookup)]
        self.table: SqlTable | None = None

    def compare(self, rows: list[PlannedRow]) -> dict[int, Compared]:
        """The records these rows name, by row number; a row naming no record is absent."""
        if not rows:
            return {}
        table = self._table()
        converters = [(column.attr, column.field.compared) for column, _ in self.plain]
        # A field left to its default (an empty cell of a field that cannot be empty) is NULL:
        # the record keeps its value, as at the apply.
        copy_rows(
            table,
            ["row_number", "object_id", *(target for _, target in self.plain)],
            [
                (
                    row.row_number,
                    row.object_id,
                    *[
                        None if (value := row.values.get(attr)) is None or value is _DEFAULTED else compared(value)
                        for attr, compared in converters
                    ],
                )
                for row in rows
            ],
        )
        bits = [(1 << position, column) for position, (column, _) in enumerate(self.plain)]
        found: dict[int, Compared] = {}
        for number, trashed, version, mask, *olds in db.session.execute(self.statement):
            changed, kept = {}, {}
            if mask or olds.count(None) < len(olds):
                for (bit, column), old in zip(bits, olds, strict=True):
                    if mask & bit:
                        changed[column.attr] = column.field.stored(old)
                    elif old is not None:  # the same, though not to the letter (``Field.read_back``)
                        kept[column.attr] = column.field.stored(old)
            found[number] = Compared(version, bool(trashed), changed, kept)
        for column in self.lookups:  # what the old values are shown as (an owner's email), in one go
            column.field.prepare(
                {record.changed[column.attr] for record in found.values() if column.attr in record.changed}
            )
        if self.tagged:
            self._compare_tags(rows, found)
        empty(table)
        return found

    def close(self) -> None:
        if self.table is not None:
            drop(self.table)
            self.table = None

    def _table(self) -> SqlTable:
        if self.table is None:
            model = self.spec.model.__table__
            # Every column of the model's import, whichever the file has: one table per model.
            targets = [column.target for column in self.spec.columns if column.target]
            self.table = temporary(
                f"import_compared_{self.spec.name}",
                SqlColumn("row_number", Integer),
                SqlColumn("object_id", Integer),
                *(SqlColumn(target, _as_stored(model.c[target].type)) for target in targets),
                reuse=True,
            )
            self.statement = self._statement(self.table)
        return self.table

    def _statement(self, table: SqlTable) -> Select[Any]:
        model = self.spec.model.__table__
        changes = []
        for column, target in self.plain:
            given, current = table.c[target], model.c[target]
            differs = column.field.differs(given, current)
            if not column.field.nullable:
                differs = and_(given.is_not(None), differs)
            read = column.field.read_back(given, current, differs)
            changes.append((differs, read, type_coerce(current, _as_stored(current.type))))
        mask = sum(
            (case((differs, 1 << position), else_=0) for position, (differs, _, _) in enumerate(changes)), literal(0)
        )
        trashed = model.c.deleted_at.is_not(None) if self.spec.soft_deletes else literal(False)
        version = model.c.version if self.spec.versioned else null()
        return select(
            table.c.row_number, trashed, version, mask, *(case((read, current)) for _, read, current in changes)
        ).join_from(table, model, model.c.id == table.c.object_id)

    def _compare_tags(self, rows: list[PlannedRow], found: dict[int, Compared]) -> None:
        """A tag column's old names for the rows whose tags differ, read by joining the
        comparison table (a chunk's ids are not sent again)."""
        assert self.table is not None
        names: dict[int, list[str]] = {}
        link, owner = self.spec.model.tag_link_table(), self.spec.model.tag_link_column()
        statement = (
            select(self.table.c.row_number, Tag.name)
            .join_from(self.table, link, owner == self.table.c.object_id)
            .join(Tag, Tag.id == link.c.tag_id)
            .where(Tag.live())  # as the export lists them: a trashed tag's links are kept aside
        )
        for number, name in db.session.execute(statement):
            names.setdefault(number, []).append(name)
        for row in rows:
            record = found.get(row.row_number)
            if record is None:
                continue
            old = sorted(names.get(row.row_number, ()))
            for column in self.tagged:
                new = row.values.get(column.attr, _DEFAULTED)
                if new is not _DEFAULTED and new != old:
                    record.changed[column.attr] = old


def _as_stored(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """An enum's column as its text (enums are VARCHAR with a CHECK here): compared and read
    back without a member made of each value."""
    return String() if isinstance(column_type, Enum) else column_type


def _tag_names(model: type[Any], ids: list[int]) -> dict[int, list[str]]:
    link = model.tag_link_table()
    owner = model.tag_link_column()
    names: dict[int, list[str]] = {}
    statement = select(owner, Tag.name).join(Tag, Tag.id == link.c.tag_id).where(owner.in_(ids), Tag.live())
    for record_id, name in db.session.execute(statement):
        names.setdefault(record_id, []).append(name)
    return {record_id: sorted(found) for record_id, found in names.items()}
