"""Security headers on every response, pages and static files alike."""

from __future__ import annotations

from flask import Flask
from werkzeug.wrappers import Response

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


def init_security(app: Flask) -> None:
    app.after_request(add_security_headers)
