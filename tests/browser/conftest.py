"""The console in a real browser: `fba api` over TCP, Debian's chromium headless through Playwright.

Each test gets a fresh browser context and leaves a screenshot in
`.artifacts/<run>/` (printed at the end of the run), whatever its outcome.
"""

import os
import shutil
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.api import TOKEN
from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, LAPTOP, sign_in
from tests.support.processes import Spawned, free_port, spawn, wait_for_http


@pytest.fixture(scope='module')
def console_url() -> Iterator[str]:
    """Base URL of `fba api` on a free port, with this run's database and broker and a known token."""
    port = free_port()
    argv = [sys.executable, '-m', 'backend.cli', 'api', '--host', '127.0.0.1', '--port', str(port)]
    server: Spawned = spawn('console-api', argv, env={**os.environ, 'API_TOKENS': TOKEN})
    try:
        wait_for_http(server, f'http://127.0.0.1:{port}/console/sign-in', timeout=60)
        yield f'http://127.0.0.1:{port}'
    finally:
        server.stop()


@pytest.fixture(scope='module')
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope='module')
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = shutil.which('chromium')
    if executable is None:
        pytest.fail("Debian's chromium is not installed; run scripts/browser.sh (make test does).")
    launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield launched
    launched.close()
    if ARTIFACTS.exists():
        print(f'\nbrowser screenshots: {ARTIFACTS}')


@pytest.fixture
def page(browser: Browser, console_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(base_url=console_url, viewport=LAPTOP)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=ARTIFACTS / f'{request.node.name}.png', full_page=True)
    context.close()


@pytest.fixture
def signed_in(page: Page) -> Page:
    sign_in(page)
    return page
