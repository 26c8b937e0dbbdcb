"""Hundreds of seeded hostile files, against every model's import: no answer is a server error,
and an import refused (as a whole file, or for one of its rows, all or nothing) writes nothing."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from datetime import UTC, datetime

import openpyxl
import pytest
from flask.testing import FlaskClient

from tests import factories
from tests.admin_support import count_rows
from tests.conftest import Auth
from tests.test_imports import BATCH_LINK, upload
from webapp.extensions import db
from webapp.models import AuditEntry, ImportBatch, Post, Tag, Task, User

pytestmark = pytest.mark.usefixtures("app_context")

FILES = 320
HOSTILE_CELLS = [
    "",
    " ",
    "=cmd|' /C calc'!A0",
    "'=quoted",
    "-1",
    "0",
    "2147483648",
    "99999999999999999999",
    "1e308",
    "NaN",
    "\x01\x02\x1f",
    "\u202e\u200b\ufeff",
    "ｆｕｌｌ　ｗｉｄｔｈ",
    "a" * 201,
    "x" * 5000,
    "2026-02-30",
    "0000-01-01",
    "1969-12-31 23:59:59",
    "2030-03-31 02:30",
    "2026-01-01 10:00:00 XYZ",
    "yes",
    "maybe",
    "Critical",
    "done",
    "nobody@example.org",
    "Ada <ada@example.org>",
    "<>",
    "@",
    ",,,,",
    "ops, ops, OPS",
    "t" * 60 + ", ops",
    '"unbalanced',
    "line\nbreak",
    "#zzzzzz",
    "#17A2B8",
    "ada",
    "1",
]


def seed() -> None:
    ada = factories.make_user(email="ada@example.org", username="ada", full_name="Ada")
    factories.make_user(email="bob@example.org", username="bob")
    ops = factories.make_tag(name="ops")
    factories.make_task(title="One", owner=ada, tags=[ops], due_at=datetime(2030, 1, 1, tzinfo=UTC))
    factories.make_post(title="Post", author=ada, tags=[ops])


def exports(client: FlaskClient) -> dict[str, list[list[str]]]:
    tables = {}
    for model in ("user", "task", "post", "tag"):
        text = client.get(f"/admin/{model}/export/csv/").get_data(as_text=True)
        tables[model] = list(csv.reader(io.StringIO(text)))
    return tables


def as_csv(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue()


def as_xlsx(rows: list[list[str]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append([cell.replace("\x01", "").replace("\x02", "").replace("\x1f", "") for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def mutated_rows(rng: random.Random, table: list[list[str]]) -> list[list[str]]:
    rows = [list(row) for row in table]
    header, body = rows[0], rows[1:] or [[""] * len(rows[0])]
    for _ in range(rng.randint(1, 4)):
        body.append(list(rng.choice(body)))  # duplicates of one record, new rows
    for row in body:
        for position in range(len(row)):
            if rng.random() < 0.35:
                row[position] = rng.choice(HOSTILE_CELLS)
        if rng.random() < 0.1:
            row.append(rng.choice(HOSTILE_CELLS))
        if rng.random() < 0.1:
            del row[rng.randrange(len(row)) :]
    if rng.random() < 0.15:
        header = list(header)
        rng.choice([lambda: header.pop(rng.randrange(len(header))), lambda: header.append(rng.choice(header))])()
    if rng.random() < 0.05:
        header[rng.randrange(len(header))] = rng.choice(HOSTILE_CELLS)
    return [header, *body]


def byte_mutation(rng: random.Random, data: bytes) -> bytes:
    damaged = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0 and damaged:
        for _ in range(rng.randint(1, 20)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
    elif kind == 1:
        damaged = damaged[: rng.randrange(len(damaged) + 1)]
    elif kind == 2:
        damaged.insert(rng.randrange(len(damaged) + 1), 0)
    else:
        damaged = bytearray(rng.randbytes(rng.randint(0, 3000)))
    return bytes(damaged)


def hostile_file(rng: random.Random, table: list[list[str]]) -> tuple[bytes, str]:
    rows = mutated_rows(rng, table)
    makers: list[Callable[[], tuple[bytes, str]]] = [
        lambda: (as_csv(rows).encode(), "fuzz.csv"),
        lambda: (("\ufeff" + as_csv(rows, ";")).encode(), "fuzz.csv"),
        lambda: (as_csv(rows).encode(rng.choice(["utf-16", "cp1252", "utf-32"]), errors="replace"), "fuzz.csv"),
        lambda: (byte_mutation(rng, as_csv(rows).encode()), "fuzz.csv"),
        lambda: (as_xlsx(rows), "fuzz.xlsx"),
        lambda: (byte_mutation(rng, as_xlsx(rows)), "fuzz.xlsx"),
    ]
    return rng.choice(makers)()


def written() -> tuple[int, ...]:
    db.session.expire_all()
    return tuple(count_rows(model) for model in (User, Task, Post, Tag, AuditEntry))


def test_hostile_files_never_get_a_server_error_and_a_refused_import_writes_nothing(
    client: FlaskClient, auth: Auth
) -> None:
    seed()
    auth.login()
    tables = exports(client)
    rng = random.Random(20261202)
    refused_imports = 0
    for number in range(FILES):
        model = rng.choice(list(tables))
        content, filename = hostile_file(rng, tables[model])
        before = written()
        response = upload(client, auth, model, content, filename, **rng.choice([{}, {"update_matching": "1"}]))
        assert response.status_code == 302, (number, response.status_code)
        match = BATCH_LINK.search(response.headers["Location"])
        if match is None:
            refused_imports += 1
            assert written() == before, number
            continue
        batch = db.session.get(ImportBatch, match.group(1))
        assert batch is not None
        refused_rows = batch.counts.get("refused", 0)
        page = f"/admin/{model}/import/{batch.id}/"
        assert client.get(page).status_code == 200
        assert client.get(f"{page}refusals.csv").status_code == 200
        token = auth.csrf_token(page)
        applied = client.post(f"{page}apply/", data={"csrf_token": token, "mode": "all"})
        assert applied.status_code == 302, (number, applied.status_code)
        if refused_rows:
            refused_imports += 1
            assert written() == before, number
    assert refused_imports > FILES // 2  # the fuzz mostly produces refusals, as it should
