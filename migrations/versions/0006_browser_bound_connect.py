"""Oura connections bound to the browser that started them.

`oauth_states.browser_hash`: the SHA-256 of a nonce the authorize step puts in a short-lived
cookie of that browser; the callback completes only when the same browser presents it. States
written before have no hash and can no longer complete (they expire within minutes anyway).
"""

from alembic import op

revision, down_revision = "0006", "0005"
branch_labels = depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE oauth_states ADD COLUMN browser_hash bytea")


def downgrade() -> None:
    op.execute("ALTER TABLE oauth_states DROP COLUMN browser_hash")
