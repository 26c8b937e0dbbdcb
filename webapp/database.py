"""The declarative base and column types every model shares (no model imports here, so
extensions and models can both import it without a cycle)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import JSON, Connection, DateTime, MetaData, Select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.sql.util import find_tables
from sqlalchemy.types import TypeDecorator

# Stable constraint names on every database, so migrations can drop and alter them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The session advisory lock `flask db upgrade` holds on PostgreSQL (migrations/env.py), so hosts
# deploying at once migrate one after the other: any bigint will do ("webapp" as a number).
MIGRATION_LOCK_KEY = 0x776562617070


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones and hands back naive values, which
    would compare wrongly with aware ones. Values are normalized to UTC on the way in and marked UTC
    on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    # One registry carries both the naming convention and the timestamp type; Flask-SQLAlchemy
    # copies this class body, which rules out a separate ``type_annotation_map`` attribute.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime},
    )


# Where a session that reads on the replica keeps that engine, for the request (webapp/read_replica.py).
REPLICA_READS = "replica_reads"
# Read on the primary even in a request that reads on the replica: who is signed in and whether
# their session still holds must be what the primary says (a sign-out on another host ends it).
PRIMARY_ONLY_TABLES = frozenset({"operator_sessions", "operators"})


class RoutingSession(FlaskSession):
    """Flask-SQLAlchemy's session, sending a request's plain reads to the replica when the request
    was given one (``info[REPLICA_READS]``), everything else to the primary: flushes, ``INSERT``,
    ``UPDATE``, ``DELETE``, ``SELECT … FOR UPDATE``, text statements (which may write) and reads
    of :data:`PRIMARY_ONLY_TABLES`."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        replica = self.info.get(REPLICA_READS)
        if replica is not None and bind is None and not self._flushing and _plain_read(clause):
            return replica
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


def _plain_read(clause: Any) -> bool:
    if not isinstance(clause, Select) or clause._for_update_arg is not None:
        return False
    tables = find_tables(clause, include_joins=True, include_aliases=True)
    return not any(table.name in PRIMARY_ONLY_TABLES for table in tables)


def inlined(connection: Connection, statement: Any) -> bytes:
    """``statement``'s text with its values in place, quoted by the driver exactly as it would
    send them (psycopg2 binds on the client), for the statements that cannot carry parameters: a
    ``COPY``, the text ``planner_rows()`` plans. Bind processors (enum values, JSON) and expanding
    ``IN`` lists are applied as in any execution."""
    expanded = statement.compile(dialect=connection.dialect).construct_expanded_state()
    processors = expanded.processors
    parameters = {
        name: processors[name](value) if name in processors else value for name, value in expanded.parameters.items()
    }
    driver: Any = connection.connection.dbapi_connection
    with driver.cursor() as cursor:
        text: bytes = cursor.mogrify(expanded.statement, parameters)
    return text
