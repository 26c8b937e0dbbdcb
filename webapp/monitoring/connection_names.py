"""Every connection the app opens tells PostgreSQL who it is: ``application_name`` is
``webapp <host>:<pid>`` (the publisher's own: ``webapp <host>:<pid> monitoring``; the host is
``APP_HOST``, by default the machine's name), so
``pg_stat_activity``, the dashboard's connections panel and a DBA's own tools can tell the app's
workers apart, and the dashboard can find its own backends.

The name is a connection parameter, read when each connection opens (``do_connect``), never a
``SET`` after: the pid is the worker's, not the preloading master's, and PgBouncer forwards the
startup parameter to the server connection serving each transaction.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

APPLICATION = "webapp"
# PostgreSQL keeps the first NAMEDATALEN - 1 bytes.
MAX_BYTES = 63


def application_name(host: str, role: str = "") -> str:
    name = f"{APPLICATION} {host}:{os.getpid()}" + (f" {role}" if role else "")
    return name.encode()[:MAX_BYTES].decode(errors="ignore")


def name_connections(engine: Engine, host: str, role: str = "") -> None:
    """Name every connection ``engine`` opens from now on (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        return

    def before_connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["application_name"] = application_name(host, role)

    event.listen(engine, "do_connect", before_connect)
