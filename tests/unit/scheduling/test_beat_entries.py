"""Celery `beat_schedule` entries read as schedule rows: every shape Celery documents, and what cannot be stored."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.schedules import crontab, schedule, solar

from backend.app.task.errors import InvalidSchedule
from backend.app.task.scheduling.beat_entries import entry_fields, merged_entries, schedule_spec

#: A solar schedule without its `ephem` dependency, which only its constructor needs.
SUNSET = solar.__new__(solar)


@pytest.mark.parametrize(
    ('cron', 'text'),
    [
        (crontab(hour=0, minute=0), '0 0 * * *'),
        (crontab(), '* * * * *'),
        (crontab(minute='*/15', hour='9-17', day_of_week='mon-fri'), '0,15,30,45 9-17 * * 1-5'),
        (crontab(minute=30, hour='0,12', day_of_month='1,15', month_of_year='*/3'), '30 0,12 1,15 1,4,7,10 *'),
        (crontab(minute=5, day_of_week='sun,sat'), '5 * * * 0,6'),
    ],
)
def test_a_crontab_becomes_its_five_fields(cron: crontab, text: str) -> None:
    assert schedule_spec('c', cron) == {'kind': 'crontab', 'crontab': text}


@pytest.mark.parametrize('every', [300, 300.0, timedelta(minutes=5), schedule(300.0), schedule(timedelta(minutes=5))])
def test_seconds_timedeltas_and_schedule_objects_become_an_interval(every: Any) -> None:
    assert schedule_spec('i', every) == {'kind': 'interval', 'interval_every': 300, 'interval_period': 'seconds'}


def test_a_whole_entry_keeps_args_kwargs_and_options() -> None:
    entry = {
        'task': 'task.add',
        'schedule': 30.0,
        'args': (1, 2),
        'kwargs': {'x': 1},
        'options': {'queue': 'bulk', 'priority': 3, 'expires': 12.4, 'routing_key': 'bulk'},
    }
    assert entry_fields('adder', entry) == {
        'name': 'adder',
        'task': 'task.add',
        'args': [1, 2],
        'kwargs': {'x': 1},
        'queue': 'bulk',
        'priority': 3,
        'routing_key': 'bulk',
        'expire_seconds': 12,
        'kind': 'interval',
        'interval_every': 30,
        'interval_period': 'seconds',
    }


def test_strings_and_datetimes_stay_accepted() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    assert schedule_spec('s', '0 4 * * *') == {'kind': 'crontab', 'crontab': '0 4 * * *'}
    assert schedule_spec('d', at) == {'kind': 'clocked', 'clocked_at': at}


@pytest.mark.parametrize(
    ('entry', 'sentence'),
    [
        ({'task': 't', 'schedule': SUNSET}, "'bad': a solar schedule cannot be stored"),
        ({'task': 't', 'schedule': 0.5}, "'bad': 0.5 s is not whole seconds"),
        ({'task': 't', 'schedule': crontab(day_of_month=1, day_of_week=1)}, 'both day_of_month and day_of_week'),
        ({'task': 't', 'schedule': 5, 'options': {'exchange': 'x'}}, "'bad': option 'exchange' cannot be stored"),
        ({'task': 't', 'schedule': 5, 'options': {'expires': datetime.now(UTC)}}, "'expires' must be a positive"),
        ({'task': 't', 'schedule': 5, 'relative': True}, "'relative': True cannot be stored"),
        ({'task': 't'}, "'bad' must be a dict with a task and a schedule"),
    ],
)
def test_an_entry_that_cannot_be_stored_is_refused_naming_it(entry: dict[str, Any], sentence: str) -> None:
    with pytest.raises(InvalidSchedule, match=sentence):
        entry_fields('bad', entry)


def test_local_and_conf_entries_merge_and_a_name_defined_twice_differently_is_refused() -> None:
    local = {'a': {'task': 't', 'schedule': 5}}
    assert merged_entries(local, {'a': {'task': 't', 'schedule': 5}, 'b': {'task': 'u', 'schedule': 6}}) == {
        'a': {'task': 't', 'schedule': 5},
        'b': {'task': 'u', 'schedule': 6},
    }
    with pytest.raises(InvalidSchedule, match=r"'a' is defined both in LOCAL_BEAT_SCHEDULE and in app\.conf"):
        merged_entries(local, {'a': {'task': 't', 'schedule': 6}})
