"""Statement history (pg_stat_statements deltas per round), app-side slow statements per minute,
and audit actions for the dashboard's EXPLAIN ANALYZE, cancel and terminate

Revision ID: 0009_statement_history
Revises: 0008_import_batches
Create Date: 2026-12-02

"""

import warnings

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_statement_history"
down_revision = "0008_import_batches"
branch_labels = None
depends_on = None

ACTIONS = ("create", "update", "delete", "restore", "purge", "tag", "untag", "merge")
DASHBOARD_ACTIONS = ("explain", "cancel", "terminate")


def _replace_audit_actions(old, new, length):
    # On SQLite the batch copies audit_entries, reflecting the operators table it refers to, whose
    # expression index (lower(email)) SQLAlchemy cannot reflect and warns about; the copy does
    # not need that index, which stays on operators untouched.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", sa.exc.SAWarning)
        with op.batch_alter_table("audit_entries", schema=None) as batch_op:
            batch_op.drop_constraint(op.f("ck_audit_entries_audit_action"), type_="check")
            batch_op.alter_column(
                "action", existing_type=sa.String(length=len(max(old, key=len))), type_=sa.String(length=length)
            )
            batch_op.create_check_constraint("audit_action", sa.column("action").in_(new))


def upgrade():
    op.create_table(
        "monitoring_statement_rounds",
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stats_reset", sa.DateTime(timezone=True), nullable=True),
        sa.Column("statements", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("captured_at", name=op.f("pk_monitoring_statement_rounds")),
    )
    op.create_table(
        "monitoring_statement_baselines",
        sa.Column("queryid", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("queryid", name=op.f("pk_monitoring_statement_baselines")),
    )
    op.create_table(
        "monitoring_statement_texts",
        sa.Column("queryid", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("queryid", name=op.f("pk_monitoring_statement_texts")),
    )
    op.create_table(
        "monitoring_statement_history",
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queryid", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("captured_at", "queryid", name=op.f("pk_monitoring_statement_history")),
    )
    with op.batch_alter_table("monitoring_pool_samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slow_calls", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("slow_ms", sa.Float(), server_default="0", nullable=False))
    _replace_audit_actions(ACTIONS, ACTIONS + DASHBOARD_ACTIONS, length=9)


def downgrade():
    op.execute(sa.text("DELETE FROM audit_entries WHERE action IN ('explain', 'cancel', 'terminate')"))
    _replace_audit_actions(ACTIONS + DASHBOARD_ACTIONS, ACTIONS, length=7)
    with op.batch_alter_table("monitoring_pool_samples", schema=None) as batch_op:
        batch_op.drop_column("slow_ms")
        batch_op.drop_column("slow_calls")
    op.drop_table("monitoring_statement_history")
    op.drop_table("monitoring_statement_texts")
    op.drop_table("monitoring_statement_baselines")
    op.drop_table("monitoring_statement_rounds")
