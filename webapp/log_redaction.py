"""What of a database error may reach the log: its kind and the schema names, never a value.

The engine runs with ``hide_parameters`` (``webapp.config``), so SQLAlchemy leaves the bound
values out of its messages. PostgreSQL adds values of its own: ``DETAIL: Key (email)=(…)``,
``Failing row contains (…)`` (the whole row, a password hash included), and quoted input in
messages such as ``invalid input syntax for type integer: "…"``. The log formatters
(``webapp.request_logging``) write every database error of a traceback as :func:`describe`
says, and code that logs a database error names it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError, StatementError

QUOTED = re.compile(r'"[^"]*"')
# Names of the schema objects involved: what a reader needs to find the cause, and no data.
DIAGNOSTIC_NAMES = ("constraint_name", "table_name", "column_name", "datatype_name")


def _is_driver_error(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] in {"psycopg2", "sqlite3"}


def _describe_driver_error(error: BaseException) -> str:
    diagnostics = getattr(error, "diag", None)
    if diagnostics is None or diagnostics.sqlstate is None:
        # sqlite3's messages, and the client's own (connection refused, lost), hold no values.
        return str(error).strip().partition("\n")[0]
    primary = QUOTED.sub('"…"', diagnostics.message_primary or "")
    names = [
        f"{name.removesuffix('_name')} {value}"
        for name in DIAGNOSTIC_NAMES
        if (value := getattr(diagnostics, name, None))
    ]
    details = f" ({', '.join(names)})" if names else ""
    return f"{primary} [SQLSTATE {diagnostics.sqlstate}]{details}"


def describe(error: BaseException) -> str:
    """One line for the log: the driver's error class and message without values, and for a
    statement error the SQL (whose values are bound parameters, hidden)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        original = error.orig
        where = f" [SQL: {error.statement}]" if error.statement else ""
        return f"({type(original).__module__}.{type(original).__name__}) {_describe_driver_error(original)}{where}"
    if _is_driver_error(error):
        return _describe_driver_error(error)
    return str(error)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def redact_traceback(text: str, error: BaseException | None) -> str:
    """``text``, a formatted traceback of ``error``, with each database error of the chain
    written as :func:`describe` says (the longest first: a wrapper's text holds its cause's)."""
    database_errors = [
        candidate for candidate in _chain(error) if isinstance(candidate, StatementError) or _is_driver_error(candidate)
    ]
    for candidate in sorted(database_errors, key=lambda found: len(str(found)), reverse=True):
        original = str(candidate)
        if original:
            text = text.replace(original, describe(candidate))
    return text
