"""The newsletter's HTML in a real headless Chromium, at a phone's width and at full width.

Screenshots go to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feeder.mailer import current_issue
from feeder.newsletter import render_issue

from .conftest import NewsState

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-wqy-microhei)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.mark.parametrize("width", [375, 600])
def test_the_issue_reads_at_phone_and_full_width(news: NewsState, browser: Any, width: int) -> None:
    rendered = render_issue(
        current_issue(news.store, "2026-W05", news.config.tz), news.tags, news.config
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 800})
    # Everything the page needs is inline; refuse any request so nothing leaves the machine.
    page.route("**/*", lambda route: route.abort())
    page.set_content(rendered.html, wait_until="load")

    headings = page.locator("h2").all_inner_texts()
    assert headings == ["政策", "科研", "产业", "其他"]
    assert page.locator(".preheader").is_hidden()
    card = page.locator("table.card").bounding_box()
    assert card is not None and card["width"] <= 600
    # Nothing sticks out sideways, however long a title or link is.
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width
    # Every article title is shown, as a link to the original.
    titles = page.locator("h3 a").all_inner_texts()
    assert len(titles) == 22
    page.screenshot(path=str(ARTIFACTS / f"newsletter-{width}.png"), full_page=True)
    # On a wide screen the column stops at 600 px.
    page.set_viewport_size({"width": 1000, "height": 800})
    wide = page.locator("table.card").bounding_box()
    assert wide is not None and wide["width"] == 600
    page.close()
