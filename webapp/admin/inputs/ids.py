"""Record ids as they arrive in URLs and forms: ASCII digits within the range of the id columns.

``str.isdigit`` accepts "²", which ``int`` refuses, and an id beyond the column's range makes
SQLite raise ``OverflowError``: either would be a 500 where "no such record" is the answer.
"""

from __future__ import annotations

from typing import Any

# Primary and foreign keys are INTEGER columns (32 bits on PostgreSQL).
MAX_ID = 2**31 - 1
_MAX_DIGITS = len(str(MAX_ID))


def parse_id(value: Any) -> int | None:
    """The id ``value`` spells, or None if it is not one."""
    text = str(value).strip()
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None
