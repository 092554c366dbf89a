"""Oura connections bound to the browser that started them.

`oauth_states.browser_hash`: the SHA-256 of a nonce the authorize step puts in a short-lived
cookie of that browser; the callback completes only when the same browser presents it. States
written before have no hash and can no longer complete (they expire within minutes anyway).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE oauth_states ADD COLUMN browser_hash bytea")


def downgrade() -> None:
    op.execute("ALTER TABLE oauth_states DROP COLUMN browser_hash")
