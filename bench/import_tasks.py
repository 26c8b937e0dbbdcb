"""Time and peak memory of importing task rows: a file that creates them, then one that updates
every one of them (the round trip of an edited export), then the undo of that update.

    python bench/import_tasks.py postgresql://postgres@127.0.0.1:5432/webapp_bench --rows 100000

Migrates the database and tops it up with the demo users and tags (``seed-demo``'s, no tasks);
each run adds ``--rows`` tasks, with two tags each under ``--tagged`` (the edit keeps them, as an
edited export does). Each phase runs as the app does it (the same functions, one
transaction each), in this process, without HTTP, with the garbage collector set as in a gunicorn
worker (``bench/worker_gc.py``): the figures are the import's own. Peak memory
is the process's resident high-water mark after each phase (it only grows).

``--profile`` also prints, for each preview, apply and undo, its twelve costliest functions in this process
(cProfile) and its five costliest statements in the database (pg_stat_statements, which must be
installed there), to find the work worth cutting.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask_migrate import upgrade
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.worker_gc import collect_as_a_worker
from webapp import create_app
from webapp.extensions import db
from webapp.imports.applying import apply_batch, undo_batch
from webapp.imports.batches import planner_for, store_preview
from webapp.imports.planning import Options
from webapp.models import Tag, Task, User
from webapp.seed import seed_demo

HEADER = ["ID", "Title", "Owner", "Status", "Priority", "Tags", "Due"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, step: Callable[[], Any]) -> Any:
    """Run a phase; print its wall time, this process's CPU time (on a busy machine the steadier
    figure of the two) and the peak memory so far."""
    started, cpu = time.perf_counter(), time.process_time()
    result = step()
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    print(f"{label:<28} {wall:7.2f} s wall {used:7.2f} s CPU   peak RSS {peak_mb():6.0f} MB", flush=True)
    return result


def write_file(path: Path, rows: Iterable[list[Any]]) -> None:
    """Write the file from a generator: the rows never sit in this process's memory, whose peak
    is the import's."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def import_file(path: Path, timezone: str, profile: bool) -> str:
    """Preview then apply ``path``; the batch id."""
    with path.open("rb") as stream:
        planner = planner_for("task", stream, path.name, Options())
        batch = phase(f"preview {path.name}", lambda: store_preview(planner, path.name, Options()), profile)
    db.session.commit()
    batch_id = str(batch.id)
    phase(f"apply {path.name}", lambda: apply_batch(batch_id, timezone, valid_only=False), profile)
    db.session.commit()
    return batch_id


def phase(label: str, step: Callable[[], Any], profile: bool) -> Any:
    """Run one phase, timed; profiled too when asked."""
    if not profile:
        return timed(label, step)
    # This database's statistics only: the server's are shared with every other database.
    db.session.execute(
        text("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)")
    )
    profiler = cProfile.Profile()
    result = timed(label, lambda: profiler.runcall(step))
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    print_statements()
    return result


def print_statements() -> None:
    rows = db.session.execute(
        text(
            "SELECT calls, round(total_exec_time::numeric, 0), rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 110)"
            " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " ORDER BY total_exec_time DESC LIMIT 5"
        )
    )
    for calls, total_ms, count, query in rows:
        print(f"{calls:>7} calls {total_ms:>8} ms {count:>9} rows  {query}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="profile each phase (cProfile, pg_stat_statements)")
    parser.add_argument(
        "--tagged", action="store_true", help="two tags on every row, kept in the edit (link triggers, tag lookups)"
    )
    args = parser.parse_args()
    app = create_app(env={"APP_ENV": "production", "SECRET_KEY": "bench-only", "DATABASE_URL": args.database_url})
    with app.app_context():
        upgrade()
        if args.profile:  # the statements of each phase (the database's own, not the server's)
            db.session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        seed_demo(db.session, 0)
        emails = list(db.session.scalars(select(User.email).where(User.live()).order_by(User.id).limit(500)))
        names = list(db.session.scalars(select(Tag.name).where(Tag.live()).order_by(Tag.id).limit(20)))

        def tags(n: int) -> str:
            return f'"{names[n % len(names)]}", "{names[(n + 7) % len(names)]}"' if args.tagged else ""

        timezone = app.config["DISPLAY_TIMEZONE"]
        first_id = (db.session.scalar(select(func.max(Task.id))) or 0) + 1
        print(f"{args.rows:,} task rows, {len(emails)} owners, baseline peak RSS {peak_mb():.0f} MB", flush=True)
        collect_as_a_worker()
        with tempfile.TemporaryDirectory() as directory:
            created = Path(directory, "tasks-new.csv")
            write_file(
                created,
                (
                    [
                        "",
                        f"Imported task {n}",
                        emails[n % len(emails)],
                        "Pending",
                        "Medium",
                        tags(n),
                        "2030-01-01 09:00",
                    ]
                    for n in range(args.rows)
                ),
            )
            import_file(created, timezone, args.profile)
            new_ids = select(Task.id).where(Task.id >= first_id).order_by(Task.id)
            ids = db.session.scalars(new_ids, execution_options={"yield_per": 10_000})
            updated = Path(directory, "tasks-edited.csv")
            write_file(
                updated,
                (
                    [
                        task_id,
                        f"Edited task {n}",
                        emails[n % len(emails)],
                        "Active",
                        "High",
                        tags(n),
                        "2030-02-01 09:00",
                    ]
                    for n, task_id in enumerate(ids)
                ),
            )
            batch_id = import_file(updated, timezone, args.profile)
        phase("undo tasks-edited.csv", lambda: undo_batch(batch_id, timezone), args.profile)
        db.session.commit()
        db.engine.dispose()


if __name__ == "__main__":
    main()
