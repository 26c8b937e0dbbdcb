"""PgBouncer's own pool figures, from its admin console (``SHOW POOLS`` and ``SHOW STATS``).

The admin console takes only simple queries outside any transaction: it is read on a psycopg2
connection of its own, in autocommit mode, opened with a short timeout so that an unreachable
PgBouncer costs the dashboard two seconds, not the TCP timeout.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from typing import Any

import psycopg2

from webapp.config import DEAD_CONNECTION_DETECTION

CONNECT_TIMEOUT_SECONDS = 2  # libpq's smallest: it reads 1 as 2
ADMIN_DATABASE = "pgbouncer"  # the console's own pool, not one of the app's


class PgBouncerUnreachable(RuntimeError):
    """The admin console could not be reached or read; the message says where and why."""


@dataclass(frozen=True)
class PgBouncerPool:
    database: str
    user: str
    pool_mode: str
    clients_active: int
    clients_waiting: int
    servers_active: int
    servers_idle: int
    max_wait_seconds: float
    avg_wait_ms: float | None


@dataclass(frozen=True)
class PgBouncerReport:
    clients_waiting: int
    max_wait_seconds: float
    avg_wait_ms: float | None
    servers_active: int
    pools: list[PgBouncerPool]


def _rows(cursor: Any, statement: str) -> list[dict[str, Any]]:
    cursor.execute(statement)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _pool(row: dict[str, Any], avg_wait_us: dict[str, int]) -> PgBouncerPool:
    waited = avg_wait_us.get(row["database"])
    return PgBouncerPool(
        database=row["database"],
        user=row["user"],
        pool_mode=row.get("pool_mode") or "",
        clients_active=int(row["cl_active"]),
        clients_waiting=int(row["cl_waiting"]),
        servers_active=int(row["sv_active"]),
        servers_idle=int(row["sv_idle"]),
        max_wait_seconds=int(row["maxwait"]) + int(row.get("maxwait_us") or 0) / 1_000_000,
        avg_wait_ms=None if waited is None else waited / 1000,
    )


def pgbouncer_report(admin_url: str, where: str) -> PgBouncerReport:
    """Every pool but the console's own; ``where`` names the console in messages (no password)."""
    try:
        connection = psycopg2.connect(admin_url, connect_timeout=CONNECT_TIMEOUT_SECONDS, **DEAD_CONNECTION_DETECTION)
    except psycopg2.Error as error:
        raise PgBouncerUnreachable(f"cannot reach PgBouncer's admin console at {where}: {_first_line(error)}") from None
    with closing(connection):
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                pools = _rows(cursor, "SHOW POOLS")
                stats = _rows(cursor, "SHOW STATS")
        except psycopg2.Error as error:
            raise PgBouncerUnreachable(f"PgBouncer at {where} refused SHOW POOLS: {_first_line(error)}") from None
    avg_wait_us = {row["database"]: int(row["avg_wait_time"]) for row in stats if "avg_wait_time" in row}
    shown = [_pool(row, avg_wait_us) for row in pools if row["database"] != ADMIN_DATABASE]
    waits = [pool.avg_wait_ms for pool in shown if pool.avg_wait_ms is not None]
    return PgBouncerReport(
        clients_waiting=sum(pool.clients_waiting for pool in shown),
        max_wait_seconds=max((pool.max_wait_seconds for pool in shown), default=0.0),
        avg_wait_ms=max(waits, default=None),
        servers_active=sum(pool.servers_active for pool in shown),
        pools=shown,
    )


def _first_line(error: Exception) -> str:
    return str(error).strip().partition("\n")[0]
