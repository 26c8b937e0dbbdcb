"""Serving behind reverse proxies: trusted ``X-Forwarded-*`` headers and a path prefix.

``TRUSTED_PROXY_COUNT`` says how many proxies in front of gunicorn set the forwarded headers.
At 0 (the default) they are ignored, because without a proxy they come straight from clients,
who could then spoof their address, the scheme (and with it the Secure cookie logic) or the host.
"""

from __future__ import annotations

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix


class PrefixAwareSessionInterface(SecureCookieSessionInterface):
    """Scopes the session cookie to the prefix the app is mounted under (``/ops``).

    Flask takes the cookie path from static config; mounted under a prefix by the proxy, the app
    would otherwise hand its cookie to every other application on the same host.
    """

    def get_cookie_path(self, app: Flask) -> str:
        configured = app.config["SESSION_COOKIE_PATH"]
        return configured or request.script_root or super().get_cookie_path(app)


def init_proxy(app: Flask) -> None:
    app.session_interface = PrefixAwareSessionInterface()
    trusted = app.config["TRUSTED_PROXY_COUNT"]
    if trusted:
        # x_port stays 0: X-Forwarded-Host carries the port, and a client-sent X-Forwarded-Port
        # that the proxy does not overwrite must not be believed.
        # Flask types wsgi_app as a method, though wrapping it in middleware is the documented way.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted, x_proto=trusted, x_host=trusted, x_prefix=trusted
        )
