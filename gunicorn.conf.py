"""gunicorn settings for the web process (Procfile: ``gunicorn --config gunicorn.conf.py wsgi:app``).

Values come from webapp/config.py like every other setting; any gunicorn option can still be
overridden per deploy with ``GUNICORN_CMD_ARGS`` (e.g. ``--max-requests 1000``), which gunicorn
applies after this file.
"""

import gc

from webapp.config import exit_on_config_error, load_server_settings
from webapp.request_logging import gunicorn_logging

with exit_on_config_error():
    _settings = load_server_settings()

# BIND_HOST defaults to 0.0.0.0, which platforms that route to PORT themselves need; behind nginx
# the deploy examples bind 127.0.0.1: sync workers must only be reached through a buffering proxy
# (a slow client would hold a worker for as long as it likes; README, "Why a buffering proxy").
bind = _settings.bind
workers = _settings.workers

# A worker silent for longer than this is killed and replaced. It is well above DB_POOL_TIMEOUT,
# so a request waiting for a database connection ends as a 503 page, not a killed worker. Sync
# workers report only between requests: a response that streams for longer (a CSV export of a
# million rows takes about 30 s) reports its own progress (webapp/heartbeat.py, installed in
# ``post_fork``), so it is not cut off, while a request that hangs still gets its worker replaced.
timeout = 30
# On SIGTERM (deploy, scale down) workers finish their requests for up to this long; it stays
# below the 30 s most platforms wait before they send SIGKILL.
graceful_timeout = 25
# Behind nginx, upstream connections are reused (keepalive in the upstream block, whose
# keepalive_timeout must stay below this: deploy/nginx/ops-admin.conf).
keepalive = 5

# The app writes the access log itself (webapp/request_logging.py): one line per request with
# the request id and its duration, text or JSON (LOG_FORMAT). gunicorn's would duplicate it.
accesslog = None
logconfig_dict = gunicorn_logging(_settings.log_format)

# The scheme comes from X-Forwarded-Proto through ProxyFix (TRUSTED_PROXY_COUNT), one place
# only; gunicorn's own handling would otherwise trust any client on 127.0.0.1.
forwarded_allow_ips = ""

# Managed by signals (HUP, TERM, TTIN/TTOU); gunicorn's control socket sits at one path per user,
# where two gunicorns on the same host would collide.
control_socket_disable = True

# The app is imported once in the master, so a configuration error stops the deploy at once
# instead of every worker crashing in a loop, and workers share its memory.
preload_app = True

# Python's cyclic garbage collector, tuned for request work. A list page creates a few thousand
# container objects (ORM rows and their state, template contexts), almost all freed by reference
# counting when the request ends; with the default threshold (700) the collector still ran about
# three times per page and, every few pages, walked all ~126,000 objects of the loaded app:
# about 2 ms of a 12 ms page. The app's objects are moved out of the collector's sight once in
# the master (``when_ready``, after the preload, before the first fork: this also keeps the
# pages workers share from being copied when the collector would touch them), and each worker
# collects its youngest generation every 10,000 allocations instead (``post_fork``).
GC_YOUNG_THRESHOLD = 10_000


def when_ready(server):
    """Freeze the preloaded app's objects before workers are forked from the master."""
    gc.collect()
    gc.freeze()


def post_fork(server, worker):
    """Give each worker its own connection pool, its heartbeat and its collector settings.

    With preload_app the engine was created in the master; a pooled connection inherited across
    fork would be one socket used by several processes. ``close=False`` leaves the parent's
    connections alone instead of closing them from the child.
    """
    from webapp import heartbeat
    from webapp.extensions import db

    app = server.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)
    heartbeat.install(app, worker.notify)
    _, *older = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *older)
