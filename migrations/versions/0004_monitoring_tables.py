"""Monitoring tables: worker pool snapshots, pool history samples, slow-query aggregates

Every gunicorn worker publishes into these tables, so any worker can show the dashboard for all.

Revision ID: 0004_monitoring_tables
Revises: 0003_login_failures
Create Date: 2026-11-26

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0004_monitoring_tables"
down_revision = "0003_login_failures"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "monitoring_pool_samples",
        sa.Column("minute", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("checked_out_peak", sa.Integer(), nullable=False),
        sa.Column("wait_p95_ms", sa.Float(), nullable=False),
        sa.Column("wait_max_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "host", "pid", name=op.f("pk_monitoring_pool_samples")),
    )
    op.create_table(
        "monitoring_slow_queries",
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("max_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_path", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_monitoring_slow_queries")),
    )
    with op.batch_alter_table("monitoring_slow_queries", schema=None) as batch_op:
        batch_op.create_index("ix_monitoring_slow_queries_total_ms", ["total_ms"], unique=False)

    op.create_table(
        "monitoring_workers",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "snapshot", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("host", "pid", name=op.f("pk_monitoring_workers")),
    )


def downgrade():
    op.drop_table("monitoring_workers")
    with op.batch_alter_table("monitoring_slow_queries", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_slow_queries_total_ms")

    op.drop_table("monitoring_slow_queries")
    op.drop_table("monitoring_pool_samples")
