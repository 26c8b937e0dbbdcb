"""Bad files get a clear answer and write nothing; the bounds on an import hold; the command line.

Every refusal here is checked for its wording (it must say what to do) and for what it left in
the database: no record, no audit entry.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from tests import factories
from tests.admin_support import count_rows, text_of
from tests.conftest import AppFactory, Auth
from tests.test_imports import counts, csv_bytes, post_step, preview, task_file, upload
from webapp.config import ConfigError, load_config
from webapp.extensions import db
from webapp.imports.planning import FirstRows
from webapp.models import AuditEntry, ImportBatch, Post, Tag, Task, User

pytestmark = pytest.mark.usefixtures("app_context")

WRITTEN = (User, Task, Post, Tag, AuditEntry)


def written() -> tuple[int, ...]:
    db.session.expire_all()
    return tuple(count_rows(model) for model in WRITTEN)


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def zip_with(parts: dict[str, Callable[[Any], None] | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            if isinstance(content, bytes):
                archive.writestr(name, content)
            else:
                with archive.open(name, "w") as part:
                    content(part)
    return buffer.getvalue()


def empty_rows(count: int, numbered: bool) -> Callable[[Any], None]:
    def write(part: Any) -> None:
        part.write(
            b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        )
        step = 100_000
        for start in range(0, count, step):
            if numbered:
                part.write(b"".join(b'<row r="%d"/>' % (number + 1) for number in range(start, start + step)))
            else:
                part.write(b"<row/>" * step)
        part.write(b"</sheetData></worksheet>")

    return write


def signed_in_app(make_app: AppFactory, **env: str) -> tuple[Flask, FlaskClient, Auth]:
    """An app with these settings, and an admin signed in to it."""
    app = make_app(**env)
    client = app.test_client()
    signed_in = Auth(app, client)
    signed_in.login()
    return app, client, signed_in


def refusal_of(response: Any, client: FlaskClient) -> str:
    """The message a refused upload leaves on the import form."""
    assert response.status_code == 302 and response.headers["Location"].endswith("/import/")
    return text_of(client.get(response.headers["Location"]))


BAD_FILES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "binary garbage": (lambda: random.Random(7).randbytes(4096), "garbage.csv", "is not UTF-8 text"),
    "a Latin-1 CSV": (lambda: "ID,Title,Owner\r\n,Café,ada\r\n".encode("latin-1"), "latin.csv", "is not UTF-8 text"),
    "a UTF-16 CSV": (lambda: "ID,Title,Owner\r\n,Tea,ada\r\n".encode("utf-16"), "wide.csv", "is not UTF-8 text"),
    "an empty file": (lambda: b"", "empty.csv", "The file is empty"),
    "a header without a required column": (
        lambda: csv_bytes("ID,Title", ",Tea"),
        "short.csv",
        "lacks “Owner”. The columns are: ID, Title, Owner, Status, Priority, Tags, Due, Description, Created",
    ),
    "an unknown column": (lambda: csv_bytes("Title,Owner,Colour", "Tea,ada,red"), "odd.csv", "unknown column “Colour”"),
    "a column twice": (lambda: csv_bytes("Title,Owner,Title", "Tea,ada,Tea"), "twice.csv", "appears twice"),
    "NUL bytes": (lambda: b"Title,Owner\r\nTe\x00a,ada\r\n", "nul.csv", "contains a NUL character"),
    "a cell of 1 MB": (
        lambda: b"Title,Owner\r\n" + b"a" * 1_000_000 + b",ada\r\n",
        "huge.csv",
        "longer than 100,000 characters",
    ),
    "a CSV named .xlsx": (lambda: csv_bytes("Title,Owner", "Tea,ada"), "fake.xlsx", "is not an Excel workbook"),
    "an old .xls": (lambda: b"\xd0\xcf\x11\xe0" + b"\x00" * 512, "old.xls", "Old Excel files (.xls) are not read"),
    "a truncated workbook": (
        lambda: xlsx_bytes([["Title", "Owner"], ["Tea", "ada"]])[:300],
        "cut.xlsx",
        "not a readable Excel workbook",
    ),
    "a zip that is no workbook": (lambda: zip_with({"hello.txt": b"hello"}), "other.xlsx", "not an Excel workbook"),
    "a zip bomb": (
        lambda: zip_with({"xl/workbook.xml": b"<x/>", "xl/worksheets/sheet1.xml": b"\x00" * 30_000_000}),
        "bomb.xlsx",
        "zip bomb",
    ),
    "10 million empty rows": (
        lambda: zip_with(
            {"xl/workbook.xml": b"<x/>", "xl/worksheets/sheet1.xml": empty_rows(10_000_000, numbered=False)}
        ),
        "rows.xlsx",
        "zip bomb",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_is_refused_with_a_clear_message_and_writes_nothing(
    client: FlaskClient, auth: Auth, name: str
) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    make_content, filename, message = BAD_FILES[name]
    content = make_content()
    auth.login()
    before = written()
    page = refusal_of(upload(client, auth, "task", content, filename), client)
    assert message in page
    assert written() == before and count_rows(ImportBatch) == 0


def test_a_sheet_of_many_numbered_empty_rows_stops_at_the_row_cap(make_app: AppFactory) -> None:
    app, client, signed_in = signed_in_app(make_app, IMPORT_MAX_ROWS="1000")
    sheet = zip_with(
        {
            "[Content_Types].xml": _CONTENT_TYPES,
            "_rels/.rels": _RELS,
            "xl/workbook.xml": _WORKBOOK,
            "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
            "xl/worksheets/sheet1.xml": _sheet_then_empty_rows(200_000),
        }
    )
    with app.app_context():
        before = written()
        page = refusal_of(upload(client, signed_in, "task", sheet, "rows.xlsx"), client)
        assert "more than 1,000 rows" in page
        assert written() == before


_PACKAGE = b"http://schemas.openxmlformats.org/package/2006"
_OFFICE = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = b"application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    b'<?xml version="1.0"?><Types xmlns="' + _PACKAGE + b'/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" ContentType="' + _MAIN + b'.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="' + _MAIN + b'.worksheet+xml"/>'
    b"</Types>"
)
_RELS = (
    b'<?xml version="1.0"?><Relationships xmlns="' + _PACKAGE + b'/relationships">'
    b'<Relationship Id="rId1" Type="' + _OFFICE + b'/officeDocument" Target="xl/workbook.xml"/>'
    b"</Relationships>"
)
_WORKBOOK = (
    b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    b'xmlns:r="' + _OFFICE + b'"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    b'<?xml version="1.0"?><Relationships xmlns="' + _PACKAGE + b'/relationships">'
    b'<Relationship Id="rId1" Type="' + _OFFICE + b'/worksheet" Target="worksheets/sheet1.xml"/>'
    b"</Relationships>"
)
_SHEET_START = (
    b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)


def _sheet_then_empty_rows(count: int) -> Callable[[Any], None]:
    def write(part: Any) -> None:
        part.write(_SHEET_START + b'<row r="1"><c r="A1" t="inlineStr"><is><t>Title</t></is></c>')
        part.write(b'<c r="B1" t="inlineStr"><is><t>Owner</t></is></c></row>')
        part.write(b"".join(b'<row r="%d"/>' % number for number in range(2, count + 2)))
        part.write(b"</sheetData></worksheet>")

    return write


def test_formula_cells_are_kept_as_text(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    content = xlsx_bytes([["Title", "Owner"], ["=SUM(A1:A3)", "ada"], ['=HYPERLINK("x")', "ada"]])
    batch_id, _ = preview(client, auth, "task", content, filename="formulas.xlsx")
    post_step(client, auth, "task", batch_id, "apply")
    assert sorted(task.title for task in db.session.scalars(db.select(Task))) == ['=HYPERLINK("x")', "=SUM(A1:A3)"]


def test_an_xlsx_with_dates_numbers_and_semicolons_is_read(client: FlaskClient, auth: Auth) -> None:
    from datetime import datetime

    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    content = xlsx_bytes([["Title", "Owner", "Due"], [12, "ada", datetime(2030, 5, 6, 7, 8)]])
    batch_id, _ = preview(client, auth, "task", content, filename="sheet.xlsx")
    assert counts(batch_id)["create"] == 1
    semicolons = "\ufeffTitle;Owner;Due\r\nTea;ada;2030-05-06\r\n".encode()
    batch_id, _ = preview(client, auth, "task", semicolons)
    assert counts(batch_id)["create"] == 1


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ((",Tea,ada,,,,1999-12-31",), "Enter a date between 2000 and 2100."),
        ((",Tea,ada,,,,9999-01-01 10:00",), "Enter a date between 2000 and 2100."),
        ((",Tea,ada,,,,yesterday",), "Enter a date like 2026-03-01"),
        ((",Tea,ada,Done,,,",), "Choose one of Active, Inactive, Pending."),
        ((",Tea,ada,,,nonexistent,",), "No tag is named “nonexistent”"),
        ((",Tea,ada,,,,2030-01-01 10:00:00 CEST",), "The zone “CEST” is not UTC"),
        (("x1,Tea,ada,,,,",), "An ID is a whole number"),
        (("999999,Tea,ada,,,,",), "No task has the ID 999999."),
        ((",Tea,ada,,,,", "7,Tea,ada,,,,", "7,Tea,ada,,,,"), "Row 3 already imports this task"),
        ((",Tea,ada,,,,,,extra",), "The row has 9 cells"),
        ((",," + "t" * 201 + ",ada",), "cannot be empty"),
    ],
)
def test_a_bad_row_is_refused_with_its_row_column_and_reason(
    client: FlaskClient, auth: Auth, rows: tuple[str, ...], message: str
) -> None:
    ada = factories.make_user(email="ada@example.org", username="ada")
    factories.make_task(title="Seven", owner=ada)  # gets an id; "7" may name it or not
    auth.login()
    before = written()
    batch_id, page = preview(client, auth, "task", task_file(*rows))
    assert counts(batch_id)["refused"] >= 1
    assert message in page
    post_step(client, auth, "task", batch_id, "apply")
    assert written()[:4] == before[:4]


def test_duplicate_users_by_email_are_refused_and_update_matching_finds_the_record(
    client: FlaskClient, auth: Auth
) -> None:
    user = factories.make_user(email="ada@example.org", username="ada", full_name="Ada")
    auth.login()
    duplicated = csv_bytes("Email,Username,Full Name", "new@example.org,new1,One", "NEW@example.org,new2,Two")
    batch_id, page = preview(client, auth, "user", duplicated)
    assert counts(batch_id)["refused"] == 1 and "Row 2 has the same email" in page
    taken = csv_bytes("Email,Username,Full Name", "ada@example.org,ada,Ada Lovelace")
    batch_id, page = preview(client, auth, "user", taken)
    assert "Another user (ID" in page and "update matching" in page
    batch_id, page = preview(client, auth, "user", taken, update_matching="1")
    assert counts(batch_id) == {"create": 0, "update": 1, "unchanged": 0, "refused": 0}
    post_step(client, auth, "user", batch_id, "apply")
    db.session.expire_all()
    assert db.session.get(User, user.id).full_name == "Ada Lovelace"


def test_the_refusals_csv_is_the_file_with_what_to_fix_and_imports_again_once_fixed(
    client: FlaskClient, auth: Auth
) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    batch_id, _ = preview(client, auth, "task", task_file(",Good,ada,,,,", ",=Bad owner,nobody,,,,"))
    refused = client.get(f"/admin/task/import/{batch_id}/refusals.csv")
    assert refused.status_code == 200 and refused.mimetype == "text/csv"
    lines = refused.get_data(as_text=True).splitlines()
    assert lines == [
        "ID,Title,Owner,Status,Priority,Tags,Due,Problem",
        ",'=Bad owner,nobody,,,,,Row 3: Owner: No user has this email or username.",
    ]
    fixed = "\r\n".join(lines).replace("nobody", "ada").encode()
    batch_id, _ = preview(client, auth, "task", fixed)
    assert counts(batch_id) == {"create": 1, "update": 0, "unchanged": 0, "refused": 0}


def test_missing_tags_are_created_when_asked(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    auth.login()
    batch_id, _ = preview(
        client, auth, "task", task_file(',Tea,ada,,,"fresh, Ｆｕｌｌ",', ",More,ada,,,FRESH,"), create_missing_tags="1"
    )
    assert counts(batch_id)["create"] == 2
    post_step(client, auth, "task", batch_id, "apply")
    assert sorted(tag.name for tag in db.session.scalars(db.select(Tag))) == ["Full", "fresh"]
    more = db.session.scalars(db.select(Task).where(Task.title == "More")).one()
    assert [tag.name for tag in more.tags] == ["fresh"]


def test_an_upload_over_the_import_limit_gets_the_413_page(make_app: AppFactory) -> None:
    app, client, signed_in = signed_in_app(make_app, MAX_CONTENT_LENGTH="2048", IMPORT_MAX_MB="1")
    with app.app_context():
        factories.make_user(email="ada@example.org", username="ada")
        before = written()
        larger_than_forms = task_file(*[f",Task {number},ada,,,," for number in range(200)])
        assert len(larger_than_forms) > 2048
        assert upload(client, signed_in, "task", larger_than_forms).status_code == 302  # the import's own limit
        too_large = upload(client, signed_in, "task", b"Title,Owner\r\n" + b"x" * (1024 * 1024 + 1))
        assert too_large.status_code == 413 and "at most 1 MB" in text_of(too_large)
        assert written() == before


def test_a_file_over_the_row_cap_is_refused(make_app: AppFactory) -> None:
    app, client, signed_in = signed_in_app(make_app, IMPORT_MAX_ROWS="3")
    with app.app_context():
        page = refusal_of(upload(client, signed_in, "task", task_file(*[f",T{n},ada,,,," for n in range(4)])), client)
        assert "more than 3 rows" in page


def test_a_viewer_cannot_import(client: FlaskClient, auth: Auth) -> None:
    from webapp.models import OperatorRole

    auth.login(OperatorRole.VIEWER)
    assert client.get("/admin/task/import/").status_code == 403
    token = auth.csrf_token("/admin/")
    response = client.post(
        "/admin/task/import/upload/", data={"csrf_token": token, "file": (io.BytesIO(b"Title,Owner\r\n"), "x.csv")}
    )
    assert response.status_code == 403


def test_the_command_line_dry_run_writes_nothing_and_the_import_writes(runner: FlaskCliRunner, tmp_path: Path) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    path = tmp_path / "tasks.csv"
    path.write_bytes(task_file(",Tea,ada,,,,", ",Coffee,ada,,High,,"))
    before = written()
    result = runner.invoke(args=["import", "task", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "2 create, 0 update, 0 unchanged, 0 refused" in result.output
    assert written() == before and count_rows(ImportBatch) == 0
    result = runner.invoke(args=["import", "task", str(path)])
    assert result.exit_code == 0 and "Imported: 2 created, 0 updated" in result.output
    assert count_rows(Task) == 2


def test_the_command_line_refuses_a_file_with_a_bad_row_and_writes_nothing(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    factories.make_user(email="ada@example.org", username="ada")
    path = tmp_path / "tasks.csv"
    path.write_bytes(task_file(",Tea,ada,,,,", ",Coffee,nobody,,,,"))
    result = runner.invoke(args=["import", "task", str(path)])
    assert result.exit_code == 1
    assert "Row 3: Owner: No user has this email or username." in result.output
    assert "1 row is refused, so nothing was imported" in result.output
    assert count_rows(Task) == 0
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\xff\xfe\x00garbage")
    result = runner.invoke(args=["import", "task", str(garbage), "--dry-run"])
    assert result.exit_code == 1 and "is not UTF-8 text" in result.output


@pytest.mark.parametrize(
    ("name", "value"), [("IMPORT_MAX_MB", "lots"), ("IMPORT_MAX_MB", "0"), ("IMPORT_MAX_ROWS", "-5")]
)
def test_a_malformed_import_limit_stops_the_app_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config({"APP_ENV": "testing", "SECRET_KEY": "k", name: value})


def test_the_first_row_naming_an_id_is_remembered_in_any_block() -> None:
    first = FirstRows()
    assert first.claim(7, 2) == 2
    assert first.claim(7, 1500) == 2
    assert first.claim(7 + FirstRows.BLOCK, 1501) == 1501
    assert first.claim(2**31 - 1, 3) == 3 and first.claim(2**31 - 1, 4) == 3
    assert len(first.blocks) == 3
