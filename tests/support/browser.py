"""Browser test helpers: where screenshots go, how chromium is launched, signing in with the keyboard."""

import time
from pathlib import Path
from urllib.parse import quote, urlsplit

from playwright.sync_api import Page, expect

from tests.support.api import TOKEN

#: This run's screenshots (git-ignored); one folder per run.
ARTIFACTS = Path(__file__).resolve().parents[2] / '.artifacts' / time.strftime('browser-%Y%m%d-%H%M%S')
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking']
LAPTOP = {'width': 1280, 'height': 860}


def snapshot(page: Page, name: str) -> Path:
    """A screenshot of the page as it is now, kept with the run's artifacts (the docs' pictures come from here)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f'{name}.png'
    page.screenshot(path=path)
    return path


def sign_in(page: Page, path: str = '/console') -> None:
    """Sign in with the keyboard alone: the token field has focus, Enter submits."""
    page.goto(f'/console/sign-in?next={quote(path, safe="")}')
    expect(page.get_by_label('API token')).to_be_focused()
    page.keyboard.type(TOKEN)
    page.keyboard.press('Enter')
    page.wait_for_url(lambda url: urlsplit(url).path == path)
