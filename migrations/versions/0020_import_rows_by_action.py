"""Import rows read a chunk at a time by action, in row order, from one index

Revision ID: 0020_import_rows_by_action
Revises: 0019_tag_usage_counts
Create Date: 2026-12-03

An apply reads its batch's rows to create, then those to update, a thousand at a time after the
last row number read. On ``(batch_id, action)`` alone each chunk found its rows through a bitmap
of the whole batch and sorted them: a hundred thousand rows read a hundred times over. With the
row number last in the index, each chunk is one range of it, whatever the statistics say (a
batch is read right after it is written, before any analyze has seen it).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0020_import_rows_by_action"
down_revision = "0019_tag_usage_counts"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("import_rows") as batch_op:
        batch_op.drop_index("ix_import_rows_batch_id_action")
        batch_op.create_index("ix_import_rows_batch_id_action_row_number", ["batch_id", "action", "row_number"])


def downgrade():
    with op.batch_alter_table("import_rows") as batch_op:
        batch_op.drop_index("ix_import_rows_batch_id_action_row_number")
        batch_op.create_index("ix_import_rows_batch_id_action", ["batch_id", "action"])
