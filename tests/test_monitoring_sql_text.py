"""Statement texts shown by the dashboard keep no literal: PostgreSQL's parser and lexer decide,
proved on fixed cases and on a seeded fuzz of literals, comments and quoting."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from webapp.monitoring.sql_text import UNPARSEABLE, NormalizedTexts, normalize, safe_text


@pytest.mark.parametrize(
    ("statement", "paramstyle", "normalized"),
    [
        (
            "SELECT * FROM users WHERE id IN (%(id_1_1)s, %(id_1_2)s, %(id_1_3)s)",
            "pyformat",
            "SELECT * FROM users WHERE id IN ($1, $2, $3)",
        ),
        ("SELECT * FROM users WHERE id IN (?)", "qmark", "SELECT * FROM users WHERE id IN ($1)"),
        ("SELECT 'ada@example.org', 42, 3.5e2 FROM t1 -- who\n", None, "SELECT $1, $2, $3 FROM t1"),
        ("SELECT a::int FROM t WHERE b = :b AND c = :c", "named", "SELECT a::int FROM t WHERE b = $1 AND c = $2"),
        (
            "SELECT a % 2 FROM t WHERE b LIKE '%%x' AND c = %(c)s",
            "pyformat",
            "SELECT a % $2 FROM t WHERE b LIKE $3 AND c = $1",
        ),
        ("SELECT E'it\\'s', 'o''neil', $$body$$", None, "SELECT $1, $2, $3"),
        (
            "EXPLAIN (FORMAT JSON) SELECT count(*) FROM tasks WHERE title ILIKE '%ada%'",
            None,
            "EXPLAIN (FORMAT JSON) SELECT count(*) FROM tasks WHERE title ILIKE $1",
        ),
        ("COPY tasks FROM '/home/ada/tasks.csv'", None, "COPY tasks FROM $1"),
        ("SELECT 1 /* a /* nested */ 'ada' */ FROM t", None, "SELECT $1 FROM t"),
        # What the hand-written normalizer let through: the quote inside an identifier opened a "string".
        (
            "SELECT \"it's\" FROM t WHERE name = 'ada' AND \"x'y\" = 1",
            None,
            'SELECT "it\'s" FROM t WHERE name = $1 AND "x\'y" = $2',
        ),
        ("SELECT .5, 0x1F, 1_000, B'101', X'1F', U&'d\\0061t'", None, "SELECT $1, $2, $3, $4, $5, $6"),
    ],
)
def test_literals_placeholders_and_comments_become_numbered_placeholders(
    statement: str, paramstyle: str | None, normalized: str
) -> None:
    assert normalize(statement, paramstyle).text == normalized


def test_statements_differing_only_in_values_share_a_fingerprint() -> None:
    first = normalize("SELECT * FROM tasks WHERE owner_id = 7 AND title = 'Report' AND id IN (1, 2)")
    second = normalize("SELECT * FROM tasks   WHERE owner_id = %(o)s AND title = %(t)s AND id IN (%(i)s)", "pyformat")
    assert first.fingerprint == second.fingerprint
    assert first.fingerprint != normalize("SELECT * FROM tasks WHERE owner_id = 7").fingerprint


@pytest.mark.parametrize(
    ("statement", "shown"),
    [
        # pg_stat_activity cuts texts at track_activity_query_size, here inside a string...
        ("SELECT * FROM tasks WHERE title = 'ada lovel", "SELECT * FROM tasks WHERE title = …"),
        # ... or after a literal, inside a comment, an E'' escape or a dollar-quoted body.
        ("SELECT 'ada', 5 FROM tasks /* owner: ada", "SELECT $1, $2 FROM tasks …"),
        ("SELECT E'\\u00zz ada'", "SELECT …"),
        ("SELECT $body$ ada", "SELECT …"),
        ("'ada", UNPARSEABLE),
    ],
)
def test_a_text_that_cannot_be_lexed_is_cut_before_its_first_unterminated_literal(statement: str, shown: str) -> None:
    assert safe_text(statement) == shown


def test_a_statement_postgresql_cannot_parse_keeps_its_tokens_without_literals() -> None:
    # SQLite's syntax (development): lexed by PostgreSQL's lexer, not parsed.
    sqlite = normalize("INSERT OR REPLACE INTO tags (name) VALUES (?), ('ada') -- seed", "qmark")
    assert sqlite.text == "INSERT OR REPLACE INTO tags (name) VALUES ($1), ($2)"
    assert sqlite.fingerprint == normalize("INSERT OR REPLACE INTO tags (name) VALUES (?), ($2)", "qmark").fingerprint


# The fuzz: statements built from random literals in every lexical form PostgreSQL has, random
# comments between tokens and inside each other, and identifiers full of quote and comment
# characters. Every literal and comment carries a marker: letters after "ZQ" (never in the SQL
# around them) or a number of at least three digits starting with 7 (the statements hold no other
# digit runs, and fewer than a hundred placeholders). No marker, nor a piece of one, may survive.

FUZZ_SEED = 13
FUZZ_CASES = 400
IDENTIFIERS = ['"it\'s"', '"say ""hi"""', '"a--b"', '"/*x"', '"$q$"', '"e\'\\"', "tasks", "title", "owner_id"]
LEAK = re.compile(r"ZQ|\d{3,}")


