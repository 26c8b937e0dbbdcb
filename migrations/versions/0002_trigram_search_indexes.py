"""Trigram indexes for admin search (PostgreSQL only)

Admin search and the owner/author pickers filter with ``ILIKE '%term%'``, which no b-tree can
serve: on a million tasks every search was a sequential scan. ``pg_trgm`` GIN indexes serve it.
Task and post lists only ever search live rows, so their indexes are partial; user pickers search
every user, so theirs are not. SQLite has no trigram indexes: this migration does nothing there.

Building them blocks writes to each table while it runs (7 seconds in all for a million tasks
with short titles, longer for long texts): run it in a quiet window on a large database.

Revision ID: 0002_trigram_search_indexes
Revises: 0001_initial
Create Date: 2026-11-26

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002_trigram_search_indexes"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

LIVE_ROWS = sa.text("deleted_at IS NULL")

# (index name, table, column, partial condition)
TRIGRAM_INDEXES = [
    ("ix_tasks_live_title_trgm", "tasks", "title", LIVE_ROWS),
    ("ix_tasks_live_description_trgm", "tasks", "description", LIVE_ROWS),
    ("ix_posts_live_title_trgm", "posts", "title", LIVE_ROWS),
    ("ix_posts_live_content_trgm", "posts", "content", LIVE_ROWS),
    ("ix_users_email_trgm", "users", "email", None),
    ("ix_users_username_trgm", "users", "username", None),
    ("ix_users_full_name_trgm", "users", "full_name", None),
]


def on_postgresql():
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if not on_postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column, condition in TRIGRAM_INDEXES:
        op.create_index(
            name,
            table,
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
            postgresql_where=condition,
        )


def downgrade():
    if not on_postgresql():
        return
    for name, table, _column, _condition in reversed(TRIGRAM_INDEXES):
        op.drop_index(name, table_name=table)
    # The extension stays: other objects (or other schemas) may use it, and it costs nothing idle.
