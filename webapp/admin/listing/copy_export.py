"""The CSV export on PostgreSQL: one ``COPY (SELECT …) TO STDOUT``, every cell formatted in SQL.

The Python export (``export.ExportPlan``) fetches rows in batches and formats each cell, about
30,000 rows a second. Here the list's own query (same search, filters, sort and soft-delete scope)
selects each exported column already as the text ``ExportPlan`` would write, and PostgreSQL
writes the CSV itself. The output is byte for byte the Python export's:

- each cell is its type formatter's text (``display.EXPORT_FORMATTERS``): enum labels and
  yes/no are constants worked out in Python, so they are exact; text goes through the same
  formula guard (:data:`GUARD_PATTERN`); a related record is its model's ``display_name``, the
  SQL twin of its ``__str__``; a tag list is ``joined_names`` in SQL, in the relationship's order;
- times are shown in ``DISPLAY_TIMEZONE`` (the transaction's ``TimeZone``); the zone's
  abbreviation is read from the ``Postgres`` date style's text, because ``to_char``'s ``TZ``
  upper-cases it ("ChST", Guam's, would become "CHST"), and the year is unpadded as
  Python's ``strftime`` leaves it (year 999, not 0999);
- COPY quotes a field holding the delimiter, a quote, CR or LF, as Python's ``csv`` does, but
  quotes an empty string to tell it from NULL, where Python writes nothing: empty cells are sent
  as NULL. COPY ends rows with LF, Python with CRLF: each row arrives in a write of its own
  (the protocol sends one message per row), whose last byte is that LF.

A column this module cannot write in SQL (a Python property, an export formatter, choices, a
JSON document, a number with a fraction, a relationship without a ``display_name``) sends the whole
export through ``ExportPlan`` (:meth:`CopyPlan.for_view` gives None).

A subquery per row for a related record or a tag list gives the first row at once, in the
order of the list's index, but costs most of the time of a large export; joining them once costs
a third, but gives nothing before it has sorted everything. A large list is read in two parts
in one statement (:meth:`CopyPlan.two_part_select`): its first rows the first way, the rest the
second.

``copy_expert`` blocks until the COPY ends, so it runs in a thread of its own that hands chunks
to the response's generator through a short queue: memory stays flat, and a slow client slows
the COPY down. The COPY is one statement for the whole file, which a statement timeout would cut
off however well it progresses (a million rows, or a slow download): the server's is off for it,
and ``DB_EXPORT_STATEMENT_TIMEOUT`` bounds instead the wait for each chunk, as it bounds each batch
of the Python export; a COPY that gives nothing for that long is cancelled (:class:`ExportStalled`).
"""

from __future__ import annotations

