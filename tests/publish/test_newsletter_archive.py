"""The newsletter's archive: issues really sent over SMTP to aiosmtpd on 127.0.0.1, then the
archive page, the feed of issues and the web versions that a build writes from the ledger."""

from __future__ import annotations

import calendar
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest
from smtpdfix import SMTPDFix

from feeder.app import Feeder, open_feeder
from feeder.config import DEFAULT_TEMPLATES
from feeder.model import IssueRecord, IssueStatus
from feeder.publish.archive import build_archive, publish_archive
from feeder.site import ARCHIVE, ISSUES_FEED, archive_url, subscribe_url, web_version_url
from feeder.templating import Templates
from tests.conftest import ARTIFACTS, SHANGHAI, NewsState

BASE = "https://feeds.example.org/shkj/"  # the news fixture's base_url
AFTER_W05 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)  # Monday 16:00 in Shanghai
AFTER_W06 = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)
AFTER_W07 = datetime(2026, 2, 16, 8, 0, tzinfo=UTC)


class Links(HTMLParser):
    """Every link of a page: (its text, its href), in page order."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append(("".join(self._text), self._href))
            self._href = None


@dataclass
class Newsroom:
    """The seed corpus, one subscriber, a real SMTP server, and a facade whose clock the
    test moves."""

    feeder: Feeder
    mailbox: Any
    now: datetime = AFTER_W05

    @property
    def out(self) -> Path:
        return self.feeder.config.output.dir

    def send(self, week: str, now: datetime) -> None:
        self.now = now
        self.feeder.send(week)

    def files(self) -> dict[str, bytes]:
        """Every file under out/, by relative path."""
        return {
            p.relative_to(self.out).as_posix(): p.read_bytes()
            for p in sorted(self.out.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def newsroom(news: NewsState) -> Iterator[Newsroom]:
    with SMTPDFix("127.0.0.1") as mailbox:
        room = Newsroom(None, mailbox)  # type: ignore[arg-type]  # the feeder reads its clock
        config = news.with_smtp(port=mailbox.port)
        with open_feeder(config, clock=lambda: room.now) as feeder:
            room.feeder = feeder
            feeder.subscribe("ann@example.org")
            yield room


def sent_w05_w06(room: Newsroom) -> None:
    """W05 and W06 sent, W07 skipped (no articles), W04 only previewed; then a build."""
    room.send("2026-W05", AFTER_W05)
    room.send("2026-W06", AFTER_W06)
    room.send("2026-W07", AFTER_W07)
    room.feeder.preview("2026-W04")
    room.feeder.build()


def test_the_archive_lists_sent_issues_newest_first_with_their_web_versions(
    newsroom: Newsroom,
) -> None:
    sent_w05_w06(newsroom)
    storage = newsroom.feeder.storage
    assert storage.issue_status("2026-W07") is IssueStatus.SKIPPED
    assert len(newsroom.mailbox.messages) == 2

    page = (newsroom.out / ARCHIVE).read_text(encoding="utf-8")
    issue_links = [
        (text, href) for text, href in Links(page).links if href.startswith(BASE + "newsletter/20")
    ]
    w06, w05 = (storage.issue_record(key) for key in ("2026-W06", "2026-W05"))
    assert w06 is not None and w05 is not None
    assert issue_links == [
        (w06.subject, web_version_url(BASE, "2026-W06")),
        (w05.subject, web_version_url(BASE, "2026-W05")),
    ]
    # Each entry says its week's days and how many articles it carries.
    assert '<time datetime="2026-W05">2026-01-26 至 2026-02-01</time>' in page
    assert f"共 {w05.articles + w05.late} 篇" in page
    assert (newsroom.out / "newsletter/2026-W04.html").exists()  # the preview is there …
    assert "2026-W07" not in page and "2026-W04" not in page  # … but skipped, previewed: unlisted
    assert "还没有往期" not in page

    for _, href in issue_links:  # each link names a file the build wrote: the issue's HTML
        key = href.removeprefix(BASE + "newsletter/").removesuffix(".html")
        record = storage.issue_record(key)
        assert record is not None
        assert (newsroom.out / href.removeprefix(BASE)).read_text(encoding="utf-8") == record.html


def test_the_feed_of_issues_has_one_entry_per_sent_issue(newsroom: Newsroom) -> None:
    sent_w05_w06(newsroom)
    storage = newsroom.feeder.storage
    parsed = feedparser.parse((newsroom.out / ISSUES_FEED).read_bytes())
    assert parsed.bozo == 0, parsed.bozo_exception
    assert parsed.version == "atom10"
    feed = parsed.feed
    assert feed.title == "上海科技周报 · 往期"
    assert feed.id == "tag:feeds.example.org,2026:/shkj/newsletter/issues"
    links = {link.rel: link.href for link in feed.links}
    assert links == {"self": BASE + ISSUES_FEED, "alternate": archive_url(BASE)}
    assert feed.author == "上海科技周报"

    records = [storage.issue_record(key) for key in ("2026-W06", "2026-W05")]
    assert [e.id for e in parsed.entries] == [
        "tag:feeder,2026:issue/2026-W06",
        "tag:feeder,2026:issue/2026-W05",
    ]
    for entry, record in zip(parsed.entries, records, strict=True):
        assert record is not None
        assert entry.title == record.subject
        assert entry.link == web_version_url(BASE, record.key)
        assert entry.summary == f"本期共 {record.articles + record.late} 篇"
        frozen = datetime.fromtimestamp(calendar.timegm(entry.updated_parsed), UTC)
        assert frozen == record.frozen_at.replace(microsecond=0)
        assert entry.published_parsed == entry.updated_parsed
    # The feed's date is its newest issue's, never the clock's.
    assert feed.updated_parsed == parsed.entries[0].updated_parsed


def test_a_second_build_gives_identical_bytes_and_rewrites_nothing(newsroom: Newsroom) -> None:
    sent_w05_w06(newsroom)
    before = newsroom.files()
    newsroom.now = datetime(2026, 3, 1, tzinfo=UTC)  # a later clock changes nothing
    assert newsroom.feeder.build() == []
    assert publish_archive(newsroom.feeder.storage, newsroom.feeder.config) == []
    assert newsroom.files() == before


def test_a_send_puts_its_issue_in_the_archive_at_once(newsroom: Newsroom) -> None:
    # The mail links its web version: it must be there when the mail is, not after a poll.
    newsroom.feeder.build()  # the archive of no issue
    out = newsroom.out
    assert not (out / "newsletter/2026-W05.html").exists()
    newsroom.send("2026-W05", AFTER_W05)
    assert (out / "newsletter/2026-W05.html").exists()
    assert "newsletter/2026-W05.html" in (out / ARCHIVE).read_text(encoding="utf-8")
    assert publish_archive(newsroom.feeder.storage, newsroom.feeder.config) == []
    assert newsroom.feeder.build() == []  # the build agrees with it byte for byte


def test_with_no_issue_sent_the_archive_says_so_and_the_feed_is_empty(
    newsroom: Newsroom,
) -> None:
    written = newsroom.feeder.build()
    assert {newsroom.out / ARCHIVE, newsroom.out / ISSUES_FEED} <= set(written)
    page = (newsroom.out / ARCHIVE).read_text(encoding="utf-8")
    assert "还没有往期" in page
    assert (BASE + "subscribe") in page
    parsed = feedparser.parse((newsroom.out / ISSUES_FEED).read_bytes())
    assert parsed.bozo == 0, parsed.bozo_exception
    assert parsed.entries == []
    assert tuple(parsed.feed.updated_parsed)[:6] == (2000, 1, 1, 0, 0, 0)  # fixed, in UTC
    assert not list((newsroom.out / "newsletter").glob("20*.html"))


def test_the_index_page_links_the_archive_and_the_sign_up_form(newsroom: Newsroom) -> None:
    newsroom.feeder.build()
    links = Links((newsroom.out / "index.html").read_text(encoding="utf-8")).links
    assert ("往期周报", archive_url(BASE)) in links
    assert ("订阅周报", subscribe_url(BASE)) in links
    assert subscribe_url(BASE) == BASE + "subscribe"


def test_web_versions_hold_no_personal_links(newsroom: Newsroom) -> None:
    # The mail's footer links each recipient's own pages; the web version is one page
    # for everyone, so it must carry none of them.
    sent_w05_w06(newsroom)
    for raw in newsroom.mailbox.messages:  # the mails themselves do carry them
        mail = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        body = mail.get_body(("html",))
        assert body is not None
        html = body.get_content()
        assert f"{BASE}unsubscribe/" in html and f"{BASE}preferences/" in html
    for key in ("2026-W05", "2026-W06"):
        page = (newsroom.out / f"newsletter/{key}.html").read_text(encoding="utf-8")
        assert "unsubscribe/" not in page and "preferences/" not in page, key


@pytest.mark.browser
def test_the_archive_page_on_a_phone(newsroom: Newsroom, browser: Any) -> None:
    sent_w05_w06(newsroom)
    page = browser.new_page(viewport={"width": 375, "height": 800})
    try:
        page.goto((newsroom.out / ARCHIVE).as_uri())
        items = page.locator("ol.issues li")
        assert items.count() == 2
        assert "2026年第6周" in items.nth(0).inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        page.screenshot(path=str(ARTIFACTS / "archive-375.png"), full_page=True)
    finally:
        page.close()


# -- build_archive alone: hand-made ledger records, no state ---------------------------------


def record(key: str, frozen: datetime, subject: str = "", html: str = "<p>本期</p>") -> IssueRecord:
    return IssueRecord(
        key=key,
        status=IssueStatus.SENT,
        frozen_at=frozen,
        finished_at=frozen,
        articles=3,
        late=1,
        subject=subject,
        html=html,
        text="本期",
        recipients=1,
        sent=1,
        failed=0,
        in_doubt=0,
    )


def archive(issues: list[IssueRecord]) -> dict[str, bytes]:
    return build_archive(
        issues,
        newsletter="上海科技周报",
        base_url=BASE,
        tz=SHANGHAI,
        templates=Templates(DEFAULT_TEMPLATES),
    )


def test_build_archive_is_pure_and_orders_its_input() -> None:
    issues = [
        record("2025-W52", datetime(2025, 12, 29, 8, tzinfo=UTC), "年末一期 <b>&</b>"),
        record("2026-W01", datetime(2026, 1, 5, 8, tzinfo=UTC), "新年第一期", "<p>一</p>"),
    ]
    files = archive(issues)
    assert list(files) == [
        "newsletter/2026-W01.html",
        "newsletter/2025-W52.html",
        ISSUES_FEED,
        ARCHIVE,
    ]
    assert archive(issues[::-1]) == files
    assert files["newsletter/2026-W01.html"] == "<p>一</p>".encode()
    page = files[ARCHIVE].decode("utf-8")
    assert page.index("新年第一期") < page.index("年末一期")
    assert "年末一期 &lt;b&gt;&amp;&lt;/b&gt;" in page  # a subject is text, never markup
    # An ISO week across the new year: its Monday and Sunday in two calendar years.
    assert '<time datetime="2026-W01">2025-12-29 至 2026-01-04</time> · 共 4 篇' in page
    parsed = feedparser.parse(files[ISSUES_FEED])
    assert parsed.bozo == 0, parsed.bozo_exception
    assert [e.title for e in parsed.entries] == ["新年第一期", "年末一期 <b>&</b>"]
    assert parsed.feed.updated == "2026-01-05T16:00:00+08:00"


def test_an_issue_without_a_subject_is_listed_by_its_week() -> None:
    files = archive([record("2026-W05", datetime(2026, 2, 2, 8, tzinfo=UTC))])
    assert ">2026-W05</a>" in files[ARCHIVE].decode("utf-8")
    assert feedparser.parse(files[ISSUES_FEED]).entries[0].title == "2026-W05"


def test_a_malformed_week_key_names_no_file() -> None:
    with pytest.raises(ValueError, match="not an ISO week"):
        archive([record("../../etc/x", datetime(2026, 2, 2, 8, tzinfo=UTC))])
