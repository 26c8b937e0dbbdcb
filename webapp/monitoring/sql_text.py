"""Statement texts made safe to show: every literal replaced by a ``$n`` placeholder, every
comment dropped.

Whatever the dashboard, its JSON or ``/metrics`` show of a statement passes through here first:
texts captured in the app, and texts PostgreSQL reports of other sessions (``pg_stat_activity``)
or keeps un-normalized (``pg_stat_statements`` normalizes only plannable statements, so
``EXPLAIN SELECT … 'search term'`` is stored with its literals). Values in those texts may be
personal data: operators' search terms, emails.

Quotes, escapes, dollar-quoting and nested comments combine in ways that defeat hand-written
patterns, so PostgreSQL's own parser and lexer decide (``pglast``, built on libpg_query):

1. a text that parses is normalized as pg_stat_statements would (``parser.normalize``), then
   lexed once more to drop its comments and the literals of utility statements that the
   normalizer keeps (``COPY … FROM 'file'``); its ``parser.fingerprint`` ignores the values and
   the length of ``IN`` lists;
2. a text that lexes but does not parse (SQLite's own syntax, a statement already normalized to
   ``interval $1``) keeps its tokens, literals replaced and comments dropped;
3. a text that cannot be lexed to its end (cut by ``track_activity_query_size`` inside a string
   or a comment) is cut where the lexer gave up, before the unterminated literal, and marked
   ``…``; the raw text is never shown.

Normalizing costs about 0.1 ms a statement (more for long ones), and the dashboard shows the same
texts on every refresh: ``safe_text`` keeps what it made of recent texts, and ``NormalizedTexts``
keeps them by another key (``pg_stat_statements``' ``queryid``), each bounded by characters held.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from pglast import parser
from pglast.parser import ParseError

LITERAL_TOKENS = frozenset({"SCONST", "USCONST", "BCONST", "XCONST", "ICONST", "FCONST"})
COMMENT_TOKENS = frozenset({"SQL_COMMENT", "C_COMMENT"})
CUT_MARK = "…"
# What the caches of this module hold at most, in characters of text (keys included): a few MB.
CACHED_CHARS = 2_000_000
UNPARSEABLE = "(statement could not be parsed)"

# DB-API placeholders (PEP 249 paramstyle) rewritten as PostgreSQL's $n so the parser reads them;
# a psycopg2 statement with parameters writes a literal % as %%. A placeholder inside a string
# or comment is rewritten too, which is harmless: literals and comments are replaced anyway.
PLACEHOLDERS = {
    "pyformat": re.compile(r"%%|%\(\w+\)s|%s"),
    "format": re.compile(r"%%|%s"),
    "qmark": re.compile(r"\?"),
    "named": re.compile(r"(?<![:\w]):\w+"),
    "numeric": re.compile(r"(?<![:\w]):\d+"),
}


@dataclass(frozen=True)
class Normalized:
    text: str
    fingerprint: str


def normalize(statement: str, paramstyle: str | None = None) -> Normalized:
    """``statement`` without literals or comments, and a fingerprint that its variants share.

    ``paramstyle`` is the driver's (``engine.dialect.paramstyle``) for statements as the app sent
    them; ``None`` for texts as the server saw them.
    """
    sql = _with_postgresql_placeholders(statement, paramstyle)
    try:
        return Normalized(_tokens_without_literals(parser.normalize(sql)), parser.fingerprint(sql))
    except ParseError:
        text = _lexable_part_without_literals(sql)
        return Normalized(text, hashlib.blake2b(text.encode(), digest_size=8).hexdigest())


class NormalizedTexts:
    """Normalized texts by a key naming one statement, least recently used dropped first once
    they hold more than ``max_chars``; shared by a worker's threads."""

    def __init__(self, max_chars: int = CACHED_CHARS) -> None:
        self.max_chars = max_chars
        self._held: OrderedDict[Hashable, tuple[Normalized, int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Normalized | None:
        with self._lock:
            found = self._held.get(key)
            if found is None:
                return None
            self._held.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, normalized: Normalized, chars: int) -> None:
        """Keep ``normalized`` under ``key``; ``chars``: what the entry holds, its key's text included."""
        if chars > self.max_chars:
            return
        with self._lock:
            if (previous := self._held.pop(key, None)) is not None:
                self._chars -= previous[1]
            self._held[key] = (normalized, chars)
            self._chars += chars
            while self._chars > self.max_chars:
                _, (_, dropped) = self._held.popitem(last=False)
                self._chars -= dropped


_shown = NormalizedTexts()


def safe_text(statement: str) -> str:
    """A statement text as the server reported it (or as stored), fit to show."""
    known = _shown.get(statement)
    if known is None:
        known = normalize(statement)
        _shown.put(statement, known, len(statement) + len(known.text))
    return known.text


def _with_postgresql_placeholders(statement: str, paramstyle: str | None) -> str:
    pattern = PLACEHOLDERS.get(paramstyle or "")
    if pattern is None:
        return statement
    numbers = itertools.count(1)
    return pattern.sub(lambda match: "%" if match.group() == "%%" else f"${next(numbers)}", statement)


def _lexable_part_without_literals(sql: str) -> str:
    """Tiers 2 and 3 of the module doc: each failed lexing cuts the text where the lexer stopped
    (the start of the unterminated string, comment or identifier), until what is left lexes."""
    cut = False
    while True:
        try:
            tokens_text = _tokens_without_literals(sql)
            break
        except ParseError as error:
            stopped_at = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], int) else 0
            if not 0 < stopped_at < len(sql):
                return UNPARSEABLE
            sql, cut = sql[:stopped_at], True
    if not tokens_text:
        return UNPARSEABLE
    return f"{tokens_text} {CUT_MARK}" if cut else tokens_text


def _tokens_without_literals(sql: str) -> str:
    """The text rebuilt from PostgreSQL's tokens: literals as new ``$n`` (numbered after the
    placeholders already there), comments and runs of whitespace as one space."""
    tokens = parser.scan(sql)
    texts = [sql[token.start : token.end + 1] for token in tokens]
    taken = [int(text[1:]) for text, token in zip(texts, tokens, strict=True) if token.name == "PARAM"]
    numbers = itertools.count(max(taken, default=0) + 1)
    parts: list[str] = []
    previous = None
    for text, token in zip(texts, tokens, strict=True):
        if token.name in COMMENT_TOKENS:
            continue
        adjacent = previous is not None and token.start == previous.end + 1
        if token.name in LITERAL_TOKENS:
            text = f"${next(numbers)}"
            if adjacent and previous is not None and previous.name == "NCHAR":
                parts.pop()  # N'…' is one literal that the lexer reads as two tokens
        if parts and not adjacent:
            parts.append(" ")
        parts.append(text)
        previous = token
    return "".join(parts)
