"""Heart-rate and daily-activity documents kept as JSON text (lz4-compressed) instead of jsonb.

Their documents are mostly sample series that nothing queries inside (the values people and
dashboards read are in typed columns), and parsing them into jsonb was most of PostgreSQL's work
per row (schemas.data_types.DataType.document_as_text has the figures). Readers cast:
`document::json` to serve it, `document::jsonb` to query into it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration must not change when application code changes later.
TABLES = ("heartrate", "daily_activity")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN document TYPE text USING document::text")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN document SET COMPRESSION lz4")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN document TYPE jsonb USING document::jsonb")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN document SET COMPRESSION lz4")
