"""Tag names are normalised before they are stored or compared: names that differ only by letter
case, invisible characters, look-alike (compatibility) forms or whitespace are one tag, on
PostgreSQL and on SQLite alike."""

from __future__ import annotations

import random
import unicodedata

import pytest
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from tests import factories
from tests.admin_support import count_rows, post_form, text_of
from tests.conftest import Auth
from webapp.extensions import db
from webapp.models import AuditEntry, Tag
from webapp.models.tags import normalize_tag_name, tag_name_key
from webapp.seed import TAG_NAMES, seed_demo

pytestmark = pytest.mark.usefixtures("app_context")

SAME_AS_APFEL = {
    "other letter case": "äpfel",
    "combining diaeresis": "A\u0308pfel",
    "zero-width space": "Äp\u200bfel",
    "byte order mark and word joiner": "\ufeffÄpfel\u2060",
    "soft hyphen": "Äpf\u00adel",
    "zero-width joiners": "Ä\u200cpf\u200del",
    "combining grapheme joiner": "Äp\u034ffel",
    "variation selector": "Äpfel\ufe0f",
    "Hangul filler": "Äpf\u3164el",
}
SAME_AS_BUG_FIX = {
    "full-width letters and ideographic space": "ＢＵＧ\u3000ｆｉｘ",
    "no-break space, tab, trailing space": "bug\u00a0\t fix ",
    "a line separator": "bug\u2028fix",
}


@pytest.mark.parametrize(
    "name", [*SAME_AS_APFEL.values(), *SAME_AS_BUG_FIX.values()], ids=[*SAME_AS_APFEL, *SAME_AS_BUG_FIX]
)
def test_a_name_that_only_looks_different_is_refused_as_taken(client: FlaskClient, auth: Auth, name: str) -> None:
    factories.make_tag(name="Äpfel")
    factories.make_tag(name="bug fix")
    auth.login()
    response = post_form(client, auth, "/admin/tag/new/", {"name": name, "color": "#17a2b8"})
    html = text_of(response)
    assert response.status_code == 200
    assert "is already taken by another tag." in html and "invalid-feedback" in html
    assert count_rows(Tag) == 2


def test_renaming_a_tag_into_a_look_alike_of_another_is_refused(client: FlaskClient, auth: Auth) -> None:
    factories.make_tag(name="Äpfel")
    other = factories.make_tag(name="pears")
    auth.login()
    response = post_form(client, auth, f"/admin/tag/edit/?id={other.id}", {"name": "äp\u200bfel", "color": "#17a2b8"})
    assert response.status_code == 200 and "“Äpfel” is already taken by another tag." in text_of(response)
    db.session.rollback()
    assert other.name == "pears"


def test_a_tag_may_keep_its_own_name_in_another_form(client: FlaskClient, auth: Auth) -> None:
    tag = factories.make_tag(name="Äpfel")
    auth.login()
    response = post_form(client, auth, f"/admin/tag/edit/?id={tag.id}", {"name": "ÄPFEL", "color": "#17a2b8"})
    assert response.status_code == 302, text_of(response)
    db.session.rollback()
    assert tag.name == "ÄPFEL"


