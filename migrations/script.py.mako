"""${message}
"""

from alembic import op

revision, down_revision = ${repr(up_revision)}, ${repr(down_revision)}
branch_labels = depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
