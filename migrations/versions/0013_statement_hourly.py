"""Statement history rolled up by the hour once its rounds are older than a day

Revision ID: 0013_statement_hourly
Revises: 0012_tag_trash
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_statement_hourly"
down_revision = "0012_tag_trash"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "monitoring_statement_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queryid", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "queryid", name=op.f("pk_monitoring_statement_hourly")),
    )


def downgrade():
    # The hours rolled up are history the 5-minute rounds no longer hold: they go with the table.
    op.drop_table("monitoring_statement_hourly")
