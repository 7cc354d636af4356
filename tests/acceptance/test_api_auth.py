"""Every route but `/monitoring/live|health` needs a valid bearer token; tokens never reach a log line."""

import logging
import re

import pytest
from pydantic import SecretStr

from backend.core.conf import SettingsError, load_settings
from backend.main import create_app
from tests.support.api import OTHER_TOKEN, TOKEN, api_settings, client_for

APP = create_app(api_settings())
OPEN = ('/api/v1/monitoring/live', '/api/v1/monitoring/health')
PROTECTED = sorted(
    (method.upper(), re.sub(r'\{\w+\}', '1', path))
    for path, operations in APP.openapi()['paths'].items()
    for method in operations
    if path not in OPEN
)


@pytest.mark.parametrize(('method', 'path'), PROTECTED)
@pytest.mark.parametrize('token', [None, 'wrong-token-0123456789abcdef', TOKEN[:-1], ''])
async def test_protected_route_without_a_valid_token_is_401(
    method: str, path: str, token: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with client_for(APP, token=token) as client:
        response = await client.request(method, path, json={})
    assert response.status_code == 401, response.text
    assert response.headers['www-authenticate'] == 'Bearer'
    assert response.json()['code'] == 401
    assert not token or token not in caplog.text


def test_protected_routes_cover_the_whole_api() -> None:
    assert len(PROTECTED) >= 9


@pytest.mark.broker
@pytest.mark.parametrize('token', [TOKEN, OTHER_TOKEN])
async def test_every_configured_token_is_accepted(token: str) -> None:
    async with client_for(APP, token=token) as client:
        assert (await client.get('/api/v1/tasks')).status_code == 200


async def test_no_token_is_accepted_when_none_is_configured() -> None:
    app = create_app(api_settings(API_TOKENS=SecretStr('')))
    async with client_for(app, token=None) as client:
        response = await client.get('/api/v1/tasks', headers={'Authorization': 'Bearer '})
    assert response.status_code == 401


async def test_openapi_documents_the_bearer_scheme() -> None:
    async with client_for(APP, token=None) as client:
        schema = (await client.get('/openapi.json')).json()
    assert schema['components']['securitySchemes']['HTTPBearer']['scheme'] == 'bearer'
    assert not [path for path in OPEN if 'security' in schema['paths'][path]['get']]
    assert schema['paths']['/api/v1/tasks']['get']['security'] == [{'HTTPBearer': []}]


def test_settings_refuse_short_tokens_without_showing_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('API_TOKENS', f'short-secret,{TOKEN}')
    with pytest.raises(
        SettingsError, match=r'API_TOKENS=\*\*\*: every comma-separated token needs at least 16'
    ) as error:
        load_settings()
    assert 'short-secret' not in str(error.value)


@pytest.mark.parametrize('docs', [True, False])
async def test_api_docs_setting_serves_or_hides_the_schema_and_its_pages(docs: bool) -> None:
    # Given the API with API_DOCS on (the default) or off (as docker-compose.yml runs it)
    app = create_app(api_settings(API_DOCS=docs))
    async with client_for(app, token=TOKEN) as client:
        statuses = {path: (await client.get(path)).status_code for path in ('/docs', '/redoc', '/openapi.json')}
    # Then the pages and the schema answer, or are not there at all (even with a valid token)
    assert statuses == dict.fromkeys(statuses, 200 if docs else 404)
