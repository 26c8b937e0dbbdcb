"""How long a record's History takes to read when the audit trail is large.

    python bench/record_history.py postgresql://postgres@127.0.0.1:5432/webapp_bench --entries 10000000

Fills ``audit_entries`` (migrated first) up to ``--entries`` rows with one SQL statement per
million: 100,000 records of 100 entries each, interleaved as a busy trail would be. Then times
the History page's query (the newest 50 entries of one record, as ``AuditLogView.history``
asks) for 20 records, median and worst, and prints its plan.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from flask_migrate import upgrade
from sqlalchemy import func, select, text

from webapp import create_app
from webapp.extensions import db
from webapp.models import AuditEntry

RECORDS = 100_000
CHUNK = 1_000_000


def fill(entries: int) -> None:
    present = db.session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    for start in range(present, entries, CHUNK):
        db.session.execute(
            text(
                "INSERT INTO audit_entries (created_at, operator_email, action, model, object_id, summary, changes)"
                " SELECT now() - make_interval(secs => :entries - n), '', 'update', 'Task', (n % :records)::text,"
                " 'bench', '{}' FROM generate_series(:start, :stop) AS n"
            ),
            {"entries": entries, "records": RECORDS, "start": start, "stop": min(start + CHUNK, entries) - 1},
        )
        db.session.commit()
    db.session.execute(text("ANALYZE audit_entries"))
    db.session.commit()


def history(object_id: str) -> float:
    query = (
        select(AuditEntry)
        .where(AuditEntry.model == "Task", AuditEntry.object_id == object_id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(50)
    )
    started = time.perf_counter()
    db.session.scalars(query).all()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--entries", type=int, default=10_000_000)
    arguments = parser.parse_args()
    app = create_app(env={"APP_ENV": "testing", "SECRET_KEY": "bench", "DATABASE_URL": arguments.database_url})
    with app.app_context():
        upgrade()
        fill(arguments.entries)
        timings = [history(str(record * 4999 % RECORDS)) for record in range(20)]
        plan = db.session.scalars(
            text(
                "EXPLAIN ANALYZE SELECT * FROM audit_entries WHERE model = 'Task' AND object_id = '4242'"
                " ORDER BY created_at DESC, id DESC LIMIT 50"
            )
        ).all()
        total = db.session.scalar(select(func.count()).select_from(AuditEntry))
        print(f"{total:,} entries; load {os.getloadavg()}")
        print(f"history of one record: median {statistics.median(timings):.1f} ms, worst {max(timings):.1f} ms")
        print("\n".join(plan))
    app.extensions["monitoring"].publisher.stop()


if __name__ == "__main__":
    main()
