"""Rows written by ``copy_rows`` read back as they were given, on PostgreSQL (COPY's text format,
with its escapes) and on SQLite (a multi-row INSERT)."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg2.errors
import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from webapp.bulk_copy import CopyBehind, copy_rows
from webapp.extensions import db

pytestmark = pytest.mark.usefixtures("app_context")


class Colour(enum.Enum):
    RED = "red\tish"


class Level(enum.IntEnum):
    HIGH = 3


COLUMNS = ("number", "ratio", "flag", "text", "document", "moment", "day", "data", "label", "level")
AWKWARD = "back\\slash\ttab\nnewline\rreturn é 漢字 🙂 \\N"
ROWS: list[tuple[Any, ...]] = [
    (
        1,
        2.5,
        True,
        AWKWARD,
        {"a": [1, None, AWKWARD], "b": {"c": False}},
        datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        date(1999, 12, 31),
        b"\x00\\\xff",
        Colour.RED,
        Level.HIGH,
    ),
    (None, None, False, "", [], None, None, None, None, None),
    (-7, -0.125, None, "plain", (1, "two"), None, None, b"", None, 0),
]


@pytest.fixture
def table() -> Iterator[Table]:
    """A temporary table with a column of each kind the app copies; dropped after the test
    (SQLite does not roll back its creation)."""
    document = JSON().with_variant(JSONB(), "postgresql")
    table = Table(
        "bulk_copy_scratch",
        MetaData(),
        Column("number", Integer),
        Column("ratio", Float),
        Column("flag", Boolean),
        Column("text", String),
        Column("document", document),
        Column("moment", DateTime(timezone=True)),
        Column("day", Date),
        Column("data", LargeBinary),
        Column("label", Enum(Colour, native_enum=False, values_callable=lambda kind: [m.value for m in kind])),
        Column("level", Integer),
        prefixes=["TEMPORARY"],
    )
    table.create(db.session.connection())
    yield table
    db.session.rollback()
    table.drop(db.session.connection(), checkfirst=True)
    db.session.commit()


def as_utc(moment: datetime) -> datetime:
    """SQLite keeps no time zone: what it holds is UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_rows_read_back_as_written(table: Table) -> None:
    copy_rows(table, COLUMNS, ROWS)
    read = [tuple(row) for row in db.session.execute(select(table))]
    first = read[0]
    assert first[:4] == (1, 2.5, True, AWKWARD)
    assert first[4] == {"a": [1, None, AWKWARD], "b": {"c": False}}
    assert as_utc(first[5]) == ROWS[0][5]
    assert first[6] == date(1999, 12, 31) and bytes(first[7]) == b"\x00\\\xff"
    assert first[8:] == (Colour.RED, 3)
    assert read[1][:5] == (None, None, False, "", []) and read[1][5:8] == (None, None, None)
    assert read[2][:5] == (-7, -0.125, None, "plain", [1, "two"]) and bytes(read[2][7]) == b""


def test_no_rows_write_nothing(table: Table) -> None:
    copy_rows(table, COLUMNS, [])
    assert db.session.execute(select(table)).all() == []


def test_rows_copied_behind_are_in_the_table_once_waited_for(table: Table) -> None:
    with CopyBehind(table, COLUMNS) as behind:
        for row in ROWS:
            behind.send([row])
        behind.send([])
    numbers = db.session.scalars(select(table.c.number)).all()
    assert sorted(numbers, key=lambda number: number or 0) == [-7, None, 1]


@pytest.mark.postgres
def test_a_batch_refused_behind_is_raised_at_the_next_wait(table: Table) -> None:
    behind = CopyBehind(table, ["number"])
    behind.send([("not a number",)])
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        behind.wait()
    behind.wait()  # raised once


@pytest.mark.postgres
def test_an_error_of_the_work_is_raised_once_the_copy_behind_ended(table: Table) -> None:
    with pytest.raises(LookupError), CopyBehind(table, ["number"]) as behind:
        behind.send([("not a number",)])
        raise LookupError("the work's own")
    assert behind.thread is None and behind.error is None
