"""Login throttling by (account, client address) pair with progressive delay, and per-address
budgets for login and registration, instead of hard locks per account and per address (a lock
per account let anyone lock anyone out; one per address locked everyone behind a shared proxy).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Old counts meant something else: start afresh rather than carry locks over.
    op.execute("DELETE FROM auth_throttle")
    op.execute("ALTER TABLE auth_throttle DROP CONSTRAINT IF EXISTS auth_throttle_scope_check")
    op.execute(
        "ALTER TABLE auth_throttle ADD CONSTRAINT auth_throttle_scope_check "
        "CHECK (scope IN ('pair', 'login', 'register'))"
    )


def downgrade() -> None:
    op.execute("DELETE FROM auth_throttle")
    op.execute("ALTER TABLE auth_throttle DROP CONSTRAINT IF EXISTS auth_throttle_scope_check")
    op.execute(
        "ALTER TABLE auth_throttle ADD CONSTRAINT auth_throttle_scope_check "
        "CHECK (scope IN ('account', 'address'))"
    )
