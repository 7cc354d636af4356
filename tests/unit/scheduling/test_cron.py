"""Crontab maths: parsing errors, agreement with croniter, and our DST rules on real tzdata transitions."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.app.task.errors import InvalidSchedule
from backend.app.task.scheduling.cron import next_fire, parse, zone

BERLIN, NEW_YORK, SYDNEY = ZoneInfo('Europe/Berlin'), ZoneInfo('America/New_York'), ZoneInfo('Australia/Sydney')


def fires(expression: str, tz: ZoneInfo, start: datetime, count: int) -> list[str]:
    cron, times, after = parse(expression), [], start
    for _ in range(count):
        after = next_fire(cron, tz, after)
        times.append(after.astimezone(tz).isoformat())
    return times


@pytest.mark.parametrize(
    ('expression', 'message'),
    [
        ('* * * *', 'must have 5 fields'),
        ('60 * * * *', "minute field '60': values must be within 0-59"),
        ('* 24 * * *', "hour field '24'"),
        ('* * 0 * *', "day of month field '0'"),
        ('* * * 13 *', "month field '13'"),
        ('* * * * 8', "day of week field '8'"),
        ('*/0 * * * *', 'the step must be at least 1'),
        ('5-1 * * * *', 'in order'),
        ('x * * * *', "'x' is not a number"),
        ('* * * foo *', "'foo' is not a number"),
        ('\u0663 * * * *', "'\u0663' is not a number"),  # Arabic-Indic 3: str.isdigit() and int() take it
        ('0 \uff13 * * *', "hour field '\uff13'"),  # fullwidth 3
        ('\u00b2 * * * *', "'\u00b2' is not a number"),  # superscript 2: isdigit() but int() fails
    ],
)
def test_parse_refuses_a_bad_field_naming_it(expression: str, message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        parse(expression)


def test_parse_reads_names_macros_and_sunday_as_seven() -> None:
    assert parse('0 0 * jan-mar sun').months == frozenset({1, 2, 3})
    assert parse('0 0 * * 7').weekdays == frozenset({0})
    assert parse('@hourly') == parse('0 * * * *')


def test_day_fields_combine_with_or_only_when_both_are_restricted() -> None:
    saturday = datetime(2000, 1, 1, tzinfo=UTC)
    assert next_fire(parse('0 0 3 * 0'), UTC, saturday) == datetime(2000, 1, 2, tzinfo=UTC)  # Sunday, or the 3rd
    assert next_fire(parse('0 0 */2 * 0'), UTC, saturday) == datetime(2000, 1, 9, tzinfo=UTC)  # odd day AND Sunday


@pytest.mark.parametrize('name', ['Mars/Olympus', 'America', '../etc/passwd', '', 'x' * 300])
def test_zone_refuses_what_is_not_an_iana_zone(name: str) -> None:
    with pytest.raises(InvalidSchedule, match='is not an IANA zone'):
        zone(name)


def test_next_fire_is_none_for_a_date_that_never_comes() -> None:
    assert next_fire(parse('0 0 30 2 *'), UTC, datetime(2024, 1, 1, tzinfo=UTC)) is None


def _span(pair: tuple[int, int]) -> str:
    # croniter mis-reads a one-value range such as `3-3`, so generate those as a plain number.
    low, high = sorted(pair)
    return f'{low}-{high}' if low < high else str(low)


def _field(low: int, high: int, *, star_steps: bool = True) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    single = st.one_of(
        number.map(str),
        st.tuples(number, number).map(_span),
        st.tuples(number, number, st.integers(1, 10)).map(
            lambda p: f'{_span(p[:2])}/{p[2]}' if p[0] != p[1] else str(p[0])
        ),
    )
    # `*` and `*/n` stand alone: how a star inside a list restricts the day fields differs between implementations.
    steps = st.integers(1, high - low + 1).map(lambda step: f'*/{step}')
    stars = st.one_of(st.just('*'), steps) if star_steps else st.just('*')
    return st.one_of(stars, st.lists(single, min_size=1, max_size=3).map(','.join))


# `*/n` in a day field counts as a star for the day-or rule in Vixie cron (and here) but not in croniter.
EXPRESSIONS = st.tuples(
    _field(0, 59), _field(0, 23), _field(1, 31, star_steps=False), _field(1, 12), _field(0, 6, star_steps=False)
).map(' '.join)
INSTANTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))


@settings(max_examples=400, deadline=None)
@given(expression=EXPRESSIONS, after=INSTANTS, tz=st.sampled_from([UTC, ZoneInfo('Asia/Tokyo')]))
def test_next_fire_agrees_with_croniter_where_there_is_no_dst(expression: str, after: datetime, tz: ZoneInfo) -> None:
    theirs = croniter(expression, after.astimezone(tz)).get_next(datetime)
    assert next_fire(parse(expression), tz, after) == theirs.astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(expression=EXPRESSIONS, after=INSTANTS)
def test_next_fire_in_a_dst_zone_agrees_with_croniter_away_from_transitions(expression: str, after: datetime) -> None:
    ours = next_fire(parse(expression), BERLIN, after)
    theirs = croniter(expression, after.astimezone(BERLIN)).get_next(datetime).astimezone(UTC)
    spans = (after, ours, theirs)
    near_transition = any(
        (t - timedelta(hours=3)).astimezone(BERLIN).utcoffset()
        != (t + timedelta(hours=3)).astimezone(BERLIN).utcoffset()
        for t in spans
        if t is not None
    )
    if not near_transition:
        assert ours == theirs


@pytest.mark.parametrize(
    ('tz', 'start', 'expected'),
    [
        # Berlin 2024-03-31 02:00 -> 03:00: 02:30 does not exist, it fires at 03:00 CEST.
        (BERLIN, datetime(2024, 3, 30, 12, tzinfo=UTC), ['2024-03-31T03:00:00+02:00', '2024-04-01T02:30:00+02:00']),
        # New York 2024-03-10 02:00 -> 03:00.
        (NEW_YORK, datetime(2024, 3, 9, 12, tzinfo=UTC), ['2024-03-10T03:00:00-04:00', '2024-03-11T02:30:00-04:00']),
        # Sydney 2024-10-06 02:00 -> 03:00.
        (SYDNEY, datetime(2024, 10, 5, 0, tzinfo=UTC), ['2024-10-06T03:00:00+11:00', '2024-10-07T02:30:00+11:00']),
    ],
)
def test_next_fire_runs_a_missing_local_time_at_the_end_of_the_gap(
    tz: ZoneInfo, start: datetime, expected: list
) -> None:
    assert fires('30 2 * * *', tz, start, 2) == expected


@pytest.mark.parametrize(
    ('tz', 'start', 'expected'),
    [
        # Berlin 2024-10-27 03:00 CEST -> 02:00 CET: 02:30 happens twice, fires at the first.
        (BERLIN, datetime(2024, 10, 26, 12, tzinfo=UTC), ['2024-10-27T02:30:00+02:00', '2024-10-28T02:30:00+01:00']),
        # New York 2024-11-03 02:00 EDT -> 01:00 EST: 01:30 twice.
        (NEW_YORK, datetime(2024, 11, 2, 12, tzinfo=UTC), ['2024-11-03T01:30:00-04:00', '2024-11-04T01:30:00-05:00']),
        # Sydney 2024-04-07 03:00 AEDT -> 02:00 AEST: 02:30 twice.
        (SYDNEY, datetime(2024, 4, 6, 0, tzinfo=UTC), ['2024-04-07T02:30:00+11:00', '2024-04-08T02:30:00+10:00']),
    ],
)
def test_next_fire_runs_a_fixed_repeated_local_time_once(tz: ZoneInfo, start: datetime, expected: list) -> None:
    expression = '30 1 * * *' if tz is NEW_YORK else '30 2 * * *'
    assert fires(expression, tz, start, 2) == expected


@pytest.mark.parametrize(
    ('tz', 'start', 'expected'),
    [
        (
            BERLIN,
            datetime(2024, 10, 26, 23, 30, tzinfo=UTC),
            ['2024-10-27T02:00:00+02:00', '2024-10-27T02:00:00+01:00', '2024-10-27T03:00:00+01:00'],
        ),
        (
            NEW_YORK,
            datetime(2024, 11, 3, 4, 30, tzinfo=UTC),
            ['2024-11-03T01:00:00-04:00', '2024-11-03T01:00:00-05:00', '2024-11-03T02:00:00-05:00'],
        ),
        (
            SYDNEY,
            datetime(2024, 4, 6, 14, 30, tzinfo=UTC),
            ['2024-04-07T02:00:00+11:00', '2024-04-07T02:00:00+10:00', '2024-04-07T03:00:00+10:00'],
        ),
    ],
)
def test_next_fire_runs_a_wildcard_hour_in_both_repeated_hours(tz: ZoneInfo, start: datetime, expected: list) -> None:
    assert fires('0 * * * *', tz, start, 3) == expected


def test_next_fire_runs_a_wildcard_hour_once_across_the_spring_gap() -> None:
    start = datetime(2024, 3, 30, 23, 30, tzinfo=UTC)  # 00:30 CET
    assert fires('0 * * * *', BERLIN, start, 3) == [
        '2024-03-31T01:00:00+01:00',
        '2024-03-31T03:00:00+02:00',
        '2024-03-31T04:00:00+02:00',
    ]
