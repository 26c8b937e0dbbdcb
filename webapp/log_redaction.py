"""What of a database error may reach the log: its kind and the schema names, never a value.

The engine runs with ``hide_parameters`` (``webapp.config``), so SQLAlchemy leaves the bound
values out of its messages. PostgreSQL adds values of its own: ``DETAIL: Key (email)=(…)``,
``Failing row contains (…)`` (the whole row, a password hash included), the statement as the
server saw it (``LINE 1: …``, psycopg2 binds values into the text), and quoted input in
messages such as ``invalid input syntax for type integer: "…"``; SQLAlchemy quotes a value it
refuses itself (``'…' is not among the defined enum values``). The log formatters
(``webapp.request_logging``) pass every line through :func:`redact`, and code that logs a
database error names it as :func:`describe` says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from sqlalchemy.exc import SQLAlchemyError, StatementError

# From the first quote to the last (or the end when there is only one), across lines: a value
# may hold quotes and newlines itself, so a quoted span cannot be told from its inner quotes.
# Translated server messages quote with guillemets or typographic quotes.
QUOTES = "\"'«»‹›“”„‘’"
QUOTED = re.compile(f"[{QUOTES}](?:.*[{QUOTES}]|.*)", re.DOTALL)
QUOTED_TO_THE_END = re.compile(f"[{QUOTES}].*", re.DOTALL)
REDACTED = '"…"'
# Names of the schema objects involved: what a reader needs to find the cause, and no data.
DIAGNOSTIC_NAMES = ("constraint_name", "table_name", "column_name", "datatype_name")
# SQLAlchemy quotes the error that failed a flush in the PendingRollbackError of the next use of
# the session, as text only (no cause: it is raised outside the except block).
QUOTED_ERROR = "Original exception was: "
STATEMENT = "\n[SQL: "
# The last line of defence, for text no error object explains: the lines in which PostgreSQL and
# SQLAlchemy give values (the caret under a ``LINE`` goes with it).
VALUE_LINES = re.compile(
    r"^[^\S\n]*(?:(?:DETAIL|CONTEXT|QUERY):|LINE \d+:|\[parameters: ).*(?:\n[^\S\n]*\^[^\S\n]*$)?\n?"
    r"|^.*Failing row contains.*\n?",
    re.MULTILINE,
)


def _is_driver_error(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] in {"psycopg2", "sqlite3"}


def _describe_original(error: BaseException) -> str:
    """The message of the error a statement raised: PostgreSQL's primary message without its
    quoted values, with the names from its diagnostics; any other's first line, unquoted."""
    diagnostics = getattr(error, "diag", None)
    if diagnostics is None or diagnostics.sqlstate is None:
        if _is_driver_error(error):
            # sqlite3's messages, and the client's own (connection refused, lost), hold no values.
            return str(error).strip().partition("\n")[0]
        return redact_message(str(error))
    primary = QUOTED.sub(REDACTED, diagnostics.message_primary or "")
    names = [
        f"{name.removesuffix('_name')} {value}"
        for name in DIAGNOSTIC_NAMES
        if (value := getattr(diagnostics, name, None))
    ]
    details = f" ({', '.join(names)})" if names else ""
    return f"{primary} [SQLSTATE {diagnostics.sqlstate}]{details}"


def redact_message(text: str) -> str:
    """An error's text with no object to ask (quoted by another error, or not from a driver):
    its first line with the quoted part cut out, and of the rest only SQLAlchemy's statement.

    When the text goes on after its first line, the quoted part is cut up to that line's end: a
    value may hold a newline, and where it ends can then not be told from the text.
    """
    head, statement_marker, statement = text.rpartition(STATEMENT)
    if not statement_marker:
        head, statement = text, ""
    first_line, more_lines, _ = head.strip().partition("\n")
    quoted = QUOTED_TO_THE_END if more_lines else QUOTED
    return VALUE_LINES.sub("", quoted.sub(REDACTED, first_line) + statement_marker + statement)


def describe(error: BaseException) -> str:
    """One line for the log: the error class and message without values, and for a statement
    error the SQL (whose values are bound parameters, hidden)."""
    if isinstance(error, StatementError) and error.orig is not None:
        original = error.orig
        where = f" [SQL: {error.statement}]" if error.statement else ""
        return f"({type(original).__module__}.{type(original).__name__}) {_describe_original(original)}{where}"
    if _is_driver_error(error):
        return _describe_original(error)
    if not isinstance(error, SQLAlchemyError):
        # Raised by a value on its way to a statement (an enum's LookupError, the KeyError
        # behind it): its message holds that value.
        return redact_message(str(error))
    message, quoting, quoted = str(error).partition(QUOTED_ERROR)
    return message + quoting + redact_message(quoted) if quoting else message


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _database_errors(error: BaseException | None) -> Iterator[BaseException]:
    """The database errors of ``error``'s chain, and every error behind one (its causes)."""
    behind_database_error = False
    for candidate in _chain(error):
        behind_database_error = (
            behind_database_error or isinstance(candidate, SQLAlchemyError) or _is_driver_error(candidate)
        )
        if behind_database_error:
            yield candidate


def redact(text: str, errors: Iterable[BaseException]) -> str:
    """``text``, a log line about ``errors`` (a traceback, a message naming them), with each
    database error of their chains, as ``str`` or ``repr`` writes it, written as :func:`describe`
    says (the longest first: a wrapper's text holds its cause's), then without any line in which
    a value is given."""
    database_errors = {id(candidate): candidate for error in errors for candidate in _database_errors(error)}
    written = [(form(candidate), candidate) for candidate in database_errors.values() for form in (str, repr)]
    for original, candidate in sorted(written, key=lambda found: len(found[0]), reverse=True):
        if original:
            text = text.replace(original, describe(candidate))
    return VALUE_LINES.sub("", text)
