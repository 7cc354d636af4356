"""dead-letter reason worker_lost: a task whose worker process died on every attempt

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = "('retries_exhausted', 'non_retryable', 'time_limit', 'unknown_task', 'undecodable')"
AFTER = "('retries_exhausted', 'non_retryable', 'time_limit', 'worker_lost', 'unknown_task', 'undecodable')"


def _reasons(allowed: str) -> None:
    op.drop_constraint(op.f('ck_task_dead_letter_reason'), 'task_dead_letter', type_='check')
    op.create_check_constraint(op.f('ck_task_dead_letter_reason'), 'task_dead_letter', f'reason IN {allowed}')


def upgrade() -> None:
    _reasons(AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM task_dead_letter WHERE reason = 'worker_lost'")
    _reasons(BEFORE)
