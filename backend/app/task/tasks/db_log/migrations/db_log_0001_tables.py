"""db_log: task_opera_log and task_login_log

Revision ID: db_log_0001
Revises:
Create Date: 2026-11-30

The first migration of the `db_log` branch. Databases migrated before features owned their tables already have
both (the core foundation migration used to create them), so they are created only if missing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'db_log_0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ('db_log',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'task_opera_log',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=64), nullable=True),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('path', sa.String(length=512), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=False),
        sa.Column('cost_ms', sa.Double(), nullable=False),
        sa.Column('created_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_opera_log')),
        if_not_exists=True,
    )
    op.create_table(
        'task_login_log',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('ip', sa.String(length=64), nullable=True),
        sa.Column('succeeded', sa.Boolean(), nullable=False),
        sa.Column('message', sa.String(length=255), nullable=True),
        sa.Column('login_time', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_login_log')),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table('task_login_log')
    op.drop_table('task_opera_log')
