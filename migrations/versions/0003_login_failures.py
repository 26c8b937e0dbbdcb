"""Failed sign-ins, for the login throttle shared by every worker

Revision ID: 0003_login_failures
Revises: 0002_trigram_search_indexes
Create Date: 2026-11-26

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003_login_failures"
down_revision = "0002_trigram_search_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_login_failures_key_created_at", ["key", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_key_created_at")
        batch_op.drop_index("ix_login_failures_created_at")

    op.drop_table("login_failures")
