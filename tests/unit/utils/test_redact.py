import traceback

import pytest

from backend.app.task.utils.redact import (
    MASK,
    REPR_MAX,
    call_reprs,
    is_secret_name,
    redact,
    redact_call,
    redact_repr,
    restore_masked,
    scrub_text,
    secret_values,
)
from backend.app.task.utils.scrub import scrub_exception

SECRET_NAMES = [
    'password', 'Password', 'db_pwd', 'smtp_pass', 'passwd', 'password2', 'passphrase',
    'token', 'access_token', 'refreshToken', 'X-Auth-Token', 'auth', 'authorization', 'oauth',
    'api_key', 'apiKey', 'APIKey', 'api-key', 'access_key', 'AWS_SECRET_ACCESS_KEY', 'private_key', 'privateKey',
    'client_secret', 'secret', 'cookie', 'set-cookie', 'session', 'session_id', 'sessionId', 'user_session',
    'cvv', 'cvv2', 'cvc', 'pin', 'userPIN', 'pin_code', 'card', 'card_number', 'Card_Number', 'creditCard',
    'credential', 'credentials', 'signature', 'webhook_signature', 'otp', 'totp_code', 'ssn', 'iban',
    'bearer', 'jwt', 'salt', 'csrf_token',
]  # fmt: skip
PLAIN_NAMES = [
    'user', 'email', 'spinner', 'shipping', 'pinned', 'author', 'authored_by', 'is_authenticated',
    'passenger', 'compass', 'bypass', 'session_count', 'token_type', 'pin_length', 'auth_timeout',
    'card_count', 'sessions_ttl', 'keyboard', 'key', 'cache_key', 'idempotency_key', 'private', 'salted_hash_algo',
    'n', '', '123',
]  # fmt: skip


@pytest.mark.parametrize('name', SECRET_NAMES)
def test_secret_looking_names_are_recognised(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize('name', PLAIN_NAMES)
def test_names_that_only_contain_a_secret_word_or_describe_a_secret_are_not(name: str) -> None:
    assert not is_secret_name(name)


def test_redact_masks_secret_keys_at_any_depth() -> None:
    value = {'user': 'ann', 'password': 'x', 'nested': [{'api_key': 'k', 'Card_Number': '4111'}], 'token': None}
    assert redact(value) == {
        'user': 'ann',
        'password': MASK,
        'nested': [{'api_key': MASK, 'Card_Number': MASK}],
        'token': MASK,
    }


def test_redact_call_masks_positional_arguments_by_parameter_name() -> None:
    args, kwargs = redact_call(['email', 'password'], ('a@b.c', 'secret'), {'client_secret': 's', 'n': 1})
    assert args == ['a@b.c', MASK]
    assert kwargs == {'client_secret': MASK, 'n': 1}


def test_redact_call_of_an_unknown_task_masks_every_positional_argument() -> None:
    assert redact_call(None, ('a', 2), {'n': 1, 'pwd': 'x'}) == ([MASK, MASK], {'n': 1, 'pwd': MASK})


def test_call_reprs_are_masked_and_cut_like_celery() -> None:
    args_repr, kwargs_repr = call_reprs(['user', 'pin'], ['ann', '1234'], {'session': 'abcd', 'big': 'x' * 5000})
    assert args_repr == "['ann', '***']"
    assert kwargs_repr.startswith("{'session': '***', 'big': 'xxx")
    assert len(kwargs_repr) == REPR_MAX and kwargs_repr.endswith('...')


def test_redact_repr_masks_a_result_that_parses_and_hides_one_that_does_not() -> None:
    assert redact_repr("{'token': 'tok-123456', 'user': 'ann'}") == "{'token': '***', 'user': 'ann'}"
    assert redact_repr("'just text'") == "'just text'"
    assert redact_repr("{'token': 'tok-1234...") == MASK
    assert redact_repr('datetime.datetime(2030, 1, 1)') == 'datetime.datetime(2030, 1, 1)'
    assert redact_repr({'pwd': 'x'}) == "{'pwd': '***'}"


def test_secret_values_collects_the_text_of_masked_values_long_enough_to_find() -> None:
    values = secret_values(
        ['user', 'password'],
        ['ann', 'hunter22'],
        {'api_key': 12345678, 'pin': '12', 'opts': {'cookie': ['c-123456']}, 'ok': True, 'n': 'visible'},
    )
    assert values == {'hunter22', '12345678', 'c-123456'}


def test_scrub_text_replaces_longest_values_first() -> None:
    assert scrub_text('bad hunter22 and hunter2', {'hunter2', 'hunter22'}) == 'bad *** and ***'


def test_scrub_exception_reaches_args_attributes_notes_and_the_exceptions_behind() -> None:
    class Refused(Exception):
        def __init__(self, detail: str) -> None:
            super().__init__('refused')
            self.detail = detail

        def __str__(self) -> str:
            return f'refused: {self.detail}'

    secret = 'hunter22'
    try:
        try:
            raise KeyError(secret)
        except KeyError as cause:
            error = Refused(f'pwd {secret}')
            error.add_note(f'tried {secret}')
            raise error from cause
    except Refused as raised:
        scrub_exception(raised, ['password'], [secret], {})
        text = ''.join(traceback.format_exception(raised))
    assert secret not in text and "KeyError: '***'" in text and 'refused: pwd ***' in text and 'tried ***' in text


def test_restore_masked_puts_back_only_secrets_still_masked() -> None:
    real = (['ann', 'hunter22'], {'api_key': 'k-123456', 'nested': {'token': 't-99999'}, 'note': 'x'})
    shown = (['bob', MASK], {'api_key': MASK, 'nested': {'token': 'new-token'}, 'note': MASK})
    assert restore_masked(['user', 'password'], shown, real) == (
        ['bob', 'hunter22'],
        {'api_key': 'k-123456', 'nested': {'token': 'new-token'}, 'note': MASK},
    )


def test_restore_masked_of_an_unknown_task_treats_every_positional_as_secret() -> None:
    assert restore_masked(None, ([MASK, 'b'], {}), (['a1', 'b1'], {})) == (['a1', 'b'], {})
