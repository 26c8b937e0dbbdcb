"""Journeys: import a CSV of tasks: preview, a refused row, apply the valid rows, fix the refused
row from the downloaded CSV, import it, then undo that import; the same for users, posts and tags;
and a long import's progress bar."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, select, text

from tests.browser import admin_ui
from tests.browser.conftest import Screenshot, SignIn
from tests.browser.scenario import Scenario
from tests.conftest import require_postgres
from webapp.extensions import db
from webapp.models import Task, User

RENAMED = "Renew the TLS certificate of the API gateway before Friday"
NEW = "Write the runbook for certificate renewals"


def preview(page: Page, name: str, content: bytes) -> None:
    """On an upload page: choose the CSV file ``name`` holding ``content``, and ask for its preview."""
    page.get_by_label("File", exact=True).set_input_files({"name": name, "mimeType": "text/csv", "buffer": content})
    page.get_by_role("button", name="Preview").click()


def test_upload_preview_fix_a_refused_row_apply_and_undo(
    page: Page, app: Flask, sign_in: SignIn, scenario: Scenario, screenshot: Screenshot, tmp_path: Path
) -> None:
    with app.app_context():
        task = db.session.scalars(select(Task).where(Task.title.startswith("Renew the TLS"))).one()
        task_id = task.id
    sign_in(page)
    page.goto("/admin/task/")
    page.get_by_role("link", name="Import").click()
    content = (
        "ID,Title,Owner,Status,Priority,Tags,Due\r\n"
        f'{task_id},{RENAMED},kenji@ops.example,Active,Critical,"ops, urgent",\r\n'
        f",{NEW},kenji@ops.exmaple,Pending,Medium,docs,2030-01-15 09:00\r\n"
    ).encode()
    preview(page, "tasks.csv", content)

    expect(page.locator("#import-counts")).to_contain_text("1 to update")
    expect(page.locator("#import-counts")).to_contain_text("1 refused")
    expect(page.locator("#refusals")).to_contain_text("No user has this email or username.")
    expect(page.locator("#changes")).to_contain_text(RENAMED)
    screenshot(page, "import-preview", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the refused rows as CSV").click()
    refused = Path(download.value.path()).read_text()
    assert "Row 3: Owner: No user has this email or username." in refused

    page.get_by_label("Import the valid rows").check()
    page.get_by_role("button", name="Apply the import").click()
    expect(admin_ui.flash(page)).to_contain_text("Imported tasks.csv: 0 created, 1 updated")

    page.get_by_role("link", name="Import", exact=True).click()
    preview(page, "tasks-refused.csv", refused.replace("kenji@ops.exmaple", "kenji@ops.example").encode())
    expect(page.locator("#import-counts")).to_contain_text("1 to create")
    expect(page.locator("#import-counts")).to_contain_text("0 refused")
    page.get_by_role("button", name="Apply the import").click()
    expect(admin_ui.flash(page)).to_contain_text("1 created, 0 updated")

    page.goto("/admin/task/")
    expect(admin_ui.row(page, NEW)).to_have_count(1)
    expect(admin_ui.row(page, RENAMED)).to_have_count(1)
    page.go_back()
    page.get_by_role("button", name="Undo this import").click()
    expect(admin_ui.flash(page)).to_contain_text("1 moved away, 0 restored")
    page.goto("/admin/task/")
    expect(admin_ui.row(page, NEW)).to_have_count(0)
    expect(admin_ui.row(page, RENAMED)).to_have_count(1)


@dataclass(frozen=True)
class ImportCase:
    """A file of one model with a good row (``kept``) and one refused for ``refusal``, which
    ``typo`` → ``fix`` in the downloaded refusals mends (its row then reads ``fixed``)."""

    model: str
    column: str  # the list column that names a record
    header: str
    kept: str
    refused: str
    refusal: str
    typo: str
    fix: str
    fixed: str


OTHER_MODELS = [
    ImportCase(
        "user",
        "email",
        "Email,Username,Full Name,Active",
        "ada@new.example,ada.new,Ada Lovelace,yes",
        "grace@new,grace.new,Grace Hopper,yes",
        "Enter an email address like name@example.org.",
        "grace@new,",
        "grace@new.example,",
        "grace@new.example",
    ),
    ImportCase(
        "post",
        "title",
        "Title,Author,Status,Tags,Content",
        "Our on-call handbook,kenji@ops.example,Published,docs,How we share the pager.",
        "Certificates without surprises,kenji@ops.exmaple,Draft,ops,Renew early.",
        "No user has this email or username.",
        "kenji@ops.exmaple",
        "kenji@ops.example",
        "Certificates without surprises",
    ),
    ImportCase(
        "tag",
        "name",
        "Name,Colour",
        "runbooks,#336699",
        "oncall,#33669",
        "Enter a colour as #RRGGBB, for example #17a2b8.",
        "#33669,",
        "#336699,",
        "oncall",
    ),
]


@pytest.mark.parametrize("case", OTHER_MODELS, ids=[case.model for case in OTHER_MODELS])
def test_each_other_model_imports_fixes_a_refused_row_and_undoes(
    page: Page, sign_in: SignIn, scenario: Scenario, case: ImportCase
) -> None:
    kept = case.kept.split(",")[0]
    sign_in(page)
    page.goto(f"/admin/{case.model}/")
    page.get_by_role("link", name="Import").click()
    preview(page, f"{case.model}s.csv", f"{case.header}\r\n{case.kept}\r\n{case.refused}\r\n".encode())
    expect(page.locator("#import-counts")).to_contain_text("1 to create")
    expect(page.locator("#import-counts")).to_contain_text("1 refused")
    expect(page.locator("#refusals")).to_contain_text(case.refusal)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the refused rows as CSV").click()
    refused = Path(download.value.path()).read_text()
    assert case.typo in refused and case.refusal in refused
    page.get_by_label("Import the valid rows").check()
    page.get_by_role("button", name="Apply the import").click()
    expect(admin_ui.flash(page)).to_contain_text(f"Imported {case.model}s.csv: 1 created, 0 updated")

    page.get_by_role("link", name="Import", exact=True).click()
    preview(page, "fixed.csv", refused.replace(case.typo, case.fix).encode())
    expect(page.locator("#import-counts")).to_contain_text("1 to create")
    expect(page.locator("#import-counts")).to_contain_text("0 refused")
    page.get_by_role("button", name="Apply the import").click()
    expect(admin_ui.flash(page)).to_contain_text("Imported fixed.csv: 1 created, 0 updated")
    page.goto(f"/admin/{case.model}/")
    expect(admin_ui.row(page, case.fixed, case.column)).to_have_count(1)

    page.go_back()
    page.get_by_role("button", name="Undo this import").click()
    expect(admin_ui.flash(page)).to_contain_text("1 moved away, 0 restored")
    page.goto(f"/admin/{case.model}/")
    expect(admin_ui.row(page, case.fixed, case.column)).to_have_count(0)
    expect(admin_ui.row(page, kept, case.column)).to_have_count(1)


def test_a_long_import_shows_its_progress_and_then_its_result(page: Page, app: Flask, sign_in: SignIn) -> None:
    """The apply waits in its third chunk for another transaction holding the last row's email,
    so the bar is seen part-way (two chunks of 2,500 rows) before the import goes on and ends."""
    require_postgres()
    rows = "".join(f"bulk{n}@people.example,bulk{n}\r\n" for n in range(2500))
    sign_in(page)
    page.goto("/admin/user/import/")
    preview(page, "people.csv", f"Email,Username\r\n{rows}".encode())
    expect(page.locator("#import-counts")).to_contain_text("2,500 to create")

    with app.app_context():
        blocker = create_engine(db.engine.url)
    try:
        with blocker.connect() as holding:
            holding.execute(
                text("INSERT INTO users (email, username) VALUES ('bulk2499@people.example', 'someone else')")
            )
            page.get_by_role("button", name="Apply the import").click()
            bar = page.get_by_role("progressbar", name="Importing: Writing")
            expect(bar).to_be_visible()
            expect(page.locator("#import-progress-text")).to_have_text("2,000 of 2,500 rows (80 %)")
            expect(page.get_by_role("button", name="Apply the import")).to_be_disabled()
            # Soon: the apply gives up after DB_LOCK_TIMEOUT (5 s) and writes nothing. The page's
            # accessibility, bar included, is checked by test_accessibility's crawl.
            holding.rollback()
    finally:
        blocker.dispose()
    expect(admin_ui.flash(page)).to_contain_text("Imported people.csv: 2,500 created, 0 updated")
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(User).where(User.email.like("bulk%"))) == 2500
