"""The one check of values the broker and PostgreSQL must carry, and the repr fallback where refusing is too late."""

import json
from typing import Any

import pytest

from backend.app.task.errors import PoisonValue
from backend.app.task.utils.json_safety import MAX_DEPTH, check_storable, find_poison, storable_copy, storable_text


def nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ('value', 'where', 'problem'),
    [
        ([1, float('nan')], 'args[1]', 'is not a finite number (nan)'),
        ({'a': {'b': [float('inf')]}}, 'args.a.b[0]', 'is not a finite number (inf)'),
        ([float('-inf')], 'args[0]', 'is not a finite number (-inf)'),
        ([10**400], 'args[0]', 'beyond the double-precision range'),
        ([-(10**309)], 'args[0]', 'beyond the double-precision range'),
        (['a\x00b'], 'args[0]', 'NUL character'),
        ({'a\x00': 1}, "args['a\\x00']", 'is a key that contains the NUL character'),
        (['x\ud800'], 'args[0]', "lone UTF-16 surrogate ('\\ud800')"),
        ({'k': '\udc00'}, 'args.k', 'lone UTF-16 surrogate'),
        ((b'\x00',), 'args[0]', 'NUL byte'),
        (nested(MAX_DEPTH + 1), 'args' + '[0]' * MAX_DEPTH, f'nested deeper than {MAX_DEPTH} levels'),
    ],
)
def test_poison_is_found_and_named_by_its_path(value: Any, where: str, problem: str) -> None:
    found = find_poison(value, 'args')
    assert found is not None and found[0] == where and problem in found[1]
    with pytest.raises(PoisonValue, match='the broker and PostgreSQL cannot carry it'):
        check_storable(value, 'args')


@pytest.mark.parametrize(
    'value',
    [
        None,
        [1, 2.5, -0.0, 5e-324, 1.7976931348623157e308, True, 'text', 'é😀', '\\u0000', b'bytes'],
        {'nested': {'list': [{'x': 2**1000}]}},
        {1: 'int keys become strings'},
        nested(MAX_DEPTH),
    ],
)
def test_values_json_and_postgresql_carry_pass(value: Any) -> None:
    assert find_poison(value) is None
    check_storable(value)
    assert storable_copy(value) is value


def test_a_huge_dict_is_checked_without_recursion() -> None:
    wide = {str(i): [i, float(i)] for i in range(100_000)}
    wide['99999'][1] = float('nan')
    assert find_poison(wide, 'kwargs') == ("kwargs['99999'][1]", 'is not a finite number (nan)')


def test_storable_copy_replaces_only_the_poison_by_its_repr() -> None:
    value = {'ok': [1, 'fine'], 'bad': [float('nan'), 'a\x00', '\ud800', 10**5000], 'k\x00': 2}
    copy = storable_copy(value)
    assert copy == {'ok': [1, 'fine'], 'bad': ['nan', "'a\\x00'", "'\\ud800'", '<int of 16610 bits>'], "'k\\x00'": 2}
    assert find_poison(copy) is None
    json.dumps(copy, allow_nan=False).encode('utf-8')  # strict JSON, valid UTF-8


def test_storable_text_spells_out_nul_and_lone_surrogates() -> None:
    assert storable_text('plain') == 'plain'
    assert storable_text('a\x00b\ud800é') == 'a\\x00b\\ud800é'
