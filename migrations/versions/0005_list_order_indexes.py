"""List order indexes on (created_at, id): the whole default sort, not only its first key

Revision ID: 0005_list_order_indexes
Revises: 0004_monitoring_tables
Create Date: 2026-11-26

The user, task and post lists sort by ``created_at DESC, id DESC``. An index on ``created_at``
alone serves the first key; the tie-breaker then needs a sort step, and a list filtered by tag
reads every task row it walks past (about 2,000 for a tag on 2 % of the tasks) just for its id.
With ``id`` in the index the walk is index-only and the keyset cursor ``(created_at, id) < (…)``
is a full index condition. Building it locks writes to the table for about a second per million
rows.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_list_order_indexes"
down_revision = "0004_monitoring_tables"
branch_labels = None
depends_on = None

TABLES = ("users", "tasks", "posts")
LIVE = sa.text("deleted_at IS NULL")


def upgrade():
    for table in TABLES:
        op.create_index(
            f"ix_{table}_live_created_at_id",
            table,
            ["created_at", "id"],
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )
        op.drop_index(f"ix_{table}_live_created_at", table_name=table)


def downgrade():
    for table in TABLES:
        op.create_index(
            f"ix_{table}_live_created_at",
            table,
            ["created_at"],
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )
        op.drop_index(f"ix_{table}_live_created_at_id", table_name=table)
