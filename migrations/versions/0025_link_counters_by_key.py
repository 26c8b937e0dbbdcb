"""Tag counters that look each link's record up by key, whatever plan their function keeps

Revision ID: 0025_link_counters_by_key
Revises: 0024_import_rows_json
Create Date: 2026-12-04

The link triggers' functions (migration 0022) join the transition table to the records with hash
and merge joins priced out, and leave the join's order and inner scan to the planner. plpgsql
keeps a function's plan for the session until the records' statistics change, and the plan was
made for the table as it was then: with ``tasks`` a page or two, a nested loop over a sequential
scan of it. Reused 20,000 new tasks later (an import's chunks, in one session, faster than
autovacuum analyzes), it compared every added link with every live task: 38 million rows
discarded for 2,000 links, 1.3 s of a 1.33 s statement, and 20,000 tagged rows imported in 55 s
where untagged ones took 1.9 s. Priced out, the other joins leave the planner free to pick that
plan, or the reverse one (every record against every link), whenever it thinks the table small.

Each function now asks, link by link, whether the link's record is live: a scalar subquery on
the record's key, which the planner keeps as a subplan (it never turns it into a join to reorder,
as it does ``EXISTS``) and runs once per link. Its only condition is the key and it reads
``deleted_at`` alone, so no index but the key serves it; with ``enable_seqscan`` off for the
function the key is what serves it, however small the table was when it was planned. The
counting is 0019's: a link counts when its record exists and is live. The settings reach
``tags_move_counts``, which the function calls, too: it finds the tags by their key as well.
A well-planned join was somewhat faster (100,000 links against 200,000 tasks: 0.14–0.27 s,
the subplan 0.25–0.5 s, of a 7 s insert), but only while its plan stayed good.

PostgreSQL only: SQLite counts with row triggers, which look the record up by key already.
"""

import importlib.util
from pathlib import Path

from alembic import op

# revision identifiers, used by Alembic.
revision = "0025_link_counters_by_key"
down_revision = "0024_import_rows_json"
branch_labels = None
depends_on = None


def _room_for_versions():
    """Migration 0022's module, which writes the link triggers' functions (a version file's
    name is no module name to import)."""
    spec = importlib.util.spec_from_file_location(
        "_migration_0022_room_for_versions", Path(__file__).with_name("0022_room_for_versions.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Whether the link's record is live: true, false, or null when there is no such record.
LIVE_LINKS_BY_KEY = """
    SELECT l.tag_id, {sign} * count(*)::int AS n FROM {rows} l
    WHERE (SELECT r.deleted_at IS NULL FROM {records} r WHERE r.id = l.{record_id}) GROUP BY l.tag_id
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    versions = _room_for_versions()
    versions._replace_link_counters(f"{versions.PROBING} SET enable_seqscan = off", LIVE_LINKS_BY_KEY)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    versions = _room_for_versions()
    versions._replace_link_counters(versions.PROBING)
