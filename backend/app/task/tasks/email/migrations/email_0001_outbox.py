"""email: task_email_outbox

Revision ID: email_0001
Revises:
Create Date: 2026-11-30

The first migration of the `email` branch. Databases migrated before features owned their tables already have the
outbox (the core foundation migration used to create it), so it is created only if missing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'email_0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ('email',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'task_email_outbox',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('task_id', sa.String(length=155), nullable=True),
        sa.Column('created_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_email_outbox')),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table('task_email_outbox')
