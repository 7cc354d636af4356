"""task_dead_letter, the store of tasks that failed for good

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASONS = "('retries_exhausted', 'non_retryable', 'time_limit', 'unknown_task', 'undecodable')"


def upgrade() -> None:
    op.create_table(
        'task_dead_letter',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('task_id', sa.String(length=155), nullable=True),
        sa.Column('task_name', sa.String(length=155), nullable=True),
        sa.Column('args', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('kwargs', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('queue', sa.String(length=155), nullable=True),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('exception_type', sa.String(length=255), nullable=True),
        sa.Column('exception_message', sa.Text(), nullable=True),
        sa.Column('traceback', sa.Text(), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('retries', sa.Integer(), server_default='0', nullable=False),
        sa.Column('failures', sa.Integer(), server_default='1', nullable=False),
        sa.Column('worker', sa.String(length=155), nullable=True),
        sa.Column('first_failed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('last_failed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('requeued_task_id', sa.String(length=155), nullable=True),
        sa.Column('requeued_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f'reason IN {REASONS}', name=op.f('ck_task_dead_letter_reason')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_dead_letter')),
        sa.UniqueConstraint('task_id', name=op.f('uq_task_dead_letter_task_id')),
    )
    op.create_index('ix_task_dead_letter_last_failed_at', 'task_dead_letter', ['last_failed_at'], unique=False)
    op.create_index('ix_task_dead_letter_task_name', 'task_dead_letter', ['task_name'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_task_dead_letter_task_name', table_name='task_dead_letter')
    op.drop_index('ix_task_dead_letter_last_failed_at', table_name='task_dead_letter')
    op.drop_table('task_dead_letter')
