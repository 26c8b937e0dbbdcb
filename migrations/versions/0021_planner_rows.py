"""planner_rows(query): the planner's row estimate of a query, callable inside a statement

Revision ID: 0021_planner_rows
Revises: 0020_import_rows_by_action
Create Date: 2026-12-03

A list page's count asks the planner first (``EXPLAIN``, which reads no rows) and counts exactly
only when the estimate is small (``webapp/admin/listing/counting.py``). ``EXPLAIN`` is a utility
statement, which a ``SELECT`` cannot embed: from a function, estimate and capped count are one
statement, so a list page costs one round trip less. The function runs as its caller (no
privilege of its own) and ``EXPLAIN`` without ``ANALYZE`` executes nothing. PostgreSQL only:
other databases count exactly.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0021_planner_rows"
down_revision = "0020_import_rows_by_action"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION planner_rows(query text) RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE
            plan json;
        BEGIN
            EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
            RETURN round((plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
        END
        $$
        """
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION planner_rows(text)")
