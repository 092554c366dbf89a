"""Webhooks: find a connection by Oura's user id, remember which documents webhooks announced,
and one Oura request budget shared by every collector process.

`oauth_tokens.oura_user_id` (filled at connect time and lazily by the collector) is what a
webhook event names; the receiver looks connections up by it on every delivery.

`webhook_documents` says, per user, data type and Oura document id, when a webhook announced it
and when a scheduled poll found it. A poll that finds a document no webhook announced counts it
(`collector_documents_unannounced_total`): the health signal of webhook delivery. Rows go with
their user (ON DELETE CASCADE) and are pruned after a few weeks by the collector.

`oura_rate_budget` is a token bucket per application: processes take tokens in chunks under a
row lock, so the scheduled run, backfills and the webhook fetcher stay within one budget.
"""

from alembic import op

revision, down_revision = "0009", "0008"
branch_labels = depends_on = None

UPGRADE = """
CREATE INDEX oauth_tokens_oura_user_id_idx ON oauth_tokens (oura_user_id)
    WHERE oura_user_id IS NOT NULL;

CREATE TABLE webhook_documents (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data_type    text NOT NULL,
    object_id    text NOT NULL,
    announced_at timestamptz,
    polled_at    timestamptz,
    PRIMARY KEY (user_id, data_type, object_id)
);
CREATE INDEX webhook_documents_seen_idx ON webhook_documents
    (GREATEST(announced_at, polled_at));

CREATE TABLE oura_rate_budget (
    name       text PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
"""

DOWNGRADE = """
DROP TABLE oura_rate_budget;
DROP TABLE webhook_documents;
DROP INDEX oauth_tokens_oura_user_id_idx;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
