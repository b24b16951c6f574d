"""The index page in headless Chromium, served by feeder.serve, at a phone's width."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ARTIFACTS, Served, sample_articles

pytestmark = pytest.mark.browser


def test_index_page_on_a_phone(served: Served, browser: Any) -> None:
    served.state.poll(sample_articles())
    page = browser.new_page(viewport={"width": 375, "height": 800})
    try:
        response = page.goto(served.url)  # the folder: served as index.html
        assert response is not None and response.status == 200

        links = page.locator('head link[rel="alternate"][type="application/atom+xml"]')
        found = [
            (links.nth(i).get_attribute("title"), links.nth(i).get_attribute("href"))
            for i in range(links.count())
        ]
        labels = ["全部", "政策", "科研", "产业"]
        assert found == [
            (f"上海科技 · {label}", url)
            for label, url in zip(labels, served.feed_urls().values(), strict=True)
        ]
        for _, href in found:  # each advertised feed is really there
            assert page.request.get(str(href)).status == 200

        body = page.locator("body")
        assert "订阅方法" in body.inner_text()
        assert page.get_by_role("link", name="OPML 文件").get_attribute("href") == (
            served.url + "feeds.opml"
        )
        section = page.locator("section#policy")
        assert section.get_by_role("heading").inner_text().startswith("政策")
        assert section.locator("li").count() == 4
        assert "<b>标签</b>" in section.inner_text()  # shown, not interpreted
        # Readable on a phone: nothing wider than the screen, so no sideways scrolling.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        page.screenshot(path=str(ARTIFACTS / "index-375.png"), full_page=True)
    finally:
        page.close()
