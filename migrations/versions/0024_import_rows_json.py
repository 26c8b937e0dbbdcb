"""Import rows keep their documents as json, not jsonb

Revision ID: 0024_import_rows_json
Revises: 0023_picker_prefixes
Create Date: 2026-12-04

A preview writes five documents per file row into ``import_rows`` (a hundred thousand rows: half
a million documents). No statement reads into them: Python decodes them whole, and the apply's
audit entries take ``changes`` through a cast to the entries' own jsonb. ``json`` only checks the
text where ``jsonb`` parses it into its binary form: the preview's COPY costs the server about
half as much. PostgreSQL only (SQLite's JSON is text either way).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0024_import_rows_json"
down_revision = "0023_picker_prefixes"
branch_labels = None
depends_on = None

DOCUMENTS = ("values", "previous", "changes", "problems", "cells")


def upgrade():
    _retype("json")


def downgrade():
    _retype("jsonb")


def _retype(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    changes = ", ".join(f'ALTER COLUMN "{name}" TYPE {kind} USING "{name}"::{kind}' for name in DOCUMENTS)
    op.execute(f"ALTER TABLE import_rows {changes}")
