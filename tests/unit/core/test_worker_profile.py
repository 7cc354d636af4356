"""`WORKER_PROFILE` / `fba worker --profile`: one switch for the throughput settings (no I/O)."""

from collections.abc import Iterator

import pytest

from backend.app.task.celery import celery_config
from backend.cli.pools import solo_process_count, throughput_nodes
from backend.cli.run import solo_processes
from backend.core.conf import WORKER_PROFILES, Settings, SettingsError, get_settings, load_settings


def test_default_profile_keeps_the_safe_defaults() -> None:
    settings = Settings(_env_file=None)
    assert settings.WORKER_PROFILE == 'default'
    assert (settings.CELERY_WORKER_POOL, settings.CELERY_WORKER_PREFETCH_MULTIPLIER) == ('prefork', 1)
    assert (settings.TASK_TRACK_STARTED, settings.TASK_RESULT_BATCH) == (True, 1)


def test_throughput_profile_sets_every_tuned_knob() -> None:
    settings = Settings(_env_file=None, WORKER_PROFILE='throughput')
    assert {name: getattr(settings, name) for name in WORKER_PROFILES['throughput']} == {
        'CELERY_WORKER_POOL': 'solo',
        'CELERY_WORKER_PREFETCH_MULTIPLIER': 200,
        'TASK_TRACK_STARTED': False,
        'TASK_RESULT_BATCH': 100,
    }
    config = celery_config(settings)
    assert (config['worker_pool'], config['worker_prefetch_multiplier']) == ('solo', 200)
    assert config['task_track_started'] is False
    # What the profile does not trade stays: acknowledgement after the result, redelivery of a lost worker's task.
    assert (config['task_acks_late'], config['task_reject_on_worker_lost']) == (True, True)


def test_a_setting_given_wins_over_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('WORKER_PROFILE', 'throughput')
    monkeypatch.setenv('CELERY_WORKER_PREFETCH_MULTIPLIER', '20')
    monkeypatch.setenv('TASK_TRACK_STARTED', 'true')
    settings = load_settings(None)
    assert (settings.CELERY_WORKER_PREFETCH_MULTIPLIER, settings.TASK_TRACK_STARTED) == (20, True)
    assert (settings.CELERY_WORKER_POOL, settings.TASK_RESULT_BATCH) == ('solo', 100)


def test_an_unknown_profile_stops_start_up_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('WORKER_PROFILE', 'fast')
    with pytest.raises(SettingsError) as raised:
        load_settings(None)
    assert "WORKER_PROFILE='fast': Input should be 'default' or 'throughput'" in str(raised.value)


def test_throughput_worker_runs_one_named_solo_process_per_slot() -> None:
    flags = {'--queues': 'bulk', '--hostname': 'bulk@%h', '--pool': None, '--concurrency': 2, '--time-limit': None}
    commands = solo_processes(flags, 2, 'INFO', 9100)
    assert list(commands) == ['worker-1', 'worker-2']
    first = commands['worker-1']
    assert first[1:5] == ['-m', 'backend.cli', 'worker', '--loglevel=INFO']
    assert first[5:] == [
        '--queues=bulk',
        '--hostname=bulk-1@%h',
        '--pool=solo',
        '--concurrency=1',
        '--metrics-port=9100',
    ]
    assert commands['worker-2'][-3:] == ['--pool=solo', '--concurrency=1', '--metrics-port=9101']


def test_throughput_processes_default_to_celerys_node_name_and_serve_no_metrics_when_off() -> None:
    commands = solo_processes({'--hostname': None}, 3, 'WARNING', 0)
    assert [[arg for arg in argv if arg.startswith(('--hostname', '--metrics'))] for argv in commands.values()] == [
        ['--hostname=celery-1@%h', '--metrics-port=0'],
        ['--hostname=celery-2@%h', '--metrics-port=0'],
        ['--hostname=celery-3@%h', '--metrics-port=0'],
    ]


def test_throughput_node_names_read_the_hostname_as_celery_does() -> None:
    assert throughput_nodes('up-worker-7@box', 2) == ['up-worker-7-1@box', 'up-worker-7-2@box']
    assert throughput_nodes('box', 1) == ['celery-1@box']  # no `@`: Celery reads a host
    assert throughput_nodes(None, 2) == ['celery-1@%h', 'celery-2@%h']


@pytest.fixture
def throughput_profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv('WORKER_PROFILE', 'throughput')
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures('throughput_profile')
def test_throughput_profile_runs_one_process_per_slot_unless_asked_otherwise() -> None:
    assert solo_process_count() == 2  # CELERY_WORKER_CONCURRENCY's default
    assert solo_process_count(concurrency=4) == 4
    assert solo_process_count(concurrency=1) == 0  # one solo worker, run as asked
    assert solo_process_count(pool='prefork') == 0  # the profile's other settings, in a prefork worker
