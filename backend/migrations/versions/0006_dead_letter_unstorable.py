"""dead-letter reason unstorable, and the delivery counter that ends endless redelivery

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "('retries_exhausted', 'non_retryable', 'time_limit', 'worker_lost', 'unknown_task', 'undecodable')"
AFTER = (
    "('retries_exhausted', 'non_retryable', 'time_limit', 'worker_lost', 'unknown_task', 'undecodable', 'unstorable')"
)


def _reasons(allowed: str) -> None:
    op.drop_constraint(op.f('ck_task_dead_letter_reason'), 'task_dead_letter', type_='check')
    op.create_check_constraint(op.f('ck_task_dead_letter_reason'), 'task_dead_letter', f'reason IN {allowed}')


def upgrade() -> None:
    _reasons(AFTER)
    op.create_table(
        'task_delivery',
        sa.Column('task_id', sa.String(length=155), nullable=False),
        sa.Column('deliveries', sa.Integer(), nullable=False),
        sa.Column('date_created', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('task_id', name=op.f('pk_task_delivery')),
    )
    op.create_index('ix_task_delivery_date_created', 'task_delivery', ['date_created'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_task_delivery_date_created', table_name='task_delivery')
    op.drop_table('task_delivery')
    op.execute("DELETE FROM task_dead_letter WHERE reason = 'unstorable'")
    _reasons(BEFORE)
