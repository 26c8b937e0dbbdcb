"""The progress of a running import (rows done of how many, which step), readable while it runs

Revision ID: 0014_import_progress
Revises: 0013_statement_hourly
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014_import_progress"
down_revision = "0013_statement_hourly"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_progress",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("step", sa.String(length=36), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "step", name=op.f("pk_import_progress")),
    )


def downgrade():
    op.drop_table("import_progress")
