"""Tags go to the trash like the other records, and come back with their links; the undo of
a batch is audited

Revision ID: 0012_tag_trash
Revises: 0011_saved_views
Create Date: 2026-12-02

``deleted_at``, ``deletion_batch`` and ``deleted_by_id`` as the soft-delete mixin declares them,
with the trash's partial index. The unique index on ``name_key`` stays over every tag, trashed
ones included (``webapp.models.tags.Tag``): a trashed tag keeps its name, so restoring it can
never collide with a newer tag of the same name.

The audit action ``undo`` marks a batch as undone (one entry per undo, about the batch).
"""

import warnings

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_tag_trash"
down_revision = "0011_saved_views"
branch_labels = None
depends_on = None

TRASHED = sa.text("deleted_at IS NOT NULL")
ACTIONS = ("create", "update", "delete", "restore", "purge", "tag", "untag", "merge", "explain", "cancel", "terminate")


def _audit_actions(actions):
    # As in 0009: the SQLite copy of audit_entries reflects operators' expression index and warns.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", sa.exc.SAWarning)
        with op.batch_alter_table("audit_entries", schema=None) as batch_op:
            batch_op.drop_constraint(op.f("ck_audit_entries_audit_action"), type_="check")
            batch_op.create_check_constraint("audit_action", sa.column("action").in_(actions))


def upgrade():
    with op.batch_alter_table("tags") as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deletion_batch", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("deleted_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_tags_deleted_by_id_operators"), "operators", ["deleted_by_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index("ix_tags_deleted_at", "tags", ["deleted_at"], postgresql_where=TRASHED, sqlite_where=TRASHED)
    _audit_actions((*ACTIONS, "undo"))


def downgrade():
    op.execute(sa.text("DELETE FROM audit_entries WHERE action = 'undo'"))
    _audit_actions(ACTIONS)
    op.drop_index("ix_tags_deleted_at", table_name="tags")
    with op.batch_alter_table("tags") as batch_op:
        batch_op.drop_constraint(op.f("fk_tags_deleted_by_id_operators"), type_="foreignkey")
        batch_op.drop_column("deleted_by_id")
        batch_op.drop_column("deletion_batch")
        batch_op.drop_column("deleted_at")
