"""task_schedule and task_schedule_run, with the change-notify trigger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Beat marks its own transactions with `SET LOCAL fba.beat = 'on'`: its writes neither bump
# the version nor wake every beat. Any other edit of the timing (API, CLI, raw SQL) bumps the
# version unless the writer did, so beat re-plans next_run_at for it (an edit of next_run_at alone is
# taken as is); every other write notifies.
TOUCH_FUNCTION = """
CREATE FUNCTION fba_task_schedule_touch_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('fba.beat', true) = 'on' THEN
        RETURN NEW;
    END IF;
    NEW.updated_at := now();
    IF NEW.version = OLD.version AND (
        NEW.task, NEW.kind, NEW.interval_every, NEW.interval_period, NEW.crontab, NEW.clocked_at, NEW.timezone,
        NEW.enabled, NEW.start_at, NEW.end_at, NEW.max_runs, NEW.one_off
    ) IS DISTINCT FROM (
        OLD.task, OLD.kind, OLD.interval_every, OLD.interval_period, OLD.crontab, OLD.clocked_at, OLD.timezone,
        OLD.enabled, OLD.start_at, OLD.end_at, OLD.max_runs, OLD.one_off
    ) THEN
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$
"""

NOTIFY_FUNCTION = """
CREATE FUNCTION fba_task_schedule_notify_v1() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('fba.beat', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('fba_task_schedule_v1', json_build_object(
        'type', lower(TG_OP), 'id', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END)::text);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        'task_schedule',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('task', sa.String(length=155), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('interval_every', sa.Integer(), nullable=True),
        sa.Column('interval_period', sa.String(length=16), nullable=True),
        sa.Column('crontab', sa.String(length=255), nullable=True),
        sa.Column('clocked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column(
            'args', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column(
            'kwargs', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column('queue', sa.String(length=155), nullable=True),
        sa.Column('routing_key', sa.String(length=155), nullable=True),
        sa.Column('priority', sa.Integer(), nullable=True),
        sa.Column('expire_seconds', sa.Integer(), nullable=True),
        sa.Column('enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('start_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('end_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('max_runs', sa.Integer(), nullable=True),
        sa.Column('one_off', sa.Boolean(), server_default=sa.text('false'), nullable=False),
        sa.Column('total_run_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('misfire_policy', sa.String(length=16), server_default=sa.text("'coalesce'"), nullable=False),
        sa.Column('misfire_grace_seconds', sa.Integer(), server_default=sa.text('60'), nullable=False),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('source', sa.String(length=8), server_default=sa.text("'api'"), nullable=False),
        sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
        sa.Column('planned_version', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("kind IN ('interval', 'crontab', 'clocked')", name=op.f('ck_task_schedule_kind')),
        sa.CheckConstraint(
            "misfire_policy IN ('skip', 'coalesce', 'catch_up')", name=op.f('ck_task_schedule_misfire_policy')
        ),
        sa.CheckConstraint("source IN ('api', 'code')", name=op.f('ck_task_schedule_source')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_schedule')),
        sa.UniqueConstraint('name', name='uq_task_schedule_name'),
    )
    op.create_index(
        'ix_task_schedule_moved',
        'task_schedule',
        ['id'],
        unique=False,
        postgresql_where=sa.text('version <> planned_version'),
    )
    op.create_index('ix_task_schedule_next_run_at', 'task_schedule', ['next_run_at'], unique=False)
    op.create_table(
        'task_schedule_run',
        sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('schedule_id', sa.BigInteger(), nullable=False),
        sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=False),
        sa.Column('trigger', sa.String(length=8), server_default=sa.text("'beat'"), nullable=False),
        sa.Column('task_id', sa.String(length=155), nullable=False),
        sa.Column('claimed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("trigger IN ('beat', 'manual')", name=op.f('ck_task_schedule_run_trigger')),
        sa.ForeignKeyConstraint(
            ['schedule_id'],
            ['task_schedule.id'],
            name=op.f('fk_task_schedule_run_schedule_id_task_schedule'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_task_schedule_run')),
        sa.UniqueConstraint('schedule_id', 'scheduled_for', name='uq_task_schedule_run_schedule_id_scheduled_for'),
    )
    op.create_index('ix_task_schedule_run_dispatched_at', 'task_schedule_run', ['dispatched_at'], unique=False)
    op.create_index(
        'ix_task_schedule_run_undispatched',
        'task_schedule_run',
        ['claimed_at'],
        unique=False,
        postgresql_where=sa.text('dispatched_at IS NULL'),
    )
    op.execute(TOUCH_FUNCTION)
    op.execute(NOTIFY_FUNCTION)
    op.execute(
        'CREATE TRIGGER fba_task_schedule_touch_v1 BEFORE UPDATE ON task_schedule '
        'FOR EACH ROW EXECUTE FUNCTION fba_task_schedule_touch_v1()'
    )
    op.execute(
        'CREATE TRIGGER fba_task_schedule_notify_v1 AFTER INSERT OR UPDATE OR DELETE ON task_schedule '
        'FOR EACH ROW EXECUTE FUNCTION fba_task_schedule_notify_v1()'
    )


def downgrade() -> None:
    op.execute('DROP TRIGGER fba_task_schedule_notify_v1 ON task_schedule')
    op.execute('DROP TRIGGER fba_task_schedule_touch_v1 ON task_schedule')
    op.execute('DROP FUNCTION fba_task_schedule_notify_v1()')
    op.execute('DROP FUNCTION fba_task_schedule_touch_v1()')
    op.drop_index(
        'ix_task_schedule_run_undispatched',
        table_name='task_schedule_run',
        postgresql_where=sa.text('dispatched_at IS NULL'),
    )
    op.drop_index('ix_task_schedule_run_dispatched_at', table_name='task_schedule_run')
    op.drop_table('task_schedule_run')
    op.drop_index('ix_task_schedule_next_run_at', table_name='task_schedule')
    op.drop_index(
        'ix_task_schedule_moved', table_name='task_schedule', postgresql_where=sa.text('version <> planned_version')
    )
    op.drop_table('task_schedule')
