"""chord counters and result-backend extras

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'task_chord',
        sa.Column('group_id', sa.String(length=155), nullable=False),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('done', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('date_created', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('group_id', name=op.f('pk_task_chord')),
    )
    op.create_index('ix_task_chord_date_created', 'task_chord', ['date_created'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_task_chord_date_created', table_name='task_chord')
    op.drop_table('task_chord')