import enum
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import (
    ColumnElement,
    Connection,
    Text,
    and_,
    case,
    cast,
    func,
    inspect,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapper, RelationshipDirection, RelationshipProperty, Session, aliased
from sqlalchemy.sql.util import ClauseAdapter

from webapp.admin import compat
from webapp.admin.listing.counting import planner_rows
from webapp.admin.listing.display import enum_label
from webapp.database import UTCDateTime, inlined
from webapp.database_limits import export_limits
from webapp.extensions import db
from webapp.formatting import FORMULA_PREFIXES, formula_guarded

# Text a spreadsheet would run gets a quote in front, as ``formula_guarded`` does: an empty match
# at the start of a cell that starts like a formula, or with a quote before such a character.
_PREFIXES = "".join("\\" + prefix for prefix in FORMULA_PREFIXES)
GUARD_PATTERN = f"^(?=[{_PREFIXES}]|'[{_PREFIXES}'])"
# How ``format_datetime_full`` writes a time, but for the zone's name (see the module's docstring).
TIME_FORMAT = "FMYYYY-MM-DD HH24:MI:SS"
ZONE_FIELD = 6  # "Sun Mar 01 13:00:00 2026 CET"
# The COPY's settings, besides the display zone: the date style it reads the zone's abbreviation
# from; no statement timeout (see the module's docstring); no JIT compilation, which the export's
# cost estimate (a subquery per row) would start, costing more than it gains (about 0.2 s before
# the first row, and a slower COPY on the benchmark's 200,000 tasks); no parallel workers, each of
# which would build the whole tag lists' aggregate again (twice the time on the 2-core machine),
# and whose Append could mix the two parts of :meth:`CopyPlan.two_part_select`.
COPY_SETTINGS = {
    "DateStyle": "Postgres, MDY",
    "statement_timeout": "0",
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
}
COPY_OPTIONS = b"FORMAT csv, ENCODING 'UTF8'"
# What the COPY's thread may get ahead of the client by: QUEUED_CHUNKS chunks of about CHUNK_BYTES.
CHUNK_BYTES = 1 << 16
QUEUED_CHUNKS = 8
# A list the planner expects to hold more than TWO_PARTS_ABOVE rows is read in two parts
# (:meth:`CopyPlan.two_part_select`): its first HEAD_ROWS rows a row at a time, the rest joined
# once. Up to TWO_PARTS_UP_TO rows: the rest's first row comes once it is all sorted (about 9 s
# for 980,000 tasks on the loaded 2-core machine), which must stay well within the wait for a
# chunk (``DB_EXPORT_STATEMENT_TIMEOUT``, 25 s); a larger list is read a row at a time throughout.
HEAD_ROWS = 5_000
TWO_PARTS_ABOVE = 50_000
TWO_PARTS_UP_TO = 1_200_000
# ... and is at least this share of its table: the joined part aggregates every link of the
# table, which for a filtered tenth of ten million tasks would take longer than that wait.
TWO_PARTS_SHARE = 0.25

Cell = ColumnElement[str]


@dataclass(frozen=True)
class Join:
    """A table the list is outer-joined to once, for the cells read from it."""

    target: Any  # a table, or an alias of a related model
    onclause: ColumnElement[bool]


@dataclass(frozen=True)
class ColumnText:
    """One exported column's CSV text, two ways: ``per_row`` evaluates a subquery for each row
    (the first row comes at once, in the list's index order); ``joined`` reads ``joins``, each
    built once for the whole list (about four times faster over a million rows, but nothing comes
    before the joins and the sort are done). A column of the list's own table is the same both
    ways."""

    per_row: Cell
    joined: Cell
    joins: tuple[Join, ...] = ()

    @classmethod
    def plain(cls, cell: Cell) -> ColumnText:
        return cls(cell, cell)


class CopyPlan:
    """Each exported column of a view as a SQL expression of its CSV text."""

    def __init__(self, columns: list[ColumnText], key: ColumnElement[Any] | None) -> None:
        self.columns = columns
        self.key = key  # the list's primary key; None for a composite one (never read in two parts)

    @classmethod
    def for_view(cls, view: Any) -> CopyPlan | None:
        """The plan, or None where the export must go through Python: another database or driver
        than PostgreSQL's psycopg2, or a column this module cannot write."""
        if db.engine.dialect.name != "postgresql" or db.engine.dialect.driver != "psycopg2":
            return None
        columns = [_column_text_of(view, name) for name, _label in compat.export_columns(view)]
        if any(column is None for column in columns):
            return None
        keys = inspect(view.model).primary_key
        return cls([column for column in columns if column is not None], keys[0] if len(keys) == 1 else None)

    def per_row_select(self, query: Any) -> Any:
        """The list's query selecting each cell as a subquery per row (NULL for an empty cell)."""
        return query.with_entities(*_nullable(column.per_row for column in self.columns)).statement

    def two_part_select(self, query: Any) -> Any:
        """The list's rows in its order, in one statement (one snapshot): the first
        :data:`HEAD_ROWS` a row at a time (a CTE the ``UNION ALL``'s first part reads as it comes),
        then the rest, those not among them, joined once and sorted. PostgreSQL's ``Append`` reads
        its parts one after the other, each in its own order (without parallel workers). The
        order is total (``export_query`` ends in the primary key), but the rest is told from the
        head by key, not by position, so even equal rows are each sent once."""
        assert self.key is not None
        head = query.with_entities(self.key.label("export_key"), *_nullable(c.per_row for c in self.columns))
        head_rows = head.limit(HEAD_ROWS).cte("export_head")
        rest = query
        for join in dict.fromkeys(join for column in self.columns for join in column.joins):
            rest = rest.outerjoin(join.target, join.onclause)
        rest = rest.filter(self.key.not_in(select(head_rows.c.export_key)))
        rest_rows = rest.with_entities(*_nullable(column.joined for column in self.columns)).subquery("export_rest")
        return union_all(select(*list(head_rows.c)[1:]), select(*rest_rows.c))

    def set_up(self, connection: Connection, query: Any) -> bool:
        """Sets the COPY's settings; whether to read the list in two parts: when it joins
        anything, is large enough for the joined part to pay and small enough for its sort to
        come in time (:data:`TWO_PARTS_ABOVE`, :data:`TWO_PARTS_UP_TO`), and is a good share of
        its table (:data:`TWO_PARTS_SHARE`: the joined part aggregates the tag lists of the whole
        table, whatever the list's filter). One statement, which also asks the planner for its
        estimates of the list's keys alone (the same rows, planned without the cells'
        subqueries) and of the table's."""
        key, joined = self.key, any(column.joins for column in self.columns)
        listed = in_table = literal(0)
        if key is not None and joined:
            listed = planner_rows(connection, query.with_entities(key).statement)
            in_table = planner_rows(connection, select(key))
        settings = {"TimeZone": current_app.config["DISPLAY_TIMEZONE"], **COPY_SETTINGS}
        set_config = (func.set_config(name, value, True) for name, value in settings.items())
        planned, whole = connection.execute(select(*set_config, listed, in_table)).one()[-2:]
        return bool(
            key is not None
            and joined
            and TWO_PARTS_ABOVE < planned <= TWO_PARTS_UP_TO
            and planned >= TWO_PARTS_SHARE * whole
        )

    def copy_statement(self, connection: Connection, query: Any, *, two_parts: bool) -> bytes:
        """``COPY (the list's query) TO STDOUT``, its values inlined by the driver (COPY takes no
        parameters): as safely quoted as any statement's parameters."""
        statement = self.two_part_select(query) if two_parts else self.per_row_select(query)
        return b"COPY (" + inlined(connection, statement) + b") TO STDOUT WITH (" + COPY_OPTIONS + b")"

    def chunks(self, session: Session, query: Any) -> Iterator[bytes]:
        """The CSV lines of the query's rows, in chunks of about :data:`CHUNK_BYTES`.

        The COPY's settings, and the failed state a cancelled COPY leaves, are the savepoint's:
        rolled back with it, so the transaction goes on as before (psycopg2 reads only ISO times).
        """
        # The connection the list's own query would read on: the replica's, when the request
        # reads there (webapp/read_replica.py).
        connection = session.connection(bind_arguments={"clause": query.statement})
        savepoint = connection.begin_nested()
        try:
            statement = self.copy_statement(connection, query, two_parts=self.set_up(connection, query))
            yield from copied(_dbapi_connection(connection), statement, export_limits().statement_timeout or None)
        finally:
            savepoint.rollback()


def _dbapi_connection(connection: Connection) -> Any:
    return connection.connection.dbapi_connection


def _nullable(cells: Iterable[Cell]) -> list[Cell]:
    """Each cell, NULL when empty: COPY writes NULL as nothing, as Python writes an empty cell."""
    return [func.nullif(cell, "") for cell in cells]


# -- each column's text ------------------------------------------------------------------------


def _column_text_of(view: Any, name: str) -> ColumnText | None:
    """The column's CSV text as ``ExportPlan`` makes it, or None when SQL cannot make it."""
    if name in view.column_formatters_export or name in (view.column_choices or {}):
        return None
    mapper: Mapper[Any] = inspect(view.model)
    if name in mapper.column_attrs:
        columns = mapper.column_attrs[name].columns
        cell = _column_text(columns[0]) if len(columns) == 1 else None
        return None if cell is None else ColumnText.plain(cell)
    relationship = mapper.relationships.get(name)
    return None if relationship is None else _related_text(relationship)


def _column_text(column: Any) -> Cell | None:
    """A column's value as its type's export formatter writes it (``display.EXPORT_FORMATTERS``,
    chosen by the Python type the column's values have)."""
    python_type = _python_type(column.type)
    if python_type is None:
        return None
    if issubclass(python_type, bool):
        return case((column.is_(True), "yes"), (column.is_(False), "no"))
    if issubclass(python_type, enum.Enum):
        return case({member: formula_guarded(enum_label(member)) for member in python_type}, value=column)
    if issubclass(python_type, datetime) and getattr(column.type, "timezone", False):
        return _local_time(column)  # digits first: never guarded
    if issubclass(python_type, int):
        return cast(column, Text)
    if issubclass(python_type, str):
        return guarded(column)
    return None


def _python_type(column_type: Any) -> type | None:
    """The type of the column's values in Python. A type decorator may hand back anything (its
    ``python_type`` says ``object``), but ours for times hands back aware datetimes."""
    if isinstance(column_type, UTCDateTime):
        return datetime
    try:
        python_type: type = column_type.python_type
    except NotImplementedError:
        return None
    return None if python_type is object else python_type


def _local_time(column: Any) -> Cell:
    """``format_datetime_full`` in SQL, under the transaction's ``TimeZone`` and ``DateStyle``."""
    zone = func.split_part(cast(column, Text), " ", ZONE_FIELD)
    return func.to_char(column, TIME_FORMAT, type_=Text) + " " + zone


def guarded(value: Any) -> Cell:
    """``formula_guarded`` in SQL."""
    return func.regexp_replace(value, GUARD_PATTERN, "'", type_=Text)


def _related_text(relationship: RelationshipProperty[Any]) -> ColumnText | None:
    """A relationship as the export writes it: a record's ``str``, or a list's names joined."""
    name = _display_name(relationship.mapper)
    if name is None or relationship.mapper is relationship.parent:
        return None
    if relationship.direction is RelationshipDirection.MANYTOONE and relationship.secondary is None:
        return _record_text(relationship, name)
    if relationship.secondaryjoin is None or not relationship.uselist or not relationship.order_by:
        return None  # a list in no defined order, or one record through a link table: Python's
    return _list_text(relationship, name)


def _record_text(relationship: RelationshipProperty[Any], name: Cell) -> ColumnText:
    """A related record's name: a subquery per row, or an outer join to its table (an alias,
    whatever else the list joins)."""
    record = select(name).where(relationship.primaryjoin).correlate(relationship.parent.local_table)
    other: Any = aliased(relationship.mapper.class_)
    join = Join(other, ClauseAdapter(inspect(other).selectable).traverse(relationship.primaryjoin))
    return ColumnText(guarded(record.scalar_subquery()), guarded(other.display_name), (join,))


def _list_text(relationship: RelationshipProperty[Any], name: Cell) -> ColumnText:
    """A list's names joined (``joined_names``): a subquery per row, or every record's list
    aggregated at once over the link table and outer-joined by the record's key.

    The aggregate takes the names sorted by a subquery rather than by its own ``ORDER BY``,
    which PostgreSQL 15 runs as one small sort per record (800,000 of them: 1.4 s of its 3 s):
    an aggregate reads its rows in the order they come, and nothing between them sorts again
    (the subquery's order already groups them; no parallel workers, see COPY_SETTINGS)."""
    assert relationship.secondaryjoin is not None and relationship.order_by
    names = func.string_agg(_quoted_name(name), ", ").aggregate_order_by(*relationship.order_by)
    per_row = select(names).where(and_(relationship.primaryjoin, relationship.secondaryjoin))
    links = [(own, link.label(f"link_{link.key}")) for own, link in relationship.synchronize_pairs]
    ordered = (
        select(*(link for _own, link in links), _quoted_name(name).label("name"))
        .where(relationship.secondaryjoin)
        .order_by(*(link for _own, link in links), *relationship.order_by)
        .subquery()
    )
    keys = [ordered.c[link.name] for _own, link in links]
    lists = select(*keys, func.string_agg(ordered.c.name, ", ").label("names")).group_by(*keys).subquery()
    join = Join(lists, and_(*(own == lists.c[link.name] for own, link in links)))
    per_row_text = guarded(per_row.correlate(relationship.parent.local_table).scalar_subquery())
    return ColumnText(per_row_text, guarded(lists.c.names), (join,))


def _display_name(mapper: Mapper[Any]) -> Cell | None:
    """The related model's ``display_name`` expression (its ``str`` in SQL), if it has one."""
    descriptor = mapper.all_orm_descriptors.get("display_name")
    if not isinstance(descriptor, hybrid_property):
        return None
    expression: Cell = mapper.class_.display_name
    return expression


def _quoted_name(name: Cell) -> Cell:
    """One name of ``joined_names``: quoted as a CSV field when it holds a comma or a quote."""
    needs_quotes = func.strpos(name, ",") > 0
    needs_quotes |= func.strpos(name, '"') > 0
    return case((needs_quotes, '"' + func.replace(name, '"', '""', type_=Text) + '"'), else_=name)


# -- streaming the COPY ------------------------------------------------------------------------


class ExportStalled(Exception):
    """The COPY gave no chunk for ``DB_EXPORT_STATEMENT_TIMEOUT`` seconds, and was cancelled."""


class _Stopped(Exception):
    """The client went away: the COPY's writes stop."""


class _RowWriter:
    """The file ``copy_expert`` writes to: one row per write, turned into chunks with CRLF row ends."""

    def __init__(self, put: Callable[[bytes], None], stopped: threading.Event) -> None:
        self.put = put
        self.stopped = stopped
        self.rows: list[bytes] = []
        self.size = 0

    def write(self, row: bytes) -> None:
        if self.stopped.is_set():
            raise _Stopped
        self.rows.append(row[:-1])  # the LF COPY ends each row with; CRLF goes back in on joining
        self.size += len(row)
        if self.size >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.put(b"\r\n".join(self.rows) + b"\r\n")
        self.rows, self.size = [], 0


_END = object()


def copied(connection: Any, statement: bytes, wait: float | None) -> Iterator[bytes]:
    """What ``COPY … TO STDOUT`` writes on ``connection`` (a psycopg2 connection), as it comes.

    A thread runs the COPY into a queue that holds a few chunks, so the COPY waits for the
    client. If the client goes away first, or the next chunk takes longer than ``wait`` seconds
    (None: no limit), the COPY is cancelled on the server, and the thread is waited for: the
    connection is back in the caller's hands when this generator closes, its transaction failed
    (the caller rolls it back).
    """
    chunks: queue.Queue[Any] = queue.Queue(QUEUED_CHUNKS)
    stopped = threading.Event()
    thread = threading.Thread(target=_run_copy, args=(connection, statement, chunks, stopped), daemon=True)
    thread.start()
    try:
        while (chunk := _next_chunk(chunks, wait)) is not _END:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk
    finally:
        if thread.is_alive():
            stopped.set()
            connection.cancel()
            _drain(chunks, thread)


def _next_chunk(chunks: queue.Queue[Any], wait: float | None) -> Any:
    try:
        return chunks.get(timeout=wait)
    except queue.Empty:
        raise ExportStalled(f"the export gave no rows for {wait:g} s and was cancelled") from None


def _run_copy(connection: Any, statement: bytes, chunks: queue.Queue[Any], stopped: threading.Event) -> None:
    writer = _RowWriter(chunks.put, stopped)
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(statement, writer)
        writer.flush()
        chunks.put(_END)
    except _Stopped:
        pass
    except Exception as error:  # handed to the client's side, which raises it
        chunks.put(error)


def _drain(chunks: queue.Queue[Any], thread: threading.Thread) -> None:
    """Take what the thread still puts until it ends (a put waits while the queue is full)."""
    while thread.is_alive():
        try:
            chunks.get(timeout=0.1)
        except queue.Empty:
            continue
    thread.join()
