"""Erasure that reaches the log: dead letters recorded per user, erasure receipts.

`dead_letters` lists every record the processor refused (its key names the user, so erasure can
tombstone it; operators list them with `python -m stream_processor dead-letters`). `user_id` is
text, not a reference: a refused record's key may name no account at all.

`erasures` is the receipt of a deleted account: what was deleted, the tombstones published and
the time by which compaction has removed the records. `user_id` is held only while the erasure
is in progress (the tombstones need it) and cleared when it completes; `subject_digest`
(SHA-256 of the user id's text) stays, so that the processor recognises a record of an erased
account that arrives later and tombstones it instead of keeping it.
"""

from alembic import op

revision, down_revision = "0008", "0007"
branch_labels = depends_on = None

UPGRADE = """
CREATE TABLE dead_letters (
    key              text NOT NULL,
    user_id          text NOT NULL,
    source_topic     text NOT NULL,
    source_partition integer NOT NULL,
    source_offset    bigint NOT NULL,
    data_type        text NOT NULL,
    error_class      text NOT NULL,
    reason           text NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_topic, source_partition, source_offset)
);
CREATE INDEX dead_letters_user ON dead_letters (user_id, dead_lettered_at);

CREATE TABLE erasures (
    id                  uuid PRIMARY KEY,
    user_id             uuid,
    subject_digest      bytea NOT NULL,
    status              text NOT NULL CHECK (status IN ('in_progress', 'complete')),
    requested_at        timestamptz NOT NULL DEFAULT now(),
    rows_deleted        jsonb NOT NULL DEFAULT '{}',
    tombstones          jsonb NOT NULL DEFAULT '{}',
    completed_at        timestamptz,
    compaction_deadline timestamptz,
    last_error          text,
    CHECK (status = 'in_progress' OR user_id IS NULL)
);
CREATE INDEX erasures_subject ON erasures (subject_digest);
CREATE INDEX erasures_in_progress ON erasures (requested_at) WHERE status = 'in_progress';
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS erasures")
    op.execute("DROP TABLE IF EXISTS dead_letters")
