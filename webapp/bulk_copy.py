"""Writing many rows into one table: ``COPY … FROM STDIN`` on PostgreSQL, a multi-row ``INSERT``
elsewhere (SQLite).

An import writes a row per file row into ``import_rows`` and the temporary tables of its apply,
and an audit entry per record: a hundred thousand of each. Through ``INSERT … VALUES`` each
value is a bound parameter that SQLAlchemy processes and psycopg2 quotes into a statement text
of megabytes, which the monitoring then normalises when it is slow. ``COPY`` streams the rows as
text in the session's own transaction, a few times faster, and its statement is one short line.
"""

from __future__ import annotations

import enum
import io
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, insert

from webapp.extensions import db

# A cursor of the session's connection, the COPY statement, and the rows as its text.
_Copy = tuple[Any, str, io.StringIO]

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_rows(table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert ``rows`` (values in ``columns``' order) in the session's transaction."""
    copy = _copy_of(table, columns, rows)
    if copy is not None:
        cursor, statement, buffer = copy
        try:
            cursor.copy_expert(statement, buffer)
        finally:
            cursor.close()


def _copy_of(table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> _Copy | None:
    """What a ``COPY`` of ``rows`` needs: a cursor of the session's connection, the statement
    and the text. None when there is nothing to copy, or when the rows were written already
    because the database is not PostgreSQL."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        _insert_rows(table, columns, rows)
        return None
    buffer = _copy_text_of(rows)
    if buffer is None:
        return None
    return connection.connection.cursor(), _copy_statement(connection, table, columns), buffer


class CopyBehind:
    """Batches of rows copied into one table, each batch's ``COPY`` running in a thread while the
    caller goes on to make the next one: the server parses, checks and indexes the rows on the
    other core meanwhile (psycopg2 lets go of the GIL while it sends and waits). The text of a
    batch is made in the caller's thread, which holds the GIL anyway.

    The session's connection is the COPY's until it ends: call :meth:`wait` before any other
    statement on it. Used as a context manager, which waits at its end (a failed batch's error
    is raised there, or at the next :meth:`send` or :meth:`wait`), so that no COPY outlives the
    work, and no rollback runs beside one. Elsewhere than on PostgreSQL (SQLite) each batch is
    written at once."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = columns
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> CopyBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exception: object) -> None:
        if kind is None:
            self.wait()
            return
        self._join()  # the work's own error is the one to raise
        self.error = None

    def send(self, rows: Iterable[Sequence[Any]]) -> None:
        self.wait()
        copy = _copy_of(self.table, self.columns, rows)
        if copy is not None:
            self.thread = threading.Thread(target=self._copy, args=copy, daemon=True)
            self.thread.start()

    def wait(self) -> None:
        """Until the last batch is in the table; its error, if it failed."""
        self._join()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def _copy(self, cursor: Any, statement: str, buffer: io.StringIO) -> None:
        try:
            # Read in one go: each read takes the GIL back from the caller's thread, which
            # holds it for up to 5 ms at a time (8 KB reads made a batch's COPY wait seconds).
            cursor.copy_expert(statement, buffer, size=len(buffer.getvalue()) + 1)
        except BaseException as error:  # raised in the caller's thread, by wait()
            self.error = error
        finally:
            cursor.close()


def _insert_rows(table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    parameters = [dict(zip(columns, row, strict=True)) for row in rows]
    if parameters:
        db.session.execute(insert(table), parameters)


def _copy_text_of(rows: Iterable[Sequence[Any]]) -> io.StringIO | None:
    """The rows in COPY's text format, ready to read; None for no rows."""
    buffer = io.StringIO()
    for row in rows:
        # The common types' writer straight from the table: an import writes millions of values.
        buffer.write("\t".join([(_BY_TYPE.get(value.__class__) or _copy_text)(value) for value in row]))
        buffer.write("\n")
    if not buffer.tell():
        return None
    buffer.seek(0)
    return buffer


def _copy_statement(connection: Any, table: Table, columns: Sequence[str]) -> str:
    preparer = connection.dialect.identifier_preparer
    quoted = ", ".join(preparer.quote(name) for name in columns)
    return f"COPY {preparer.format_table(table)} ({quoted}) FROM STDIN"


def _copy_text(value: Any) -> str:
    """A value in ``COPY``'s text format: ``\\N`` for NULL, backslash escapes, JSON for documents.

    Looked up by the value's exact type first: an import writes millions of values, and a chain
    of ``isinstance`` tests for each was most of its cost here."""
    written = _BY_TYPE.get(type(value))
    if written is not None:
        return written(value)
    if isinstance(value, enum.Enum):
        # Written by its value; its type then found at the first lookup, as the common ones.
        _BY_TYPE[type(value)] = _enum_text
        return _enum_text(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        return _document(value)
    return _escaped(str(value))


def _enum_text(value: enum.Enum) -> str:
    return _escaped(str(value.value))


def _escaped(text: str) -> str:
    """``text`` with COPY's escapes, translated only when it holds a character that needs one."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPES)
    return text


# Without spaces: fewer bytes to send and for jsonb to read (it keeps none of them).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# ``JSONEncoder.encode`` builds its C encoder anew for each document, with a check for cycles:
# half of the time of the small documents an import writes (three a row). The same C encoder is
# made once here; plain data has no cycles. Python built without the C accelerator: the usual way.
_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_C_ENCODER: Any = (
    None
    if _make_encoder is None
    else _make_encoder(None, _JSON.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
)


def _document(value: Any) -> str:
    if not value:  # most of an import's rows have no problems, no cells kept, nothing previous
        return "[]" if isinstance(value, (list, tuple)) else "{}"
    text = _JSON.encode(value) if _C_ENCODER is None else "".join(_C_ENCODER(value, 0))
    # JSON writes a tab or a line end inside a string as an escape: only its backslashes need one.
    return text.replace("\\", "\\\\") if "\\" in text else text


def _bytea(value: bytes) -> str:
    """bytea's hex form, its backslash escaped for COPY."""
    return "\\\\x" + value.hex()


_BY_TYPE: dict[type, Callable[[Any], str]] = {
    type(None): lambda value: "\\N",
    bool: lambda value: "t" if value else "f",
    int: str,
    float: str,
    str: _escaped,
    bytes: _bytea,
    datetime: datetime.isoformat,
    date: date.isoformat,
    dict: _document,
    list: _document,
    tuple: _document,
}
