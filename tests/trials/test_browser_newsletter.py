"""The newsletter's HTML in a real headless Chromium, at a phone's width and at full width.

Screenshots go to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from typing import Any

import pytest

from feeder.newsletter.preview import current_issue
from feeder.newsletter.render import render_issue
from tests.conftest import ARTIFACTS, NewsState

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [375, 600])
def test_the_issue_reads_at_phone_and_full_width(news: NewsState, browser: Any, width: int) -> None:
    rendered = render_issue(
        current_issue(news.store, "2026-W05", news.config.tz), news.tags, news.config
    )
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
