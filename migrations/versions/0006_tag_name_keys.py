"""Tag names normalised, and unique by a stored key instead of lower(name)

Revision ID: 0006_tag_name_keys
Revises: 0005_list_order_indexes
Create Date: 2026-12-02

Names that differ only by invisible characters (a zero-width space), compatibility forms
(full-width letters, combining accents), whitespace or letter case are one tag. ``name_key`` holds
what they share (``webapp.models.tags.tag_name_key``: NFKC, format and control characters removed,
whitespace collapsed, case folded by Python), with a unique index. ``lower(name)`` could not do
it: it keeps the invisible characters, and SQLite's folds only ASCII.

Existing names are normalised in place. Where two become the same tag, the later one (by id) is
renamed ``name (2)`` (``(3)``…): nothing is merged or deleted behind the operators' backs; they
merge the two in the tag list if they are one tag. Each renamed tag gets an audit entry.
"""

import sqlalchemy as sa
from alembic import op

from webapp.models.tags import normalize_tag_name, tag_name_key

# revision identifiers, used by Alembic.
revision = "0006_tag_name_keys"
down_revision = "0005_list_order_indexes"
branch_labels = None
depends_on = None

NAME_LENGTH = 50
TAGS = sa.table("tags", sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("name_key", sa.Text))
AUDIT = sa.table(
    "audit_entries",
    *(sa.column(name, sa.String) for name in ("operator_email", "action", "model", "object_id", "summary")),
    sa.column("changes", sa.JSON),
)


def upgrade():
    # First: while names are rewritten one by one, the old index would see two spellings collide.
    op.drop_index("uq_tags_name_lower", table_name="tags")
    op.add_column("tags", sa.Column("name_key", sa.Text(), nullable=True))
    _backfill(op.get_bind())
    with op.batch_alter_table("tags") as batch_op:
        batch_op.alter_column("name_key", existing_type=sa.Text(), nullable=False)
    op.create_index("uq_tags_name_key", "tags", ["name_key"], unique=True)


def _backfill(connection):
    taken = set()
    for tag_id, name in connection.execute(sa.select(TAGS.c.id, TAGS.c.name).order_by(TAGS.c.id)).all():
        new_name = _free_name(normalize_tag_name(name) or f"tag {tag_id}", taken)
        taken.add(tag_name_key(new_name))
        connection.execute(
            sa.update(TAGS).where(TAGS.c.id == tag_id).values(name=new_name, name_key=tag_name_key(new_name))
        )
        if new_name != name:
            summary = f"Renamed tag “{name}” to “{new_name}” (names normalised by migration 0006)"
            connection.execute(
                sa.insert(AUDIT).values(
                    operator_email="",
                    action="update",
                    model="Tag",
                    object_id=str(tag_id),
                    summary=summary[:500],
                    changes={"name": [name, new_name]},
                )
            )


def _free_name(name, taken):
    """``name`` itself, or ``name (2)``, ``(3)``… cut to fit, whichever no earlier tag has."""
    candidate, number = name[:NAME_LENGTH], 1
    while tag_name_key(candidate) in taken:
        number += 1
        suffix = f" ({number})"
        candidate = name[: NAME_LENGTH - len(suffix)].rstrip() + suffix
    return candidate


def downgrade():
    op.drop_index("uq_tags_name_key", table_name="tags")
    with op.batch_alter_table("tags") as batch_op:
        batch_op.drop_column("name_key")
    op.create_index("uq_tags_name_lower", "tags", [sa.literal_column("lower(name)")], unique=True)
