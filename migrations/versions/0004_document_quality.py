"""Field-level quality of documents and days still in progress.

Every document table gets `quality` (the plausibility notes of the document, field -> problem;
null when there is none: the document is stored and its flagged fields are left out of the
typed columns and trends) and `in_progress` (the document's day had not ended for the user
when it was fetched). `daily_trends.in_progress` marks a trend of such a day: not flagged, and
not part of other days' baselines or means.
"""

from alembic import op

revision, down_revision = "0004", "0003"
branch_labels = depends_on = None

# Frozen here on purpose: a migration must not change when application code changes later.
DOCUMENT_TABLES = (
    "daily_sleep",
    "sleep",
    "daily_activity",
    "daily_readiness",
    "heartrate",
    "daily_spo2",
    "daily_stress",
    "daily_resilience",
    "daily_cardiovascular_age",
    "vo2_max",
    "workout",
    "session",
    "enhanced_tag",
    "sleep_time",
    "rest_mode_period",
    "ring_configuration",
    "personal_info",
)


def upgrade() -> None:
    for table in DOCUMENT_TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN quality jsonb,"
            " ADD COLUMN in_progress boolean NOT NULL DEFAULT false"
        )
    op.execute("ALTER TABLE daily_trends ADD COLUMN in_progress boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE daily_trends DROP COLUMN in_progress")
    for table in DOCUMENT_TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN quality, DROP COLUMN in_progress")