def test_the_stored_name_is_the_normalised_one(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    typed = " \u200bｎｅｗ\u00a0\u00a0tag\ufeff\t"
    assert post_form(client, auth, "/admin/tag/new/", {"name": typed, "color": "#17a2b8"}).status_code == 302
    assert db.session.scalars(select(Tag.name)).all() == ["new tag"]


def test_a_name_of_invisible_characters_only_is_required(client: FlaskClient, auth: Auth) -> None:
    auth.login()
    response = post_form(client, auth, "/admin/tag/new/", {"name": "\u200b \u2060", "color": "#17a2b8"})
    assert response.status_code == 200 and "This field is required." in text_of(response)
    assert count_rows(Tag) == 0


@pytest.mark.parametrize("name", ["äpfel", "Äp\u200bfel", "ÄPFEL"])
def test_the_database_refuses_a_look_alike_written_past_the_form(name: str) -> None:
    """The unique index is on the normalised key, so it holds on SQLite too, whose ``lower()``
    leaves Ä as it is."""
    factories.make_tag(name="Äpfel")
    with pytest.raises(IntegrityError):
        factories.make_tag(name=name)
    db.session.rollback()


def test_the_tag_picker_matches_the_normalised_name(client: FlaskClient, auth: Auth) -> None:
    factories.make_tag(name="Äpfel")
    factories.make_tag(name="pears")
    auth.login()
    for typed in ("äp", "ÄP", "A\u0308p", "p\u200bfel", "ＡＰＦ"[1:]):
        found = client.get("/admin/task/ajax/lookup/", query_string={"name": "tags", "query": typed}).get_json()
        assert [name for _, name in found] == ["Äpfel"], typed


def test_the_tag_list_search_matches_the_normalised_name(client: FlaskClient, auth: Auth) -> None:
    factories.make_tag(name="Äpfel")
    factories.make_tag(name="pears")
    auth.login()
    html = text_of(client.get("/admin/tag/", query_string={"search": "äp\u200bf"}))
    assert ">Äpfel<" in html and ">pears<" not in html


def test_seeding_reuses_a_tag_that_differs_only_in_form() -> None:
    factories.make_tag(name="ＢＡＣＫＥＮＤ")
    seed_demo(db.session, tasks=0)
    keys = db.session.scalars(select(Tag.name_key)).all()
    assert keys.count("backend") == 1 and len(keys) == len(TAG_NAMES)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("  plain  ", "plain"),
        ("two\u2003\u2003words", "two words"),
        ("ﬁle", "file"),  # a ligature is its letters
        ("e\u0301te\u0301", "été"),  # combining accents are composed
        ("x\u200ey\u202e", "xy"),  # direction marks are format characters
        ("nul\x00bell\x07", "nulbell"),  # control characters other than whitespace
    ],
)
def test_normalisation(typed: str, stored: str) -> None:
    assert normalize_tag_name(typed) == stored


def test_normalisation_is_stable_and_keys_ignore_case() -> None:
    rng = random.Random(13)
    alphabet = "aAäÄßẞ \t\u00a0\u200b\u200d\u2060\ufeff\u0301\u0308ｆﬁ\u3000\u034f\ufe0f\u3164"
    for _ in range(2000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        normalized = normalize_tag_name(name)
        assert normalize_tag_name(normalized) == normalized
        assert tag_name_key(normalized.upper()) == tag_name_key(normalized.lower()) == tag_name_key(name.swapcase())
        assert not any(
            unicodedata.category(char) in ("Cf", "Cc") or char in "\u034f\ufe0f\u3164" for char in normalized
        )
        assert normalized == normalized.strip() and "  " not in normalized


def test_the_migration_normalises_existing_names_and_renames_look_alikes() -> None:
    """Names written before normalisation: look-alikes of an earlier tag get a number, not merged."""
    downgrade(revision="0005_list_order_indexes")
    try:
        names = [
            "bug",
            "bu\u200bg",
            "ＢＵＧ",
            "  spaced \u00a0 out ",
            "Straße",
            "STRASSE",
            "x" * 49 + "\u200b",
            "x" * 48 + "\u200bx",
        ]
        with db.engine.begin() as connection:
            for name in names:
                connection.execute(text("INSERT INTO tags (name, color) VALUES (:name, '#000000')"), {"name": name})
    finally:
        upgrade()
    tags = db.session.scalars(select(Tag).order_by(Tag.id)).all()
    assert [tag.name for tag in tags] == [
        "bug",
        "bug (2)",
        "BUG (3)",
        "spaced out",
        "Straße",
        "STRASSE (2)",
        "x" * 49,
        "x" * 46 + " (2)",
    ]
    assert [tag.name_key for tag in tags] == [tag_name_key(tag.name) for tag in tags]
    renamed = db.session.scalars(select(AuditEntry.object_id).where(AuditEntry.model == "Tag")).all()
    assert sorted(renamed, key=int) == [str(tags[index].id) for index in (1, 2, 3, 5, 6, 7)]
    with pytest.raises(IntegrityError):  # the colour check survived the table's rebuild on SQLite
        factories.make_tag(name="new", color="#12345")
    db.session.rollback()
