"""Links that every row of a list carries (its details, its owner, its tags), built cheaply.

``url_for`` costs about 20 µs (route lookup, argument conversion, query encoding); a list page
with 50 rows, their owners and tags calls it hundreds of times. A row link differs from the next
only in one value, so the URL is built once per request with a stand-in for that value, and each
row replaces the stand-in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import g, url_for

# Letters and digits only: URL encoding leaves it as it is, so it is found again in the result.
SLOT = "0ROWSLOT0"


def row_url(endpoint: str, value: Any, argument: str = "id", **fixed: Any) -> str:
    """``url_for(endpoint, **{argument: value}, **fixed)``, built once per request and shape."""
    patterns: dict[tuple[Any, ...], str] = g.setdefault("row_url_patterns", {})
    key = (endpoint, argument, *sorted(fixed.items()))
    pattern = patterns.get(key)
    if pattern is None:
        # The varying argument goes first, so its slot precedes anything ``fixed`` might contain.
        slot: dict[str, Any] = {argument: SLOT}  # typed as url_for's ``**values``, not as its ``_external``
        pattern = patterns[key] = url_for(endpoint, **slot, **fixed)
    # Ids are the usual value, and digits need no quoting.
    text = str(value)
    return pattern.replace(SLOT, text if text.isascii() and text.isdigit() else quote(text, safe=""), 1)
