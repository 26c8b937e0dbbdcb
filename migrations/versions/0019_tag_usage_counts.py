"""Tag usage counters kept by the database: live tasks and live posts carrying each tag

Revision ID: 0019_tag_usage_counts
Revises: 0018_audit_chain
Create Date: 2026-12-02

The tag list showed how many live records carry each tag by counting their links on every page
view: at ten million tasks, every link of every tag on the page. ``tags.task_count`` and
``tags.post_count`` now hold those numbers, kept by triggers in the same transaction as every
change that can move them, whichever path makes it (form, bulk tagging, merge, trash, restore,
purge, import, a hand-written statement):

- a link added or removed counts when its record is live;
- a record going to the trash or coming back moves every tag it carries;
- a live record deleted outright first gives its tags back (its links then go with it).

On PostgreSQL the link and record triggers are per statement, over its transition tables: a bulk
action on 10,000 records updates each tag's row once, not 10,000 times. SQLite (development) has
only row triggers, which do the same one row at a time.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019_tag_usage_counts"
down_revision = "0018_audit_chain"
branch_labels = None
depends_on = None

# (records, their link table, the link's column naming the record, the counter on tags)
TAGGED = (("tasks", "task_tags", "task_id", "task_count"), ("posts", "post_tags", "post_id", "post_count"))


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_moves()
    for records, links, record_id, counter in TAGGED:
        op.add_column("tags", sa.Column(counter, sa.Integer(), nullable=False, server_default="0"))
        op.execute(
            f"UPDATE tags SET {counter} = (SELECT count(*) FROM {links} JOIN {records} r ON r.id = {links}.{record_id} "
            f"WHERE {links}.tag_id = tags.id AND r.deleted_at IS NULL)"
        )
        if op.get_bind().dialect.name == "postgresql":
            _postgresql_triggers(records, links, record_id, counter)
        else:
            _sqlite_triggers(records, links, record_id, counter)


def _postgresql_moves():
    """``tags_move_counts(counter, tag ids, changes)``: the one place a counter is written. The
    tags' rows are locked in id order first, as ``webapp.locking`` orders every lock on tags, so
    two transactions moving the same tags cannot deadlock over them."""
    op.execute("""
        CREATE FUNCTION tags_move_counts(counter text, tag_ids int[], changes int[]) RETURNS void
        LANGUAGE plpgsql AS $$
        BEGIN
            IF tag_ids IS NULL THEN
                RETURN;
            END IF;
            PERFORM 1 FROM tags WHERE id = ANY(tag_ids) ORDER BY id FOR NO KEY UPDATE;
            EXECUTE format(
                'UPDATE tags SET %1$I = tags.%1$I + moved.n FROM unnest($1, $2) AS moved(tag_id, n) '
                'WHERE tags.id = moved.tag_id', counter
            ) USING tag_ids, changes;
        END $$
    """)


def _postgresql_trigger(name, table, timing, referencing, counter, moves, unmoved="false"):
    """A statement trigger whose function passes ``moves`` (a query of tag_id, n) to the counter,
    unless the cheap condition ``unmoved`` proves nothing can move."""
    op.execute(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE tag_ids int[]; changes int[];
        BEGIN
            IF {unmoved} THEN
                RETURN NULL;
            END IF;
            SELECT array_agg(tag_id ORDER BY tag_id), array_agg(n ORDER BY tag_id) INTO tag_ids, changes
            FROM ({moves}) moves WHERE n <> 0;
            PERFORM tags_move_counts('{counter}', tag_ids, changes);
            RETURN NULL;
        END $$
    """)
    op.execute(
        f"CREATE TRIGGER {name} {timing} ON {table} REFERENCING {referencing} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
    )


