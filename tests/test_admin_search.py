"""Search is bounded: however many words are typed, a list's SQL stays a few conditions long.

A search of 1,000 one-letter words used to become 1,000 × columns ``ILIKE '%a%'`` conditions
(16 s at 2,000 tasks, a killed worker at 200,000). Distinct words only, at most eight, each cut
to 64 characters, "contains" words under three characters left out; the page says what was.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, insert

from tests import factories
from tests.admin_support import get_as_deployed, text_of
from tests.conftest import Auth
from webapp.admin.inputs.pickers import PICKER_CANDIDATES
from webapp.admin.inputs.search import MAX_WORD_LENGTH, MAX_WORDS, search_words
from webapp.extensions import db
from webapp.models import OperatorRole, User

pytestmark = pytest.mark.usefixtures("app_context")

LIKE = re.compile(r"\bI?LIKE\b", re.IGNORECASE)
ONE_LETTER_WORDS = " ".join("abcdefghijklmnopqrstuvwxyz"[n % 26] for n in range(1000))
DISTINCT_WORDS = " ".join(f"word{n:03d}" for n in range(1000))
# Every page that searches: the lists, their trash and the export (searched columns: at most 3).
SEARCHING_PAGES = [
    "/admin/task/",
    "/admin/post/",
    "/admin/user/",
    "/admin/tag/",
    "/admin/operator/",
    "/admin/audit/",
    "/admin/task/trash/",
    "/admin/post/trash/",
    "/admin/user/trash/",
    "/admin/task/export/csv/",
]
MOST_SEARCHED_COLUMNS = 3


@pytest.mark.parametrize("search", [ONE_LETTER_WORDS, DISTINCT_WORDS], ids=["one-letter", "distinct"])
@pytest.mark.parametrize("path", SEARCHING_PAGES)
def test_a_thousand_word_search_costs_a_bounded_statement(
    client: FlaskClient, auth: Auth, path: str, search: str
) -> None:
    factories.make_task(title="word001 in a title")
    auth.login(OperatorRole.ADMIN)
    response, statements = get_as_deployed(client, f"{path}?search={quote(search)}")
    assert response.status_code == 200
    # At most four statements as a worker serves the page (tests/test_admin_lists.py), each
    # holding at most one condition per kept word and searched column.
    assert len(statements) <= 4, statements
    assert max(len(LIKE.findall(statement)) for statement in statements) <= MAX_WORDS * MOST_SEARCHED_COLUMNS
    assert max(len(statement) for statement in statements) < 10_000


def test_the_page_says_which_words_were_left_out(client: FlaskClient, auth: Auth) -> None:
    auth.login(OperatorRole.VIEWER)
    short = text_of(client.get("/admin/task/?search=a+of+backup"))
    assert "Left out words shorter than 3 characters: “a”, “of”" in short
    many = text_of(client.get(f"/admin/task/?search={quote(DISTINCT_WORDS)}"))
    assert f"Searched the first {MAX_WORDS} different words only; {1000 - MAX_WORDS} more were left out." in many
    long = text_of(client.get(f"/admin/user/trash/?search={'x' * 200}"))
    assert f"cut to their first {MAX_WORD_LENGTH}" in long
    plain = text_of(client.get("/admin/task/?search=backup+BACKUP+backup"))
    assert 'id="search-notice"' not in plain  # repeats change nothing worth saying
    assert 'id="search-notice"' not in text_of(client.get("/admin/audit/?search=12"))


def test_searches_still_find_what_they_name(client: FlaskClient, auth: Auth) -> None:
    factories.make_task(title="Nightly backup", description="rotate the 50% logs")
    factories.make_task(title="Weekly report", description="nightly_job output")
    factories.make_tag(name="qa")
    factories.make_tag(name="quality")
    auth.login(OperatorRole.VIEWER)

    def titles(search: str) -> set[str]:
        page = text_of(client.get(f"/admin/task/?search={quote(search)}"))
        return {title for title in ("Nightly backup", "Weekly report") if title in page}

    assert titles("nightly") == {"Nightly backup", "Weekly report"}
    assert titles("NIGHTLY backup nightly") == {"Nightly backup"}  # every word must match
    assert titles("50%") == {"Nightly backup"}  # % is a percent sign, not a wildcard
    assert titles("nightly_") == {"Weekly report"}  # _ is an underscore, not any character
    assert titles("^weekly") == {"Weekly report"}
    assert titles("a of") == {"Nightly backup", "Weekly report"}  # nothing left to narrow by
    tags = text_of(client.get("/admin/tag/?search=%3Dqa"))  # =qa: exactly, at any length
    assert ">qa<" in tags and "quality" not in tags


def test_pickers_match_short_text_at_the_start_and_longer_text_anywhere(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="jo.smith@example.org", username="jsmith", full_name="Jo Smith")
    factories.make_user(email="major@example.org", username="major", full_name="Ann Major")
    auth.login(OperatorRole.EDITOR)

    def offered(query: str) -> set[str]:
        found = client.get(f"/admin/task/ajax/lookup/?name=owner&query={quote(query)}").get_json()
        return {text for _, text in found}

    assert offered("jo") == {"Jo Smith <jo.smith@example.org>"}  # not ma-jo-r: two letters start a value
    assert offered("ajo") == {"Ann Major <major@example.org>"}
    assert offered("smith" + "x" * 2000) == set()  # cut, still one condition per field


def test_words_are_parsed_distinct_capped_and_cut() -> None:
    parsed = search_words(f"Alpha alpha ALPHA =a ^b xy {'z' * 100} " + " ".join(f"w{n}xx" for n in range(20)))
    assert parsed.words[:4] == ["Alpha", "=a", "^b", "z" * MAX_WORD_LENGTH]
    assert len(parsed.words) == MAX_WORDS and parsed.beyond_limit == 20 - (MAX_WORDS - 4)
    assert parsed.too_short == ["xy"] and parsed.shortened
    assert search_words("  ").notice() is None


def sorted_rows(plan: dict[str, Any]) -> int:
    """How many rows the plan's first sort took in (``EXPLAIN ANALYZE``'s actual rows)."""
    if plan["Node Type"] == "Sort":
        return int(plan["Plans"][0]["Actual Rows"])
    return max((sorted_rows(child) for child in plan.get("Plans", [])), default=0)


@pytest.mark.postgres
def test_a_picker_sorts_only_the_first_matches_it_finds(client: FlaskClient, auth: Auth) -> None:
    """A letter typed into the owner picker matches a good part of a million users: sorting them
    all for the first ten read the whole table per keystroke. The lookup sorts at most
    ``PICKER_CANDIDATES`` of them, and what it offers stays sorted."""
    many = PICKER_CANDIDATES + 30
    db.session.execute(
        insert(User),
        [
            {"email": f"zed{n:04d}@example.org", "username": f"zed{n:04d}", "full_name": "Zed"}
            for n in range(many, 0, -1)
        ],
    )
    db.session.commit()
    auth.login(OperatorRole.EDITOR)
    sent: list[tuple[str, Any]] = []

    def keep(connection: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM users" in statement and "LIMIT" in statement:
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        found = client.get("/admin/task/ajax/lookup/?name=owner&query=zed").get_json()
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)

    emails = [label.split("<")[1].rstrip(">") for _, label in found]
    assert len(emails) == 10 and emails == sorted(emails) and all(email.startswith("zed") for email in emails)
    statement, parameters = sent[-1]
    cursor = db.session.connection().connection.cursor()
    cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
    plan = cursor.fetchone()[0][0]["Plan"]
    cursor.close()
    assert 10 <= sorted_rows(plan) <= PICKER_CANDIDATES
    past = client.get(f"/admin/task/ajax/lookup/?name=owner&query=zed&offset={PICKER_CANDIDATES}").get_json()
    assert past == []  # every candidate offered: no page beyond them


@pytest.mark.postgres  # SQLite folds the case of ASCII letters only (its lower() and LIKE)
def test_two_letters_match_the_start_in_any_letter_case_beyond_ascii(client: FlaskClient, auth: Auth) -> None:
    factories.make_user(email="aerzte@example.org", username="aerzte", full_name="Ärzte Team")
    auth.login(OperatorRole.EDITOR)
    for typed in ("ä", "Ä", "är", "ÄR"):
        found = client.get(f"/admin/task/ajax/lookup/?name=owner&query={quote(typed)}").get_json()
        assert [label for _, label in found] == ["Ärzte Team <aerzte@example.org>"], typed
