"""Login throttling by (account, client address) pair with progressive delay, and per-address
budgets for login and registration, instead of hard locks per account and per address (a lock
per account let anyone lock anyone out; one per address locked everyone behind a shared proxy).
"""

from alembic import op

revision, down_revision = "0003", "0002"
branch_labels = depends_on = None


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
