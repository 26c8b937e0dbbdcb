"""Imports kept in the database (batches and their planned rows), and the batch of an audit entry

Revision ID: 0008_import_batches
Revises: 0007_operator_sessions
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0008_import_batches"
down_revision = "0007_operator_sessions"
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "import_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("operator_email", sa.String(length=254), nullable=False),
        sa.Column(
            "state",
            sa.Enum("previewed", "applied", "undone", name="import_state", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("options", JSON_DOCUMENT, nullable=False),
        sa.Column("counts", JSON_DOCUMENT, nullable=False),
        sa.Column("result", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_import_batches_operator_id_operators"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.create_index("ix_import_batches_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_import_batches_operator_id", ["operator_id"], unique=False)

    op.create_table(
        "import_rows",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("row_number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "create",
                "update",
                "unchanged",
                "refused",
                name="import_row_action",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("expected_version", sa.Integer(), nullable=True),
        sa.Column("values", JSON_DOCUMENT, nullable=False),
        sa.Column("previous", JSON_DOCUMENT, nullable=False),
        sa.Column("changes", JSON_DOCUMENT, nullable=False),
        sa.Column("problems", JSON_DOCUMENT, nullable=False),
        sa.Column("cells", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["import_batches.id"],
            name=op.f("fk_import_rows_batch_id_import_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "row_number", name=op.f("pk_import_rows")),
    )
    with op.batch_alter_table("import_rows", schema=None) as batch_op:
        batch_op.create_index("ix_import_rows_batch_id_action", ["batch_id", "action"], unique=False)

    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_audit_entries_batch_id", ["batch_id"], unique=False)


def downgrade():
    # Plain SQL: a batch operation would rebuild audit_entries on SQLite, reflecting the operators
    # table it refers to, whose lower(email) index reflection cannot carry.
    op.drop_index("ix_audit_entries_batch_id", table_name="audit_entries")
    op.execute("ALTER TABLE audit_entries DROP COLUMN batch_id")
    with op.batch_alter_table("import_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_import_rows_batch_id_action")
    op.drop_table("import_rows")
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_import_batches_operator_id")
        batch_op.drop_index("ix_import_batches_created_at")
    op.drop_table("import_batches")
