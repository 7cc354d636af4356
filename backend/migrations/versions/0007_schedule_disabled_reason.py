"""task_schedule.disabled_reason: why beat disabled a row it could not plan or send

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('task_schedule', sa.Column('disabled_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('task_schedule', 'disabled_reason')
