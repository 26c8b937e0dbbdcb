"""Search words, bounded: what one search box may cost the database.

Flask-Admin turns every word of a search into ``ILIKE '%word%'`` on every searched column,
ANDed: a search of 1,000 one-letter words (a 2 KB URL) became 3,000 conditions that no index
serves, and outlived the worker timeout. Here a search keeps:

- distinct words only, in any letter case (``ILIKE`` ignores it, so a repeat changes nothing);
- at most :data:`MAX_WORDS` words, each cut to :data:`MAX_WORD_LENGTH` characters;
- no "contains" word shorter than :data:`MIN_WORD_LENGTH`: PostgreSQL's trigram indexes need
  three characters to look anything up, so ``%ab%`` scans every row of every searched column,
  and two letters occur in nearly every title anyway, narrowing nothing. Such words are left
  out, and the page says so. Anchored words, ``^ab`` (starts with) and ``=ab`` (exactly), are
  kept at any length: the index serves them through the start- and end-of-value trigrams.

``%`` and ``_`` are matched as typed, not as wildcards (a word of underscores would otherwise
match everything while looking like three characters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Unicode, cast

MAX_WORDS = 8
MAX_WORD_LENGTH = 64
MIN_WORD_LENGTH = 3
ANCHORS = ("^", "=")
LIKE_ESCAPE = "\\"


@dataclass(frozen=True)
class SearchWords:
    """The words a search runs with, and what was left out of it (for the page to say)."""

    words: list[str] = field(default_factory=list)
    too_short: list[str] = field(default_factory=list)
    beyond_limit: int = 0
    shortened: bool = False

    def notice(self) -> str | None:
        """What the operator is told when the search ran with less than was typed."""
        parts = []
        if self.too_short:
            quoted = ", ".join(f"“{word}”" for word in self.too_short[:MAX_WORDS])
            quoted += ", …" if len(self.too_short) > MAX_WORDS else ""
            parts.append(
                f"Left out words shorter than {MIN_WORD_LENGTH} characters: {quoted} "
                "(type =word for an exact value, ^word for a beginning)."
            )
        if self.beyond_limit:
            parts.append(
                f"Searched the first {MAX_WORDS} different words only; {self.beyond_limit} more were left out."
            )
        if self.shortened:
            parts.append(f"Words longer than {MAX_WORD_LENGTH} characters were cut to their first {MAX_WORD_LENGTH}.")
        return " ".join(parts) or None


def search_words(search: str | None) -> SearchWords:
    words: list[str] = []
    too_short: list[str] = []
    seen: set[str] = set()
    beyond_limit = 0
    shortened = False
    for typed in (search or "").split():
        anchor = typed[0] if typed.startswith(ANCHORS) else ""
        text = typed[len(anchor) :]
        if len(text) > MAX_WORD_LENGTH:
            text, shortened = text[:MAX_WORD_LENGTH], True
        word = anchor + text
        if not text or word.casefold() in seen:
            continue
        seen.add(word.casefold())
        if not anchor and len(text) < MIN_WORD_LENGTH:
            too_short.append(word)
        elif len(words) < MAX_WORDS:
            words.append(word)
        else:
            beyond_limit += 1
    return SearchWords(words, too_short, beyond_limit, shortened)


def escape_like(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (with ``escape=LIKE_ESCAPE``)."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")


def like_pattern(word: str) -> str:
    """Flask-Admin's meaning of a word: ``^word`` starts with, ``=word`` is, else contains."""
    if word.startswith("^"):
        return escape_like(word[1:]) + "%"
    if word.startswith("="):
        return escape_like(word[1:])
    return f"%{escape_like(word)}%"


def matches(column: Any, pattern: str) -> Any:
    """The condition in the shape the trigram indexes serve (``CAST(col AS VARCHAR) ILIKE``:
    Flask-Admin's own; ``lower(col) LIKE`` would scan every row)."""
    return cast(column, Unicode).ilike(pattern, escape=LIKE_ESCAPE)