class Fuzz:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def word(self) -> str:
        return "ZQ" + "".join(self.random.choices("ABCDEFGHIJKLMNOP", k=6))

    def number(self) -> str:
        return "7" + "".join(self.random.choices("0123456789", k=self.random.randint(2, 7)))

    def string_body(self, noises: tuple[str, ...] = ("/*", "*/")) -> str:
        """A marker among characters that end or open something elsewhere."""
        noise = self.random.choice(["''", "--", '"', "$$", "$a$", "\\", ";", " ", *noises])
        return self.random.choice([f"{self.word()}{noise}", f"{noise}{self.word()}", self.word()])

    def comment_body(self) -> str:
        """As in a real comment: /* and */ only in pairs."""
        return self.string_body(noises=())

    def literal(self) -> str:
        forms: list[Callable[[], str]] = [
            lambda: "'" + self.string_body().replace("'", "''") + "'",
            lambda: "E'" + self.string_body().replace("\\", "\\\\").replace("'", "\\'") + "\\n'",
            lambda: "e'\\x41" + self.word() + "\\''",
            lambda: f"$tag$ {self.string_body()} ' $tag$",
            lambda: f"$$ {self.word()} $a$ $$",
            lambda: "U&'" + self.word() + "\\0041'",
            lambda: "N'" + self.word() + "'",
            lambda: "B'" + "".join(self.random.choices("01", k=12)) + "'",
            lambda: "X'" + self.number() + "'",
            lambda: self.number(),
            lambda: "-" + self.number(),
            lambda: self.number() + "." + self.number(),
            lambda: "." + self.number(),
            lambda: self.number() + "e5",
            lambda: "0x" + self.number() + "F",
            lambda: self.number() + "_000",
            lambda: "interval '" + self.word() + "'",
        ]
        return self.random.choice(forms)()

    def comment(self) -> str:
        forms: list[Callable[[], str]] = [
            lambda: f"/* {self.comment_body()} */",
            lambda: f"/* {self.word()} /* {self.comment_body()} */ {self.number()} */",
            lambda: f"-- {self.string_body()} '{self.word()}\n",
        ]
        return self.random.choice(forms)()

    def gap(self) -> str:
        return " " if self.random.random() < 0.6 else f" {self.comment()} "

    def expression(self) -> str:
        column = self.random.choice(IDENTIFIERS)
        forms = [
            lambda: self.literal(),
            lambda: f"{column} = {self.literal()}",
            lambda: f"{column} IN ({self.literal()},{self.gap()}{self.literal()})",
            lambda: f"lower({self.literal()}) ||{self.gap()}{column}",
            lambda: f"ARRAY[{self.literal()}, {self.literal()}]",
            lambda: f"{self.literal()}::text",
        ]
        return self.random.choice(forms)()

    def statement(self) -> str:
        table, column = self.random.choice(IDENTIFIERS), self.random.choice(IDENTIFIERS)
        where = f"{self.expression()}{self.gap()}AND{self.gap()}{self.expression()}"
        forms = [
            lambda: f"SELECT{self.gap()}{self.expression()},{self.gap()}{column} FROM {table} WHERE {where}",
            lambda: f"EXPLAIN (FORMAT JSON) SELECT count(*) FROM {table} WHERE {where}",
            lambda: f"UPDATE {table} SET {column} = {self.literal()}{self.gap()}WHERE {where}",
            lambda: f"INSERT INTO {table} ({column}) VALUES ({self.literal()}),{self.gap()}({self.literal()})",
            lambda: f"DO {self.literal().join(['$f$ BEGIN PERFORM ', '; END $f$'])}",
            lambda: f"SET application_name ={self.gap()}{self.literal()}",
            lambda: f"COPY {table} FROM '{self.word()}'",
        ]
        return f"{self.gap().lstrip()}{self.random.choice(forms)()}{self.gap()}"


