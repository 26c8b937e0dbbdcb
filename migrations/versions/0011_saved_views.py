"""Saved views (a list's state by meaning, private or shared) and each operator's chosen list columns

Revision ID: 0011_saved_views
Revises: 0010_operator_theme
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0011_saved_views"
down_revision = "0010_operator_theme"
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "saved_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("list_endpoint", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("shared", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("state", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_saved_views_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
    )
    op.create_index(
        "uq_saved_views_owner_list_name",
        "saved_views",
        ["operator_id", "list_endpoint", sa.text("lower(name)")],
        unique=True,
    )
    op.create_index(
        "ix_saved_views_shared",
        "saved_views",
        ["list_endpoint"],
        postgresql_where=sa.text("shared"),
        sqlite_where=sa.text("shared"),
    )
    op.add_column("operators", sa.Column("list_columns", JSON_DOCUMENT, server_default=sa.text("'{}'"), nullable=False))


def downgrade():
    # Plain SQL: Alembic would rebuild the table on SQLite (losing the lower(email) index), which
    # has dropped columns in place since 3.35.
    op.execute("ALTER TABLE operators DROP COLUMN list_columns")
    op.drop_index("ix_saved_views_shared", table_name="saved_views")
    op.drop_index("uq_saved_views_owner_list_name", table_name="saved_views")
    op.drop_table("saved_views")
