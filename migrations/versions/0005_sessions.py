"""Sessions that can be revoked, and Oura grants whose revocation is retried.

- `users.token_version`: every access token carries the version it was issued under; logout
  and password changes bump it, which invalidates every access token of the account at once.
- `refresh_tokens`: long-lived, single-use, stored as SHA-256 hashes only; each use issues the
  next one of the same family, and a second use of a spent one revokes the family (a stolen
  copy was used).
- `oauth_tokens.status` may be `revoke_pending`: a disconnect whose revocation at Oura failed
  keeps the tokens (encrypted) until the collector's next run revokes them.
"""

from alembic import op

revision, down_revision = "0005", "0004"
branch_labels = depends_on = None

UPGRADE = """
ALTER TABLE users ADD COLUMN token_version integer NOT NULL DEFAULT 0;

CREATE TABLE refresh_tokens (
    token_hash    bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family        uuid NOT NULL,
    token_version integer NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);

ALTER TABLE oauth_tokens DROP CONSTRAINT IF EXISTS oauth_tokens_status_check;
ALTER TABLE oauth_tokens ADD CONSTRAINT oauth_tokens_status_check
    CHECK (status IN ('active', 'needs_reauth', 'revoked', 'revoke_pending'));

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_reader') THEN
        REVOKE ALL ON refresh_tokens FROM grafana_reader;
    END IF;
END $$;
"""

DOWNGRADE = """
UPDATE oauth_tokens SET status = 'revoked' WHERE status = 'revoke_pending';
ALTER TABLE oauth_tokens DROP CONSTRAINT IF EXISTS oauth_tokens_status_check;
ALTER TABLE oauth_tokens ADD CONSTRAINT oauth_tokens_status_check
    CHECK (status IN ('active', 'needs_reauth', 'revoked'));
DROP TABLE refresh_tokens;
ALTER TABLE users DROP COLUMN token_version;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