def fuzz_statements() -> list[str]:
    fuzz = Fuzz(FUZZ_SEED)
    return [fuzz.statement() for _ in range(FUZZ_CASES)]


def test_fuzz_statements_are_built_as_intended() -> None:
    statements = fuzz_statements()
    assert len(set(statements)) == FUZZ_CASES
    assert all(LEAK.search(statement) for statement in statements), "every statement carries markers"
    for form in ("$tag$", "E'", "U&'", "B'", "X'", "0x", "/* ZQ", "-- ", '"it\'s"', "EXPLAIN"):
        assert any(form in statement for statement in statements), form


def test_no_literal_or_comment_survives_normalizing_fuzzed_statements() -> None:
    for statement in fuzz_statements():
        shown = normalize(statement).text
        assert not LEAK.search(shown), f"{statement!r} was shown as {shown!r}"
        assert shown != UNPARSEABLE and not shown.endswith("…"), f"{statement!r} was shown as {shown!r}"
        assert normalize(shown).text == shown, "showing a shown text again changes nothing"


def test_no_piece_of_a_literal_survives_a_statement_cut_anywhere() -> None:
    """As pg_stat_activity cuts texts longer than track_activity_query_size."""
    cutter = random.Random(FUZZ_SEED)
    for statement in fuzz_statements():
        cut = statement[: cutter.randint(1, len(statement))]
        shown = safe_text(cut)
        assert not LEAK.search(shown), f"{cut!r} was shown as {shown!r}"


def test_texts_kept_normalized_are_bounded_by_characters_least_recently_used_going_first() -> None:
    kept = NormalizedTexts(max_chars=100)
    for key in ("a", "b", "c"):
        kept.put(key, normalize(f"SELECT '{key}'"), 40)
    assert kept.get("a") is None, "120 characters: the oldest went"
    assert kept.get("b") is not None  # now the most recently used
    kept.put("d", normalize("SELECT 'd'"), 40)
    assert kept.get("c") is None, "c was used least recently"
    kept.put("huge", normalize("SELECT 'huge'"), 101)
    assert kept.get("huge") is None, "an entry larger than the whole cache is not kept"
    assert kept.get("b") is not None and kept.get("d") is not None, "nor does it push others out"


def test_a_text_shown_again_is_the_same_safe_text() -> None:
    statement = "SELECT * FROM users WHERE email = 'ada@example.org' -- cached"
    assert safe_text(statement) == safe_text(statement) == "SELECT * FROM users WHERE email = $1"
