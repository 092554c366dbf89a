"""Heart-rate and daily-activity documents kept as JSON text (lz4-compressed) instead of jsonb.

Their documents are mostly sample series that nothing queries inside (the values people and
dashboards read are in typed columns), and parsing them into jsonb was most of PostgreSQL's work
per row (schemas.data_types.DataType.document_as_text has the figures). Readers cast:
`document::json` to serve it, `document::jsonb` to query into it.
"""

from alembic import op

revision, down_revision = "0007", "0006"
branch_labels = depends_on = None

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
