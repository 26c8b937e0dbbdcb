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
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, insert

from webapp.extensions import db

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_rows(table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert ``rows`` (values in ``columns``' order) in the session's transaction."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        parameters = [dict(zip(columns, row, strict=True)) for row in rows]
        if parameters:
            db.session.execute(insert(table), parameters)
        return
    buffer = io.StringIO()
    for row in rows:
        # The common types' writer straight from the table: an import writes millions of values.
        buffer.write("\t".join([(_BY_TYPE.get(value.__class__) or _copy_text)(value) for value in row]))
        buffer.write("\n")
    if not buffer.tell():
        return
    buffer.seek(0)
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in columns)
    name = connection.dialect.identifier_preparer.format_table(table)
    cursor = connection.connection.cursor()
    try:
        cursor.copy_expert(f"COPY {name} ({quoted}) FROM STDIN", buffer)
    finally:
        cursor.close()


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
    return _escaped(text)


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
