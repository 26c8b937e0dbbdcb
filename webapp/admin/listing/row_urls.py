"""Links that every row of a list carries (its details, its owner, its tags), and that every page
carries (its style sheets and scripts), built cheaply.

``url_for`` costs about 20 µs (route lookup, argument conversion, query encoding); a list page
with 50 rows, their owners and tags calls it hundreds of times. A row link differs from the next
only in one value, so the URL is built once per request with a stand-in for that value, and each
row replaces the stand-in. A static file's address depends on nothing but the app and the path
prefix the request came in under, so it is built once per process and prefix.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import current_app, g, request, url_for

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


# Prefixes are few (none, and the proxy's); past this many addresses something is minting them
# (a client choosing its own prefix, if a proxy passes it on): start again rather than grow.
STATIC_URLS_KEPT = 500


def static_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` of a static file (``static``, ``admin.static``), built once
    per app, path prefix and file."""
    built: dict[tuple[Any, ...], str] = current_app.extensions.setdefault("static_urls", {})
    key = (request.script_root, endpoint, *sorted(values.items()))
    url = built.get(key)
    if url is None:
        if len(built) >= STATIC_URLS_KEPT:
            built.clear()
        url = built[key] = url_for(endpoint, **values)
    return url
