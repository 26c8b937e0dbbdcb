"""Prefix indexes for the user pickers' one or two typed letters

Revision ID: 0023_picker_prefixes
Revises: 0022_room_for_versions
Create Date: 2026-12-04

Two letters typed into the owner or author picker match at the start of a user's email,
username or full name. The trigram indexes served that as "a word starting with these letters",
anywhere in the value, and each candidate was then rechecked: for "ho" every "… Hopper" among a
million users, to keep none (187 ms). A b-tree over each column's lower case with
``text_pattern_ops`` reads exactly the values that start with the letters. PostgreSQL only, as
the trigram indexes (SQLite has neither).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0023_picker_prefixes"
down_revision = "0022_room_for_versions"
branch_labels = None
depends_on = None

COLUMNS = ("email", "username", "full_name")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"CREATE INDEX ix_users_{column}_prefix ON users (lower({column}) text_pattern_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.execute(f"DROP INDEX ix_users_{column}_prefix")
