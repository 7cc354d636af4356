"""chords count each header task once: the ids counted, who completed the count, and whether the body went out

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('task_chord', sa.Column('completed_by', sa.String(length=155), nullable=True))
    op.add_column('task_chord', sa.Column('body_sent', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        'task_chord_part',
        sa.Column('group_id', sa.String(length=155), nullable=False),
        sa.Column('task_id', sa.String(length=155), nullable=False),
        sa.ForeignKeyConstraint(
            ['group_id'],
            ['task_chord.group_id'],
            name=op.f('fk_task_chord_part_group_id_task_chord'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('group_id', 'task_id', name=op.f('pk_task_chord_part')),
    )


def downgrade() -> None:
    op.drop_table('task_chord_part')
    op.drop_column('task_chord', 'body_sent')
    op.drop_column('task_chord', 'completed_by')
