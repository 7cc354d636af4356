from backend.app.task.utils.redact import MASK, redact, redact_call


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
