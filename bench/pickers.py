"""The owner picker per keystroke, with a million users.

    python bench/pickers.py --database-url postgresql://postgres@127.0.0.1:5432/webapp_bench --users 1000000

Tops the users up to ``--users`` in SQL (the demo's names, so that a typed first name matches one
user in sixteen: the picker's worst case, not a lucky one), then types words into the task form's
owner picker one letter at a time, as a person does: each prefix is one lookup request
(``/admin/task/ajax/lookup/``), ``--requests`` times, through Flask's test client in this process
(the whole request, sign-in check included, without a network hop). For each keystroke: the
request's median wall and CPU time, and the database's own time for the picker's statement
(``EXPLAIN ANALYZE`` of the exact statement the request sent, median of three) with the plan's
top node, which shows whether an index served it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ensure_operator import ensure_operator
from bench.list_cpu import PASSWORD, bench_app, signed_in_client, timed
from bench.run import print_table
from webapp.extensions import db
from webapp.seed import DEMO_EMAIL_DOMAIN, FIRST_NAMES, LAST_NAMES

OPERATOR = "bench-picker@example.org"
# A first name, a surname, an email's middle, a username with its number, and a miss.
TYPED = ("margaret", "hopper", "grace.turing", "linus0042", "zqxw")
LOOKUP = "/admin/task/ajax/lookup/?name=owner&query={}"

TOP_UP = text("""
    INSERT INTO users (email, username, full_name, is_active, created_at, updated_at, version)
    SELECT lower(f.name) || '.' || lower(l.name) || '.' || lpad(n::text, 7, '0') || '@' || :domain,
           lower(f.name) || lpad(n::text, 7, '0'),
           f.name || ' ' || l.name,
           n % 10 <> 0,
           now() - make_interval(secs => n % 31536000),
           now() - make_interval(secs => n % 31536000),
           1
    FROM generate_series((SELECT coalesce(max(id), 0) + 1 FROM users),
                         (SELECT coalesce(max(id), 0) + :target - count(*) FROM users)) n
    CROSS JOIN LATERAL (SELECT (:firsts)[1 + n % cardinality(:firsts)] AS name) f
    CROSS JOIN LATERAL (SELECT (:lasts)[1 + (n / cardinality(:firsts)) % cardinality(:lasts)] AS name) l
""")


def top_up_users(target: int) -> int:
    """Add users until there are ``target``; their count afterwards."""
    values = {"domain": DEMO_EMAIL_DOMAIN, "target": target, "firsts": FIRST_NAMES, "lasts": LAST_NAMES}
    before = db.session.scalar(text("SELECT count(*) FROM users"))
    if before < target:
        db.session.execute(TOP_UP, values)
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE users"))  # the trigram indexes' pending lists too
    return int(db.session.scalar(text("SELECT count(*) FROM users")))


@contextmanager
def picker_statements() -> Iterator[list[tuple[str, Any]]]:
    """The statements reading ``users`` that requests send while the block runs."""
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "FROM users" in statement and "LIMIT" in statement:
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)


def database_ms(statement: str, parameters: Any) -> tuple[float, str]:
    """The statement's execution time in the database (median of three) and its plan's top nodes."""
    timings, plan = [], ""
    cursor = db.session.connection().connection.cursor()
    try:
        for _ in range(3):
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
            row: Any = cursor.fetchone()
            explained = row[0][0]
            timings.append(explained["Execution Time"])
            plan = describe(explained["Plan"])
    finally:
        cursor.close()
    db.session.rollback()
    return statistics.median(timings), plan


def describe(node: dict[str, Any]) -> str:
    """The plan's nodes down to the first that reads the table, e.g. ``Limit > Sort > Bitmap Heap Scan``."""
    names = []
    while True:
        names.append(node["Node Type"] + (f" ({node['Index Name']})" if "Index Name" in node else ""))
        if "Scan" in node["Node Type"] or not node.get("Plans"):
            return " > ".join(names)
        node = node["Plans"][0]


def keystrokes(client: Any, word: str, requests: int) -> Iterator[list[str]]:
    for length in range(1, len(word) + 1):
        typed = word[:length]
        path = LOOKUP.format(quote(typed))
        with picker_statements() as sent:
            found = len(client.get(path).get_json() or [])
        cpu, wall = timed(client, path, requests)
        sql_ms, plan = database_ms(*sent[-1]) if sent else (0.0, "no statement")
        yield [
            typed,
            str(found),
            f"{statistics.median(wall):.2f}",
            f"{statistics.median(cpu):.2f}",
            f"{sql_ms:.2f}",
            plan,
        ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a migrated benchmark database (PostgreSQL)")
    parser.add_argument("--users", type=int, default=1_000_000, help="users to hold (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=20, help="requests per keystroke (default 20)")
    parser.add_argument("--words", nargs="*", default=TYPED, help="the words typed")
    arguments = parser.parse_args(argv)
    app = bench_app(arguments.database_url)
    with app.app_context():
        try:
            users = top_up_users(arguments.users)
            ensure_operator(OPERATOR, PASSWORD)
            client = signed_in_client(app, OPERATOR)
            print(f"## Owner picker, {users:,} users ({arguments.requests} requests per keystroke)\n")
            rows = (row for word in arguments.words for row in keystrokes(client, word, arguments.requests))
            print_table(["typed", "rows", "p50 ms", "CPU ms", "SQL ms", "plan"], rows)
        finally:
            app.extensions["monitoring"].publisher.stop()  # started by the first request
            db.session.remove()
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
