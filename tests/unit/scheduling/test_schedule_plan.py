"""When schedules fire: first runs, bounds, and the misfire policies after downtime (pure, no I/O)."""

from datetime import UTC, datetime, timedelta

import pytest
from celery import Celery
from kombu import Queue

from backend.app.task.errors import InvalidSchedule, TaskError
from backend.app.task.scheduling.plan import Timing, check_send_fields, plan_claim, send_options, slot_task_id

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def every_minute(**overrides: object) -> Timing:
    return Timing(kind='interval', interval_every=1, interval_period='minutes', **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ('timing', 'message'),
    [
        (Timing(kind='interval', interval_every=-5, interval_period='seconds'), 'positive whole number, not -5'),
        (Timing(kind='interval', interval_every=0, interval_period='seconds'), 'positive whole number, not 0'),
        (Timing(kind='crontab', crontab='0 0 31 2 *'), 'never fires'),
        (Timing(kind='crontab', crontab='* * *'), 'must have 5 fields'),
        (Timing(kind='crontab', crontab='* * * * *', timezone='Nowhere/Land'), 'not an IANA zone'),
        (Timing(kind='clocked'), 'needs one instant'),
        (every_minute(start_at=NOW, end_at=NOW - MINUTE), 'must be after start_at'),
        (every_minute(max_runs=0), 'max_runs must be at least 1'),
        (Timing(kind='interval', interval_every=2**31 - 1, interval_period='days'), 'at most 100 years'),
    ],
)
def test_validate_refuses_a_spec_that_cannot_run(timing: Timing, message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        timing.validate()


def test_first_run_of_an_interval_is_one_period_from_now_or_aligned_on_start_at() -> None:
    assert every_minute().first_run(NOW) == NOW + MINUTE
    assert every_minute(start_at=NOW + 5 * MINUTE).first_run(NOW) == NOW + 5 * MINUTE
    aligned = every_minute(start_at=NOW - timedelta(seconds=90))
    assert aligned.first_run(NOW) == NOW + timedelta(seconds=30)


def test_first_run_respects_end_at_max_runs_and_a_clocked_instant() -> None:
    assert every_minute(end_at=NOW + timedelta(seconds=30)).first_run(NOW) is None
    assert every_minute(max_runs=3).first_run(NOW, total_run_count=3) is None
    clocked = Timing(kind='clocked', clocked_at=NOW - MINUTE)
    assert clocked.first_run(NOW) == NOW - MINUTE
    assert clocked.first_run(NOW, total_run_count=1) is None


def test_first_run_of_a_crontab_waits_for_start_at() -> None:
    timing = Timing(kind='crontab', crontab='0 * * * *', start_at=NOW + timedelta(hours=2))
    assert timing.first_run(NOW) == NOW + timedelta(hours=2)


def test_plan_claim_on_time_sends_the_slot_and_moves_to_the_next() -> None:
    claim = plan_claim(every_minute(), NOW, NOW + timedelta(seconds=1), 0, 100)
    assert (claim.slots, claim.next_run_at, claim.enabled) == ([NOW], NOW + MINUTE, True)


def test_plan_claim_skip_drops_a_slot_later_than_the_grace() -> None:
    # Given a schedule due 10 minutes ago, with a 60 s grace
    timing = every_minute(misfire_policy='skip', misfire_grace_seconds=60)
    # When beat claims it now
    claim = plan_claim(timing, NOW - 10 * MINUTE, NOW, 0, 100)
    # Then nothing is sent and the next run is the next future slot
    assert claim.slots == []
    assert claim.next_run_at == NOW + MINUTE


def test_plan_claim_coalesce_sends_once_for_all_missed_slots() -> None:
    claim = plan_claim(every_minute(misfire_policy='coalesce'), NOW - 10 * MINUTE, NOW, 0, 100)
    assert claim.slots == [NOW - 10 * MINUTE]
    assert claim.next_run_at == NOW + MINUTE


def test_plan_claim_catch_up_sends_each_missed_slot_up_to_the_limit() -> None:
    timing = every_minute(misfire_policy='catch_up', start_at=NOW - timedelta(hours=1))
    claim = plan_claim(timing, NOW - 10 * MINUTE, NOW, 0, 100)
    assert claim.slots == [NOW - n * MINUTE for n in range(10, -1, -1)]
    assert claim.next_run_at == NOW + MINUTE
    bounded = plan_claim(timing, NOW - 10 * MINUTE, NOW, 0, 3)
    assert bounded.slots == [NOW - 10 * MINUTE, NOW - 9 * MINUTE, NOW - 8 * MINUTE]
    assert bounded.next_run_at == NOW + MINUTE


def test_plan_claim_stops_at_max_runs_and_end_at() -> None:
    timing = every_minute(misfire_policy='catch_up', max_runs=5, start_at=NOW - timedelta(hours=1))
    claim = plan_claim(timing, NOW - 10 * MINUTE, NOW, 3, 100)
    assert (len(claim.slots), claim.next_run_at) == (2, None)
    ended = plan_claim(every_minute(end_at=NOW + timedelta(seconds=30)), NOW, NOW, 0, 100)
    assert (ended.slots, ended.next_run_at) == ([NOW], None)


def test_plan_claim_disables_a_one_off_after_its_run() -> None:
    claim = plan_claim(every_minute(one_off=True, misfire_policy='catch_up'), NOW - 5 * MINUTE, NOW, 0, 100)
    assert (claim.slots, claim.next_run_at, claim.enabled) == ([NOW - 5 * MINUTE], None, False)


def test_plan_claim_of_a_clocked_schedule_finishes_it() -> None:
    claim = plan_claim(Timing(kind='clocked', clocked_at=NOW), NOW, NOW, 0, 100)
    assert (claim.slots, claim.next_run_at, claim.enabled) == ([NOW], None, True)


def test_slot_task_id_and_send_options_come_from_the_row() -> None:
    assert slot_task_id(7, NOW) == f'7:{int(NOW.timestamp() * 1000)}'
    row = {'queue': 'q', 'routing_key': None, 'priority': 3, 'expire_seconds': 60}
    assert send_options(row) == {'queue': 'q', 'priority': 3, 'expires': 60}


def test_no_slot_past_the_year_9999_rather_than_an_overflow() -> None:
    last = datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC)
    assert every_minute().slot_after(last) is None
    assert every_minute(start_at=last - MINUTE).slot_after(last) is None
    assert Timing(kind='crontab', crontab='0 0 1 1 *').slot_after(last - 3 * MINUTE) is None
    assert plan_claim(every_minute(), last, last, 0, 10).next_run_at is None


@pytest.mark.parametrize(
    ('fields', 'message'),
    [
        ({'args': 'one'}, 'args must be a JSON array, not str'),
        ({'kwargs': [1]}, 'kwargs must be a JSON object, not list'),
        ({'priority': 10}, 'priority must be within 0-9, not 10'),
        ({'priority': -1}, 'priority must be within 0-9'),
        ({'expire_seconds': 0}, 'expire_seconds must be positive'),
        ({'queue': 'elsewhere'}, "queue: 'elsewhere' is not declared in TASK_QUEUES (default)"),
    ],
)
def test_check_send_fields_refuses_what_no_message_can_carry(fields: dict[str, object], message: str) -> None:
    app = Celery(set_as_current=False)
    app.conf.task_queues = [Queue('default')]
    row = {'args': [], 'kwargs': {}, 'queue': 'default', 'priority': 9, 'expire_seconds': 60}
    check_send_fields(app, row)
    with pytest.raises(TaskError) as refused:
        check_send_fields(app, {**row, **fields})
    assert message in refused.value.message
