"""Security headers on every response, and a first check of what every request sends."""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.wrappers import Response

from webapp.redirects import drop_unsafe_return_targets

# Page numbers and picker offsets beyond this are no page an operator reads, only a costly OFFSET
# (and past 2**63 a database error).
MAX_PAGE = 100_000
PAGING_ARGUMENTS = ("page", "offset")

# Flask-Admin's templates use inline event handlers (onclick="return modelActions.execute(...)")
# and javascript: links, which a nonce cannot cover (a nonce makes browsers ignore
# 'unsafe-inline'), so scripts are limited to this site and inline code, not to nonces. Everything
# else is locked to this origin: no third-party script, style, font, frame or form target.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def refuse_malformed_input() -> None:
    """Answer 400 before any view runs for input no field can hold.

    PostgreSQL cannot store or compare a string with a NUL character and fails the statement;
    negative or absurd page numbers would reach OFFSET.
    """
    values = [*request.args.items(multi=True), *request.form.items(multi=True)]
    for key, value in values:
        if "\x00" in key or "\x00" in value:
            name = key.replace("\x00", "\\0")[:40]
            abort(400, f"“{name}” contains a NUL character, which no field accepts. Nothing was changed.")
    for name in PAGING_ARGUMENTS:
        raw = request.args.get(name)
        if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) <= MAX_PAGE):
            abort(400, f"{name} must be a whole number from 0 to {MAX_PAGE:,}.")


def init_security(app: Flask) -> None:
    app.before_request(refuse_malformed_input)
    app.before_request(drop_unsafe_return_targets)
    app.after_request(add_security_headers)
