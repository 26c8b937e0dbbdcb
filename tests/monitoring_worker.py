"""A stand-in gunicorn worker for the multi-process monitoring tests, run as a subprocess.

It builds the app, holds some pooled connections, serves one request (which starts the publisher
the way it starts in production, lazily after the process exists) and then keeps publishing until
its standard input closes, when it exits normally (or until the test kills it).

    python -m tests.monitoring_worker DATABASE_URL CONNECTIONS_TO_HOLD
"""

from __future__ import annotations

import sys

from tests import conftest
from webapp import create_app
from webapp.extensions import db

# A round every 2 s: a worker goes stale after 3 missed rounds, which a busy machine's hiccup
# of a second must not cause.
INTERVAL_SECONDS = "2"


def main(database_url: str, connections_to_hold: int) -> None:
    app = create_app(env=conftest.test_env(database_url, MONITORING_INTERVAL_SECONDS=INTERVAL_SECONDS))
    with app.app_context():
        held = [db.engine.connect() for _ in range(connections_to_hold)]
    app.test_client().get("/login")
    print("serving", flush=True)
    sys.stdin.read()
    for connection in held:
        connection.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
