"""Let Grafana's read-only role see the state of Oura connections, never the tokens.

The pipeline dashboard counts connections by status (needs_reauth: the person must connect
again) and refresh failures. Column privileges only: the token ciphertexts, the Oura user id and
the last error message stay out of reach.
"""

from alembic import op

revision, down_revision = "0002", "0001"
branch_labels = depends_on = None

COLUMNS = (
    "user_id, status, scopes, expires_at, refresh_failures, last_refreshed_at, connected_at, "
    "updated_at"
)

_IF_READER = """
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana_reader') THEN
        {statement};
    END IF;
END $$;
"""


def upgrade() -> None:
    op.execute(
        _IF_READER.format(statement=f"GRANT SELECT ({COLUMNS}) ON oauth_tokens TO grafana_reader")
    )


def downgrade() -> None:
    op.execute(
        _IF_READER.format(
            statement=f"REVOKE SELECT ({COLUMNS}) ON oauth_tokens FROM grafana_reader"
        )
    )
