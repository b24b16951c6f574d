"""A reader's whole way through, in a real headless Chromium at a phone's width: the index
page, the sign-up form, the confirmation mail, the preferences page (政策 only), a sent issue
holding only 政策, and the unsubscribe link in its footer.

uvicorn serves the real pages on 127.0.0.1, aiosmtpd on 127.0.0.1 receives the mail, and the
issue is sent through the facade. Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import portpicker
import pytest
from aiosmtpd.controller import Controller

from feeder.app import open_feeder
from feeder.config import Config, parse_config
from feeder.model import SubscriberStatus
from feeder.web.server import create_app, listen, serve_in_thread, url_of
from tests.conftest import ARTIFACTS, SEED_CORPUS
from tests.web.test_pages import Inbox

pytestmark = pytest.mark.browser

POLLED = datetime(2026, 2, 6, 1, 0, tzinfo=UTC)  # after the seed corpus's last day
SENT = datetime(2026, 2, 9, 0, 30, tzinfo=UTC)  # Monday 08:30 in Shanghai: W06 is not over
WEEK = "2026-W05"
READER = "reader@example.org"
WIDTH = 375


@dataclass
class Site:
    url: str
    config: Config
    inbox: Inbox
    clock: list[datetime]

    def last_mail_body(self, subtype: str) -> str:
        part = self.inbox.messages[-1].get_body((subtype,))
        assert part is not None
        return str(part.get_content())


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The seed corpus polled into out/, served with the pages, mailing to aiosmtpd."""
    inbox = Inbox()
    smtp_port = portpicker.pick_unused_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    clock = [POLLED]
    with listen("127.0.0.1", 0) as sock:
        config = parse_config(
            f'[corpus]\npath = "{SEED_CORPUS}"\n'
            f'[output]\ndir = "out"\nbase_url = "{url_of(sock)}"\n'
            '[state]\npath = "state/state.db"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\ntimeout = 5\n'
            "max_per_second = 1000\n",
            tmp_path,
        )
        with open_feeder(config, clock=lambda: clock[0]) as feeder:
            feeder.poll()
        app = create_app(config, clock=lambda: clock[0])
        with serve_in_thread(app, sock) as url:
            yield Site(url, config, inbox, clock)
    controller.stop()


def test_a_reader_signs_up_chooses_policy_receives_it_and_leaves(site: Site, browser: Any) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": 800})
    refused: list[str] = []  # what the Content-Security-Policy blocked, as Chromium reports it
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)

    def fits() -> None:
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, page.url

    # The index page links the sign-up form.
    page.goto(site.url + "index.html")
    page.get_by_role("link", name="订阅周报").click()
    page.wait_for_url(site.url + "subscribe")
    assert page.locator("h1").inner_text() == "订阅上海科技周报"
    boxes = page.get_by_role("checkbox")
    assert boxes.count() == 3 and all(boxes.nth(i).is_checked() for i in range(3))
    page.get_by_label("邮箱地址").fill(READER)
    fits()
    page.screenshot(path=str(ARTIFACTS / "web-subscribe.png"), full_page=True)
    page.get_by_role("button", name="订阅").click()
    assert page.locator("h1").inner_text() == "请查收确认邮件"

    # The confirmation mail's link activates the subscription.
    [link] = re.findall(rf"{re.escape(site.url)}confirm/\S+", site.last_mail_body("plain"))
    page.goto(link)
    assert page.locator("h1").inner_text() == "订阅成功"
    page.get_by_role("link", name="修改分类或退订").click()

    # Preferences: 政策 only.
    assert page.locator("h1").inner_text() == "订阅设置"
    page.get_by_role("checkbox", name=re.compile("^科研")).uncheck()
    page.get_by_role("checkbox", name=re.compile("^产业")).uncheck()
    page.get_by_role("button", name="保存").click()
    assert "已保存" in page.locator(".notice").inner_text()
    assert page.get_by_role("checkbox", name=re.compile("^政策")).is_checked()
    assert not page.get_by_role("checkbox", name=re.compile("^科研")).is_checked()
    fits()
    page.screenshot(path=str(ARTIFACTS / "web-preferences.png"), full_page=True)
    with open_feeder(site.config) as feeder:
        [reader] = feeder.subscribers()
    assert (reader.email, reader.tags) == (READER, ("policy",))

    # The week's issue reaches the reader with the 政策 section alone.
    site.clock[0] = SENT
    with open_feeder(site.config, clock=lambda: site.clock[0]) as feeder:
        report = feeder.send(WEEK)
    assert report.sent == 1, report
    issue = site.inbox.messages[-1]
    assert issue["To"].addresses[0].addr_spec == READER
    html = site.last_mail_body("html")
    sections = re.findall(r'<h2 class="section-title" id="([^"]+)"', html)
    assert sections == ["policy"]

    # Its footer's unsubscribe link: a page with one button, which does it.
    [unsubscribe] = re.findall(rf'href="({re.escape(site.url)}unsubscribe/[^"]+)"', html)
    assert f"<{unsubscribe}>" in issue["List-Unsubscribe"]
    page.goto(unsubscribe)
    assert page.locator("h1").inner_text() == "退订上海科技周报"
    fits()
    page.screenshot(path=str(ARTIFACTS / "web-unsubscribe.png"), full_page=True)
    with open_feeder(site.config) as feeder:
        assert [s.email for s in feeder.subscribers()] == [READER]  # opening it did nothing
    page.get_by_role("button", name="确认退订").click()
    assert page.locator("h1").inner_text() == "已退订"
    with open_feeder(site.config) as feeder:
        [left] = feeder.subscribers(None)
    assert left.status is SubscriberStatus.UNSUBSCRIBED

    assert refused == []
    page.close()
