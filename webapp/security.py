"""Security headers on every response, and a first check of what every request sends."""

from __future__ import annotations

from flask import Flask, abort, current_app, request
from werkzeug.wrappers import Response

from webapp.redirects import current_page, drop_unsafe_return_targets

# Page numbers and picker offsets beyond this are no page an operator reads, only a costly OFFSET
# (and past 2**63 a database error).
MAX_PAGE = 100_000
PAGING_ARGUMENTS = ("page", "offset")

# Scripts come only from this site's files: no inline <script>, no onclick= handler, no
# javascript: link, no eval. Flask-Admin's own templates use inline handlers and javascript: links;
# ours override those blocks (templates/admin/controls.html) and static/js/admin.js attaches the
# behaviour from data attributes instead. Styles keep 'unsafe-inline': tag colours are per-record
# values drawn as style attributes, and select2 copies style attributes onto its widgets.
# Everything else is locked to this origin: no third-party script, style, font, frame or form target.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
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


# A year, the usual HSTS duration. No includeSubDomains: under a path prefix of an existing site
# (deploy/nginx/ops-admin-prefix.conf) the console cannot speak for that site's other hosts.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def add_security_headers(response: Response) -> Response:
    """The fixed headers; ``no-store`` on every response that states no caching policy of its own
    (pages, JSON, exports: a signed-in page must not outlive the session in a browser's or a
    proxy's cache), while files keep theirs; HSTS once the session cookie is HTTPS-only."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
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
    app.add_template_global(current_page, "current_page")
    app.after_request(add_security_headers)
