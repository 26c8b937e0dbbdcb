"""Return addresses that arrive with a request (``url=`` on admin pages, ``next=`` on sign-in).

A page sends the operator back where they came from by carrying that address along; a crafted
link can put anything there. Only a plain path inside this application (under the prefix it is
mounted at) is followed. Anything else is dropped from the request before any view runs, so
every reader of it (Flask-Admin's views, our pages, their templates) falls back to the list or
the home page; a value that only failed once the change was saved (a newline, which no
``Location`` header may hold) would otherwise answer 500 for a change that was committed.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

from flask import request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

# Every request parameter that names a page to return to.
RETURN_TARGETS = ("url", "next")
# An encoded dot, slash or backslash in a path: a proxy or browser that decodes it before
# resolving the path could read "..%2F..%2Fx" as two steps up, out of the prefix.
ENCODED_SEPARATORS = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def is_safe_return_target(target: str) -> bool:
    """A path under this application's root: printable ASCII (what ``url_for`` builds), no
    scheme or host, no ``//`` or backslash (browsers read either as another host), no dot
    segment that would climb out of the prefix, and no percent-encoded dot, slash or backslash
    that could become one."""
    if not target.isascii() or not target.isprintable() or " " in target or "\\" in target:
        return False
    root = request.script_root.rstrip("/")
    if not target.startswith(f"{root}/") or target.startswith("//"):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or ENCODED_SEPARATORS.search(parts.path):
        return False
    return not any(segment in (".", "..") for segment in parts.path.split("/"))


def return_target(name: str = "url") -> str | None:
    """The request's return address ``name``, if it is one to follow."""
    target = request.values.get(name)
    return target if target and is_safe_return_target(target) else None


def _without_unsafe_targets(values: MultiDict[str, str]) -> ImmutableMultiDict[str, str] | None:
    """``values`` less any unsafe return address, or None when there is none to drop."""
    unsafe = [name for name in RETURN_TARGETS if any(not is_safe_return_target(v) for v in values.getlist(name))]
    if not unsafe:
        return None
    return ImmutableMultiDict([(key, value) for key, value in values.items(multi=True) if key not in unsafe])


def drop_unsafe_return_targets() -> None:
    """Before any view: remove unsafe return addresses from the query string and the form.

    Flask-Admin reads ``url`` itself, in every view, with a check that lets newlines through;
    rewriting the request is the one place that covers its readers and ours alike."""
    args = _without_unsafe_targets(request.args)
    form = _without_unsafe_targets(request.form) if request.form else None
    if args is None and form is None:
        return
    if args is not None:
        request.args = args
    if form is not None:
        request.form = form
    request.__dict__.pop("values", None)  # cached from the old ones; rebuilt on next read


def current_page() -> str:
    """This page's own address to come back to (a form that changes a preference, then returns):
    prefix, path and the query as it reached the view, without the unsafe return addresses
    :func:`drop_unsafe_return_targets` took out, which ``request.full_path`` would still hold."""
    query = urlencode(list(request.args.items(multi=True)))
    return f"{request.script_root}{request.path}" + (f"?{query}" if query else "")
