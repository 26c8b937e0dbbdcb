"""Every kind of page an operator can reach by a link, each visited once (the journeys that check
each page, for inline script or for accessibility, walk the site through here)."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qsl, urljoin, urlsplit

from playwright.sync_api import Page

# Arguments that only reorder or point back: a page with them is the same kind of page.
SAME_KIND_ARGUMENTS = frozenset({"url", "sort", "desc"})
# Not pages: downloads, and the sign-out (a POST form, never a link, but never followed either).
NOT_PAGES = re.compile(r"/export/|/logout|/static/")
MAX_PAGES = 200

# Opens a page and checks it; gives the links found on it.
Visit = Callable[[Page, str], list[str]]


def kind_of(url: str) -> tuple[str, frozenset[str]]:
    """Pages that differ only by ids or filter values are the same kind: visited once."""
    parts = urlsplit(url)
    names = {re.sub(r"^flt\d+_.*", "filter", name) for name, _ in parse_qsl(parts.query)} - SAME_KIND_ARGUMENTS
    return re.sub(r"\d+", "N", parts.path), frozenset(names)


def crawl(page: Page, start: str, visit: Visit) -> set[tuple[str, frozenset[str]]]:
    """Visit every kind of page reachable by links from ``start``; the kinds visited."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    queue, kinds = deque([urljoin(origin, start)]), set()
    while queue:
        url = queue.popleft()
        if kind_of(url) in kinds or NOT_PAGES.search(urlsplit(url).path):
            continue
        kinds.add(kind_of(url))
        assert len(kinds) <= MAX_PAGES, "the crawl does not end: group more arguments into one kind"
        for link in visit(page, url):
            target = urljoin(page.url, link).split("#")[0]
            if target.startswith(origin + "/"):
                queue.append(target)
    return kinds
