"""Room on each page for a row's next version; tag counters that look records up by key

Revision ID: 0022_room_for_versions
Revises: 0021_planner_rows
Create Date: 2026-12-04

A bulk tag or untag bumps the version of every selected record: 100,000 rows of ``tasks``. On
full pages each new version went to another page and took a new entry in all nine of the table's
indexes, the two trigram indexes included (16 s of one statement at 1,000,000 tasks). With a
fill factor of 90 the new version stays on its page, and an update that changes no indexed
column (the version and ``updated_at``) writes no index entry at all (3.8 s). The setting applies
to pages written from now on; a table's existing pages get the room when it is rewritten (``VACUUM
FULL`` or a reload, in a maintenance window), or one by one as rows move.

The tag counters' link triggers count the added or removed links of live records with a join of
the transition table to the records. With 100,000 links against ten million tasks the planner
took a hash join over the whole table (8–14 s per statement), where probing the records' key for
each link costs a fraction of a second. The functions now run with hash and merge joins priced
out (``enable_hashjoin``/``enable_mergejoin`` off for the function alone), so the planner probes
the key. Priced out, not forbidden: with a small enough table and no index the planner may
still take a hash join; the demo seed, which drops the keys while it loads millions of links,
turns these triggers off for its load and counts the tags once after it.

PostgreSQL only: SQLite has no fill factor and counts with row triggers.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0022_room_for_versions"
down_revision = "0021_planner_rows"
branch_labels = None
depends_on = None

VERSIONED = ("tasks", "posts", "users")
# (records, their link table, the link's column naming the record, the counter on tags)
TAGGED = (("tasks", "task_tags", "task_id", "task_count"), ("posts", "post_tags", "post_id", "post_count"))
# The link triggers' functions: (name pattern, transition table, sign of a move).
LINK_TRIGGERS = (("{links}_counted_added", "added", 1), ("{links}_counted_removed", "removed", -1))

# Set on the link triggers' functions (``CREATE FUNCTION … SET``), for their statements alone.
PROBING = "SET enable_hashjoin = off SET enable_mergejoin = off"
# The live records' links a statement added or removed, per tag (0019's join). Migration 0025
# passes its own query of the same columns.
LIVE_LINKS = """
    SELECT l.tag_id, {sign} * count(*)::int AS n FROM {rows} l
    JOIN {records} r ON r.id = l.{record_id} AND r.deleted_at IS NULL GROUP BY l.tag_id
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in VERSIONED:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 90)")
    _replace_link_counters(PROBING)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    _replace_link_counters("")
    for table in VERSIONED:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")


def _replace_link_counters(settings: str, live_links: str = LIVE_LINKS) -> None:
    """Each link trigger's function again, as migration 0019 made it, with ``settings``, counting
    with ``live_links`` (formatted with ``sign``, ``rows``, ``records`` and ``record_id``)."""
    for records, links, record_id, counter in TAGGED:
        for pattern, rows, sign in LINK_TRIGGERS:
            moves = live_links.format(sign=sign, rows=rows, records=records, record_id=record_id)
            op.execute(f"""
                CREATE OR REPLACE FUNCTION {pattern.format(links=links)}() RETURNS trigger LANGUAGE plpgsql
                {settings} AS $$
                DECLARE tag_ids int[]; changes int[];
                BEGIN
                    SELECT array_agg(tag_id ORDER BY tag_id), array_agg(n ORDER BY tag_id) INTO tag_ids, changes
                    FROM ({moves}) moves WHERE n <> 0;
                    PERFORM tags_move_counts('{counter}', tag_ids, changes);
                    RETURN NULL;
                END $$
            """)
