"""What the audit chain costs a bulk action: soft delete, restore, add tag and remove tag on
``--rows`` tasks, and an import's ``record_rows`` of as many entries, each one transaction as the
app runs it (the same functions, in this process, no HTTP).

    python bench/audit_chain_cost.py postgresql://postgres@127.0.0.1:5432/webapp_bench --rows 10000

Rebuilds the database's schema with the migrations of the code it imports, so the same script
measures a checkout without the chain (``PYTHONPATH=<that checkout>``) and one with it; run the
two back to back on a busy machine, more than once, and compare medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from flask_migrate import upgrade
from sqlalchemy import select, text

import webapp
from webapp import audit, create_app, tagging, trash
from webapp.extensions import db
from webapp.models import AuditAction, Tag, Task
from webapp.seed import seed_demo


def timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    db.session.commit()
    return (time.perf_counter() - started) * 1000


def rounds(ids: list[int], tag: Tag) -> dict[str, float]:
    rows = [audit.RowChange(AuditAction.UPDATE, task_id, "imported", {"title": ["a", "b"]}) for task_id in ids]
    return {
        "soft delete": timed(lambda: trash.soft_delete(Task, ids, None)),
        "restore": timed(lambda: trash.restore(Task, ids)),
        "add tag": timed(lambda: tagging.add_tag(Task, ids, tag)),
        "remove tag": timed(lambda: tagging.remove_tag(Task, ids, tag)),
        "record_rows (import)": timed(lambda: audit.record_rows(Task, rows, "bench")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    app = create_app(env={"APP_ENV": "testing", "SECRET_KEY": "bench", "DATABASE_URL": arguments.database_url})
    with app.app_context():
        db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.session.commit()
        upgrade()
        seed_demo(db.session, arguments.rows)
        ids = list(db.session.scalars(select(Task.id).where(Task.deleted_at.is_(None)).limit(arguments.rows)))
        tag = db.session.scalars(select(Tag).limit(1)).one()
        samples: dict[str, list[float]] = {}
        for _ in range(arguments.rounds):
            for name, ms in rounds(ids, tag).items():
                samples.setdefault(name, []).append(ms)
        print(f"code: {os.path.dirname(webapp.__file__)}; {len(ids):,} rows; load {os.getloadavg()}")
        for name, values in samples.items():
            print(f"{name:24} median {statistics.median(values):8.1f} ms  (min {min(values):.1f})")
    app.extensions["monitoring"].publisher.stop()


if __name__ == "__main__":
    main()
