"""Tamper-evident audit trail: each entry's hash and link, the links, the chains' heads and
checkpoints, the verifications; a record's history read in its order from one index

Revision ID: 0018_audit_chain
Revises: 0015_user_name_order_index
Create Date: 2026-12-02

Entries written before this migration keep NULL hashes and links: ``flask audit verify`` counts
them as written before the chain began (not covered), rather than rewriting a large table here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_audit_chain"
down_revision = "0015_user_name_order_index"
branch_labels = None
depends_on = None


def upgrade():
    is_postgres = op.get_bind().dialect.name == "postgresql"
    # Plain ADD COLUMN: a batch operation would rebuild audit_entries on SQLite.
    op.add_column("audit_entries", sa.Column("link_id", sa.BigInteger(), nullable=True))
    op.add_column("audit_entries", sa.Column("entry_hash", sa.LargeBinary(length=32), nullable=True))
    op.create_index("ix_audit_entries_link_id", "audit_entries", ["link_id"])
    op.create_index("ix_audit_entries_record_history", "audit_entries", ["model", "object_id", "created_at", "id"])
    op.drop_index("ix_audit_entries_model_object", table_name="audit_entries")
    op.create_table(
        "audit_links",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain", sa.SmallInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("first_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("entries_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("link_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kept_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("seal", sa.LargeBinary(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_links")),
        sa.UniqueConstraint("chain", "position", name="uq_audit_links_chain_position"),
    )
    op.create_index("ix_audit_links_created_at", "audit_links", ["created_at"])
    op.create_table(
        "audit_chains",
        sa.Column("chain", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("link_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("checkpoint_position", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("checkpoint_signature", sa.LargeBinary(length=32), nullable=True),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chains")),
    )
    op.create_table(
        "audit_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_up_to", sa.BigInteger(), nullable=True),
        sa.Column("mismatch_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verifications")),
    )
    if is_postgres:
        # Link ids are taken by a transaction's first entry, before its link is written.
        op.execute("CREATE SEQUENCE audit_links_id_seq OWNED BY audit_links.id")


def downgrade():
    op.drop_table("audit_verifications")
    op.drop_table("audit_chains")
    op.drop_index("ix_audit_links_created_at", table_name="audit_links")
    op.drop_table("audit_links")
    op.create_index("ix_audit_entries_model_object", "audit_entries", ["model", "object_id"])
    op.drop_index("ix_audit_entries_record_history", table_name="audit_entries")
    op.drop_index("ix_audit_entries_link_id", table_name="audit_entries")
    # Plain SQL: Alembic would rebuild the table on SQLite, which drops columns in place since 3.35.
    op.execute("ALTER TABLE audit_entries DROP COLUMN entry_hash")
    op.execute("ALTER TABLE audit_entries DROP COLUMN link_id")
