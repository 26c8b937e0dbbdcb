"""Server-side operator sessions, so that signing out (and the server) can end them

Revision ID: 0007_operator_sessions
Revises: 0006_tag_name_keys
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_operator_sessions"
down_revision = "0006_tag_name_keys"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "operator_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_sessions_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_sessions")),
    )
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_operator_sessions_last_seen_at", ["last_seen_at"], unique=False)
        batch_op.create_index("ix_operator_sessions_operator_id", ["operator_id"], unique=False)


def downgrade():
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_operator_sessions_operator_id")
        batch_op.drop_index("ix_operator_sessions_last_seen_at")

    op.drop_table("operator_sessions")
