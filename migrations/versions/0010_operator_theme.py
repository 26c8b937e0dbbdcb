"""Each operator's colour theme (auto, light or dark), remembered across sessions and browsers

Revision ID: 0010_operator_theme
Revises: 0009_statement_history
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_operator_theme"
down_revision = "0009_statement_history"
branch_labels = None
depends_on = None


# SQLite cannot add a constraint to a table without rebuilding it, and a rebuild would lose the
# expression index on lower(email); there the app's own check (THEMES) is the only one.
def adds_constraints() -> bool:
    return op.get_bind().dialect.name != "sqlite"


def upgrade():
    op.add_column("operators", sa.Column("theme", sa.String(length=8), server_default="auto", nullable=False))
    if adds_constraints():
        op.create_check_constraint(op.f("ck_operators_theme"), "operators", "theme IN ('auto', 'light', 'dark')")


def downgrade():
    if adds_constraints():
        op.drop_constraint(op.f("ck_operators_theme"), "operators", type_="check")
    # Plain SQL: Alembic would rebuild the table on SQLite (losing the lower(email) index), which
    # has dropped columns in place since 3.35.
    op.execute("ALTER TABLE operators DROP COLUMN theme")
