"""Time of undoing bulk batches of ``--rows`` tasks: a bulk tag, its undo, the undo of that undo;
a move to the trash and its undo.

    python bench/undo_batches.py postgresql://postgres@127.0.0.1:5432/webapp_bench --rows 10000

Migrates the database and adds ``--rows`` tasks (with one owner) and a tag each run. Each step runs
as the app does it (the same functions, one transaction each), in this process, without HTTP.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import insert

from webapp import create_app, tagging, trash
from webapp.audit import current_batch, in_batch, new_batch_id
from webapp.extensions import db
from webapp.models import Tag, Task, User
from webapp.undo import undo, undo_entry


def timed(label: str, step: Callable[[], Any]) -> Any:
    """Run a step and commit it; print its wall time and this process's CPU time."""
    started, cpu = time.perf_counter(), time.process_time()
    result = step()
    db.session.commit()
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    print(f"{label:<32} {wall:7.2f} s wall {used:7.2f} s CPU", flush=True)
    return result


def in_new_batch(step: Callable[[], Any]) -> str:
    """Run ``step`` in a batch whose id is returned (what the bulk action's entries carry)."""
    with in_batch(new_batch_id()):
        step()
        return str(current_batch())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    app = create_app(env={"APP_ENV": "production", "SECRET_KEY": "bench-only", "DATABASE_URL": args.database_url})
    with app.app_context():
        upgrade()
        stamp = new_batch_id()[:8]
        owner = User(email=f"undo-{stamp}@example.org", username=f"undo-{stamp}")
        tag = Tag(name=f"undo bench {stamp}")
        db.session.add_all([owner, tag])
        db.session.flush()
        rows = [{"title": f"Undo bench {n}", "owner_id": owner.id, "metadata_": {}} for n in range(args.rows)]
        ids = list(db.session.scalars(insert(Task).returning(Task.id), rows))
        db.session.commit()
        print(f"{args.rows:,} tasks", flush=True)
        tagged = timed("bulk tag", lambda: in_new_batch(lambda: tagging.add_tag(Task, ids, tag)))
        timed("undo of the bulk tag", lambda: undo(tagged, None))
        timed("undo of that undo", lambda: undo(_undo_batch_of(tagged), None))
        trashed = timed("move to the trash", lambda: in_new_batch(lambda: trash.soft_delete(Task, ids, None)))
        timed("undo of the move to the trash", lambda: undo(trashed, None))
        db.engine.dispose()


def _undo_batch_of(batch_id: str) -> str:
    """The batch of the undo of ``batch_id``: the one its ``undo`` entry carries."""
    entry = undo_entry(batch_id)
    assert entry is not None and entry.batch_id is not None
    return entry.batch_id


if __name__ == "__main__":
    main()