def _postgresql_triggers(records, links, record_id, counter):
    live_links = (
        "SELECT l.tag_id, {sign} * count(*)::int AS n FROM {rows} l "
        f"JOIN {records} r ON r.id = l.{record_id} AND r.deleted_at IS NULL GROUP BY l.tag_id"
    )
    _postgresql_trigger(
        f"{links}_counted_added",
        links,
        "AFTER INSERT",
        "NEW TABLE AS added",
        counter,
        live_links.format(sign=1, rows="added"),
    )
    _postgresql_trigger(
        f"{links}_counted_removed",
        links,
        "AFTER DELETE",
        "OLD TABLE AS removed",
        counter,
        live_links.format(sign=-1, rows="removed"),
    )
    _postgresql_trigger(
        f"{records}_counted_trash",
        records,
        "AFTER UPDATE",
        "OLD TABLE AS before_rows NEW TABLE AS after_rows",
        counter,
        # Each record's links once as it was (-1 if it was live) and once as it is (+1 if live):
        # no join of the two transition tables, which have no index (a bulk action's 10,000
        # rows would meet 10,000 × 10,000 times). An edit of live records moves nothing.
        "SELECT l.tag_id, sum(c.sign)::int AS n FROM ("
        "SELECT id, 1 AS sign FROM after_rows WHERE deleted_at IS NULL "
        "UNION ALL SELECT id, -1 FROM before_rows WHERE deleted_at IS NULL"
        f") c JOIN {links} l ON l.{record_id} = c.id GROUP BY l.tag_id",
        unmoved="NOT EXISTS (SELECT 1 FROM before_rows WHERE deleted_at IS NOT NULL) "
        "AND NOT EXISTS (SELECT 1 FROM after_rows WHERE deleted_at IS NOT NULL)",
    )
    # A live record deleted outright (its links then go by cascade, when it is no longer live).
    op.execute(f"""
        CREATE FUNCTION {records}_counted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.deleted_at IS NULL THEN
                PERFORM tags_move_counts(
                    '{counter}',
                    ARRAY(SELECT tag_id FROM {links} WHERE {record_id} = OLD.id ORDER BY tag_id),
                    ARRAY(SELECT -1 FROM {links} WHERE {record_id} = OLD.id ORDER BY tag_id)
                );
            END IF;
            RETURN OLD;
        END $$
    """)
    op.execute(
        f"CREATE TRIGGER {records}_counted_delete BEFORE DELETE ON {records} "
        f"FOR EACH ROW EXECUTE FUNCTION {records}_counted_delete()"
    )


def _sqlite_triggers(records, links, record_id, counter):
    live = f"EXISTS (SELECT 1 FROM {records} WHERE id = {{row}}.{record_id} AND deleted_at IS NULL)"
    op.execute(f"""
        CREATE TRIGGER {links}_counted_added AFTER INSERT ON {links} WHEN {live.format(row="NEW")}
        BEGIN UPDATE tags SET {counter} = {counter} + 1 WHERE id = NEW.tag_id; END
    """)
    op.execute(f"""
        CREATE TRIGGER {links}_counted_removed AFTER DELETE ON {links} WHEN {live.format(row="OLD")}
        BEGIN UPDATE tags SET {counter} = {counter} - 1 WHERE id = OLD.tag_id; END
    """)
    op.execute(f"""
        CREATE TRIGGER {records}_counted_trash AFTER UPDATE OF deleted_at ON {records}
        WHEN (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
        BEGIN
            UPDATE tags SET {counter} = {counter} + (CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END)
            WHERE id IN (SELECT tag_id FROM {links} WHERE {record_id} = NEW.id);
        END
    """)
    op.execute(f"""
        CREATE TRIGGER {records}_counted_delete BEFORE DELETE ON {records} WHEN OLD.deleted_at IS NULL
        BEGIN
            UPDATE tags SET {counter} = {counter} - 1
            WHERE id IN (SELECT tag_id FROM {links} WHERE {record_id} = OLD.id);
        END
    """)


TRIGGERS = ("{links}_counted_added", "{links}_counted_removed", "{records}_counted_trash", "{records}_counted_delete")


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for records, links, _record_id, counter in TAGGED:
        for pattern in TRIGGERS:
            trigger = pattern.format(records=records, links=links)
            table = links if pattern.startswith("{links}") else records
            if postgresql:
                op.execute(f"DROP TRIGGER {trigger} ON {table}")
                op.execute(f"DROP FUNCTION {trigger}()")
            else:
                op.execute(f"DROP TRIGGER {trigger}")
        with op.batch_alter_table("tags") as batch:
            batch.drop_column(counter)
    if postgresql:
        op.execute("DROP FUNCTION tags_move_counts(text, int[], int[])")
