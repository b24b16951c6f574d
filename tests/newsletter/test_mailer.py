"""Mailing: subscribers, the message, SMTP on 127.0.0.1, and the ledger that sends once."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import re
import smtplib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import portpicker
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult
from click.testing import CliRunner
from smtpdfix import SMTPDFix
from smtpdfix.certs import _generate_certs
from smtpdfix.fixture import _Authenticator as Authenticator
from smtpdfix.handlers import AuthMessage

from feeder.app import open_feeder
from feeder.cli import main
from feeder.config import Config
from feeder.errors import MailError
from feeder.jobs.people import add_subscriber, import_subscribers, remove_subscriber
from feeder.model import Article, DeliveryStatus
from feeder.newsletter.addresses import normalise_address
from feeder.newsletter.message import Recipient, message_bytes, message_id
from feeder.newsletter.preview import issue_message
from feeder.newsletter.render import Rendered
from feeder.newsletter.send import send_issue
from feeder.newsletter.smtp import (
    BACKOFF,
    PASSWORD_ENV,
    Pacer,
    connect,
    diagnose,
    login,
    smtp_password,
)
from feeder.schedule import week_bounds
from feeder.storage import open_storage
from feeder.storage.ledger import GONE
from tests.conftest import NEWS_POLL, TAXONOMY, NewsState, state_toml


@pytest.fixture
def backend(both_backends: str) -> str:
    """Every test here that opens a state runs on SQLite and on PostgreSQL."""
    return both_backends


W05 = "2026-W05"
W05_SUBJECT = "上海科技周报 · 2026年第5周（1月26日–2月1日）"
AFTER_W05 = datetime(2026, 2, 2, 8, 0, tzinfo=UTC)  # Monday 16:00 in Shanghai
AFTER_W06 = datetime(2026, 2, 9, 8, 0, tzinfo=UTC)
AFTER_W07 = datetime(2026, 2, 16, 8, 0, tzinfo=UTC)
READERS = ("ann@example.org", "bo@example.org", "cy@example.org", "dee@example.org")


def parse(raw: bytes | Message) -> EmailMessage:
    """A received message read with the modern policy (smtpdfix stores compat32 ones)."""
    data = raw if isinstance(raw, bytes) else raw.as_bytes()
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def recipients_of(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(m["To"].addresses[0].addr_spec for m in messages)


class NoSleep:
    """Records the waits asked for, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# -- SMTP servers on 127.0.0.1 --------------------------------------------------------------


class Handler:
    """An aiosmtpd handler that keeps what it accepts and misbehaves as told.

    After the first `accept_first` RCPT commands, `drop` closes the connection without a
    reply on that many, then `hang` never answers that many: both before any message is
    handed over, so a retry is safe. After the first `accept_first` DATA commands,
    `data_replies` answer the next ones instead of accepting them. `refuse` gets 550 at
    RCPT. (A drop or a silence after DATA is ambiguous: see trials/test_mail_faults.py.)
    """

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.accept_first = 0
        self.data_replies: list[str] = []
        self.drop = 0
        self.hang = 0
        self.refuse: set[str] = set()
        self.rcpt_commands = 0
        self.data_commands = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.rcpt_commands += 1
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: no such mailbox"
        if self.rcpt_commands > self.accept_first:
            if self.drop:
                self.drop -= 1
                server.transport.close()
                return "421 gone"  # never reaches the client: the connection is closed
            if self.hang:
                self.hang -= 1
                await asyncio.sleep(3600)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.data_commands > self.accept_first and self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append(parse(envelope.original_content))
        return "250 2.0.0 queued"


@pytest.fixture
def server() -> Iterator[tuple[Handler, int]]:
    """A misbehaving server; set the handler's fields before sending."""
    handler = Handler()
    port = portpicker.pick_unused_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def mailbox() -> Iterator[Any]:
    """smtpdfix's server (aiosmtpd) on 127.0.0.1, plain SMTP."""
    with SMTPDFix("127.0.0.1") as smtpd:
        yield smtpd


def config_for(news: NewsState, port: int, **smtp: Any) -> Config:
    return news.with_smtp(port=port, **smtp)


def send(news: NewsState, config: Config, week: str = W05, **kwargs: Any) -> Any:
    kwargs.setdefault("now", AFTER_W05)
    kwargs.setdefault("sleep", NoSleep())
    kwargs.setdefault("secret", news.feeder.secret)
    return send_issue(news.store, config, week, tags=news.tags, **kwargs)


# -- Addresses and subscribers --------------------------------------------------------------


def test_addresses_are_checked_and_normalised() -> None:
    assert normalise_address("  Ann@Example.ORG ") == "Ann@example.org"
    assert normalise_address("x@bücher.de") == "x@xn--bcher-kva.de"
    for bad in ("ann", "ann@", "ann@localhost", "üser@example.org", "a b@example.org"):
        with pytest.raises(MailError, match="not a valid email address"):
            normalise_address(bad)


def test_subscribe_unsubscribe_and_back(news: NewsState) -> None:
    now = NEWS_POLL
    assert add_subscriber(news.store, "ann@Example.org", "安 妮", now=now) == (
        "ann@example.org",
        True,
    )
    assert add_subscriber(news.store, "ANN@example.org", now=now)[1] is False  # case-blind
    assert [(s.email, s.name) for s in news.store.subscribers()] == [("ann@example.org", "安 妮")]
    assert remove_subscriber(news.store, "ann@example.org", now=now)[1] is True
    assert remove_subscriber(news.store, "ann@example.org", now=now)[1] is False
    assert news.store.subscribers() == []
    kept = news.store.subscribers(None)
    assert [(s.email, s.status) for s in kept] == [("ann@example.org", "unsubscribed")]
    assert add_subscriber(news.store, "ann@example.org", now=now)[1] is True
    assert [s.name for s in news.store.subscribers()] == ["安 妮"]  # the name was kept


def test_import_reports_bad_lines_by_number_and_keeps_the_good_ones(
    news: NewsState, tmp_path: Path
) -> None:
    news.subscribe("bo@example.org")
    path = tmp_path / "list.txt"
    path.write_text(
        "\ufeff# readers\nann@example.org\n\nnot-an-address\n张三 <zhang@example.org>\n"
        "bo@example.org\nann@\nAlice <alice@example.org>, cy@example.org\n"
        "dee@example.org eve@example.org\n",
        encoding="utf-8",
    )
    report = import_subscribers(news.store, path, news.tags, now=NEWS_POLL)
    assert (report.added, report.already) == (4, 1)
    assert [number for number, _ in report.bad] == [4, 7, 9]  # 9: two addresses, no comma
    assert "not-an-address" in report.bad[0][1]
    people = {s.email: s.name for s in news.store.subscribers()}
    assert people == {
        "ann@example.org": "",
        "bo@example.org": "",
        "zhang@example.org": "张三",
        "alice@example.org": "Alice",  # both people of one line, none dropped
        "cy@example.org": "",
    }


def test_cli_manages_subscribers(news: NewsState, tmp_path: Path) -> None:
    config_file = tmp_path / "feeder.toml"
    config_file.write_text(state_toml(news.config.state.location), encoding="utf-8")
    news.store.close()  # the CLI opens the state file itself

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["--config", str(config_file), "subscribers", *args])

    result = run("add", "Ann@Example.org", "--name", "安妮")
    assert result.exit_code == 0, result.output
    assert "subscribed Ann@example.org" in result.output
    result = run("add", "nobody")
    assert result.exit_code == 1 and result.output.startswith("Error: 'nobody' is not a valid")
    (tmp_path / "list.txt").write_text("bo@example.org\nbad line\n", encoding="utf-8")
    result = run("import", str(tmp_path / "list.txt"))
    assert result.exit_code == 0, result.output
    assert "list.txt:2:" in result.output and "1 subscribed" in result.output
    result = run("remove", "bo@example.org")
    assert result.exit_code == 0, result.output
    result = run("list", "--json", "--status", "active")
    assert result.exit_code == 0, result.output
    assert '"email": "Ann@example.org"' in result.output and "bo@" not in result.output

    with open_storage(news.config.state.location, news.config.tz) as store:
        assert [(s.email, s.name) for s in store.subscribers()] == [("Ann@example.org", "安妮")]


# -- The message ------------------------------------------------------------------------------


def rendered(news: NewsState) -> Rendered:
    """The every-section mail of the week, with a reader's tokens filled in."""
    return issue_message(news.store, news.config, W05, news.tags)[1].personalise("p", "u")


UNSUBSCRIBE = "https://feeds.example.org/shkj/unsubscribe/u"  # the reader's own page


def message(issue: Rendered, key: str, to: Recipient, config: Config, now: datetime) -> bytes:
    return message_bytes(issue, key, to, config, now=now, unsubscribe=UNSUBSCRIBE)


def test_message_structure_headers_and_encodings(news: NewsState) -> None:
    issue = rendered(news)
    raw = message(issue, W05, Recipient("ann@example.org", "安妮 Smith"), news.config, AFTER_W05)
    assert raw.isascii()  # everything encoded: 7-bit safe for any relay
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    received = parse(raw)
    assert received.get_content_type() == "multipart/alternative"
    parts = list(received.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert received["Subject"] == W05_SUBJECT
    assert received["From"].addresses[0].display_name == "上海科技周报"
    assert received["From"].addresses[0].addr_spec == "newsletter@example.org"
    assert received["To"].addresses[0].display_name == "安妮 Smith"
    assert received["To"].addresses[0].addr_spec == "ann@example.org"
    assert received["Date"].datetime == AFTER_W05
    assert received["List-Id"] == "上海科技周报 <newsletter.example.org>"
    assert received["List-Unsubscribe"] == (
        f"<{UNSUBSCRIBE}>, <mailto:newsletter@example.org?subject=unsubscribe>"
    )
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The URLs as they are, never RFC 2047 encoded words a mail client cannot read as URLs.
    assert f"\r\nList-Unsubscribe: <{UNSUBSCRIBE}>,\r\n <mailto:".encode() in raw
    assert received["Message-ID"] == message_id(W05, "ann@example.org", "example.org")
    assert parts[0].get_content().replace("\r\n", "\n") == issue.text
    assert parts[1].get_content().replace("\r\n", "\n").rstrip("\n") == issue.html.rstrip("\n")
    # No recipient but the one in To.
    assert received.get_all("Cc") is None and received.get_all("Bcc") is None


def test_long_chinese_subject_folds_into_encoded_words_that_decode_back(news: NewsState) -> None:
    subject = "上海科技周报 · " + "长三角生态绿色一体化发展示范区“十五五”开局之年聚焦五大任务" * 2
    issue = Rendered(subject, "<p>x</p>", "x")
    raw = message(issue, W05, Recipient("ann@example.org"), news.config, AFTER_W05)
    head = raw.decode("ascii").split("\r\n\r\n")[0].split("\r\n")
    start = next(n for n, line in enumerate(head) if line.startswith("Subject:"))
    lines = [head[start]]
    for line in head[start + 1 :]:
        if not line.startswith((" ", "\t")):
            break
        lines.append(line)
    assert len(lines) >= 3 and all(len(line) <= 78 for line in lines)
    assert sum(line.count("=?utf-8?") for line in lines) >= 3
    assert parse(raw)["Subject"] == subject
    assert str(make_header(decode_header(" ".join(lines)[len("Subject: ") :]))) == subject


def test_message_id_is_stable_per_issue_and_recipient(news: NewsState) -> None:
    issue = rendered(news)

    def mid(key: str, to: str, now: datetime) -> str:
        return str(parse(message(issue, key, Recipient(to), news.config, now))["Message-ID"])

    first = mid(W05, "ann@example.org", AFTER_W05)
    assert first == mid(W05, "ann@example.org", AFTER_W06)  # a later retry: the same id
    assert first == mid(W05, "Ann@example.org", AFTER_W05)
    assert first != mid(W05, "bo@example.org", AFTER_W05)
    assert first != mid("2026-W06", "ann@example.org", AFTER_W05)
    assert first.startswith("<2026-W05.") and first.endswith("@example.org>")


def test_one_click_unsubscribe_only_with_an_https_url(news: NewsState) -> None:
    # RFC 8058 names an https URI; a plain http page gets the link but no one-click POST.
    plain = "http://localhost:8000/unsubscribe/u"
    built = parse(
        message_bytes(
            rendered(news),
            W05,
            Recipient("a@example.org"),
            news.config,
            now=AFTER_W05,
            unsubscribe=plain,
        )
    )
    assert built["List-Unsubscribe"].startswith(f"<{plain}>, <mailto:")
    assert built["List-Unsubscribe-Post"] is None


def test_a_from_without_an_address_is_an_error(news: NewsState) -> None:
    from dataclasses import replace

    config = replace(news.config, newsletter=replace(news.config.newsletter, from_="周报"))
    with pytest.raises(MailError, match=r"newsletter\.from '周报' has no address"):
        message(rendered(news), W05, Recipient("a@example.org"), config, AFTER_W05)


# -- Sending through a real server ------------------------------------------------------------


def test_each_subscriber_gets_one_complete_copy(news: NewsState, mailbox: Any) -> None:
    news.subscribe(*READERS[:3])
    report = send(news, config_for(news, mailbox.port))
    assert (report.status, report.sent, report.complete) == ("sent", 3, True)
    received = [parse(m) for m in mailbox.messages]
    assert recipients_of(received) == Counter(READERS[:3])
    titles = [
        e.article.title for e in news.store.entries_published(*week_bounds(W05, news.config.tz))
    ]
    assert len(titles) == 22
    for message in received:
        assert message["Subject"] == W05_SUBJECT
        assert message["X-RcptTo"] == message["To"].addresses[0].addr_spec  # one recipient each
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for title in titles:
            assert title in text
            assert title.replace("&", "&amp;") in html
    assert len({m["Message-ID"] for m in received}) == 3
    assert news.store.issue_status(W05) == "sent" and news.store.issue_done(W05)


def test_sending_a_week_again_sends_nothing(news: NewsState, mailbox: Any) -> None:
    news.subscribe(*READERS[:2])
    config = config_for(news, mailbox.port)
    send(news, config)
    again = send(news, config, now=AFTER_W06)
    assert (again.sent, again.already, again.complete) == (0, 2, True)
    assert len(mailbox.messages) == 2


def test_a_subscriber_added_later_does_not_reopen_a_sent_issue(
    news: NewsState, mailbox: Any
) -> None:
    news.subscribe("ann@example.org")
    config = config_for(news, mailbox.port)
    send(news, config)
    news.subscribe("bo@example.org")
    assert send(news, config).sent == 0
    assert recipients_of([parse(m) for m in mailbox.messages]) == Counter(["ann@example.org"])


def test_a_late_article_lands_in_the_next_issue_once(news: NewsState, mailbox: Any) -> None:
    news.subscribe("ann@example.org")
    config = config_for(news, mailbox.port)
    send(news, config)
    late = Article(
        id="late-1",
        title="迟到一周的科研新闻：上海团队发布新成果",
        url="https://mp.weixin.qq.com/s/late-1",
        published=datetime(2026, 1, 28, 10, 0, tzinfo=news.config.tz),
        account="上海科技",
        content="迟到的正文。",
    )
    news.add([late], now=datetime(2026, 2, 4, 0, 0, tzinfo=UTC))  # after W05 went out
    w06 = send(news, config, "2026-W06", now=AFTER_W06)
    w07 = send(news, config, "2026-W07", now=AFTER_W07)
    messages = [parse(m) for m in mailbox.messages]
    assert [m["Subject"].split(" · ")[1].split("（")[0] for m in messages] == [
        "2026年第5周",
        "2026年第6周",
    ]
    w05_text, w06_text = (m.get_body(("plain",)).get_content() for m in messages)
    assert late.title not in w05_text
    assert w06_text.index(late.title) > w06_text.index("【往期补遗】")
    assert w06.articles == 15 and w07.status == "skipped" and w07.sent == 0
    assert news.store.issue_status("2026-W07") == "skipped"
    assert news.store.issue_article_ids("2026-W06").count("late-1") == 1


def test_the_first_issue_does_not_back_fill_earlier_weeks(news: NewsState, mailbox: Any) -> None:
    news.subscribe("ann@example.org")
    send(news, config_for(news, mailbox.port))
    w04 = news.store.entries_published(*week_bounds("2026-W04", news.config.tz))
    assert len(w04) == 18
    text = parse(mailbox.messages[0]).get_body(("plain",)).get_content()
    assert not any(e.article.title in text for e in w04)
    assert "往期补遗" not in text


def test_a_week_not_over_yet_is_refused(news: NewsState) -> None:
    news.subscribe("ann@example.org")
    with pytest.raises(MailError, match="week 2026-W06 ends 2026-02-09 00:00"):
        send(news, news.config, "2026-W06", now=AFTER_W05)
    assert news.store.issue_status("2026-W06") is None


def test_without_subscribers_nothing_is_frozen(news: NewsState) -> None:
    with pytest.raises(MailError, match="no subscribers"):
        send(news, news.config)
    assert news.store.issue_status(W05) is None


def test_a_dry_run_sends_and_records_nothing(news: NewsState, mailbox: Any) -> None:
    news.subscribe(*READERS[:2])
    report = send(news, config_for(news, mailbox.port), dry_run=True)
    assert (report.sent, report.articles, report.dry_run) == (2, 22, True)
    assert mailbox.messages == [] and news.store.issue_status(W05) is None


def test_content_is_frozen_when_sending_starts(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    handler.refuse = {"bo@example.org"}
    news.subscribe("ann@example.org", "bo@example.org")
    config = config_for(news, port)
    send(news, config)  # bo refused: the issue stays partial
    extra = Article(
        id="edit",
        title="发送中途才收录的文章",
        url=None,
        published=datetime(2026, 1, 30, tzinfo=news.config.tz),
        account="上海科技",
        content="正文。",
    )
    news.add([extra], now=AFTER_W05)
    handler.refuse = set()
    with news.store.transaction():  # let bo be tried again, as an operator might
        news.store.settle_delivery(W05, "bo@example.org", "pending", None, AFTER_W05)
        assert news.store.reactivate("bo@example.org", AFTER_W05)  # the 550 bounced it
    send(news, config)
    first, second = (without_tokens(m.get_body(("html",)).get_content()) for m in handler.messages)
    assert first == second and "发送中途才收录的文章" not in second
    assert "edit" not in news.store.issue_article_ids(W05)


def without_tokens(body: str) -> str:
    """A copy's HTML with the reader's own tokens blanked: what every reader shares."""
    return re.sub(r"/(preferences|unsubscribe)/[\w.-]+", r"/\1/TOKEN", body)


# -- Failures ---------------------------------------------------------------------------------


def test_transient_replies_are_retried_with_backoff(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    handler.data_replies = ["451 4.3.0 try later", "421 4.7.0 too busy, closing"]
    news.subscribe(*READERS[:2])
    sleep = NoSleep()
    report = send(news, config_for(news, port), sleep=sleep)
    assert (report.sent, report.complete) == (2, True)
    assert recipients_of(handler.messages) == Counter(READERS[:2])
    assert [w for w in sleep.waits if w in BACKOFF] == list(BACKOFF[:2])


def test_a_connection_dropped_part_way_is_retried_and_nobody_gets_two(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    news.subscribe(*READERS)
    handler.accept_first, handler.drop = 2, 1
    report = send(news, config_for(news, port))
    assert (report.sent, report.complete) == (4, True)
    assert handler.rcpt_commands == 5  # the third message took two tries
    assert recipients_of(handler.messages) == Counter(READERS)


def test_a_server_down_for_longer_than_the_retries_resumes_on_the_next_run(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    news.subscribe(*READERS)
    config = config_for(news, port)
    # Two accepted, then every attempt at the third dropped: the run stops there.
    handler.accept_first, handler.drop = 2, 1 + len(BACKOFF)
    first = send(news, config)
    assert (first.sent, first.deferred, first.complete, first.status) == (2, 2, False, "partial")
    assert recipients_of(handler.messages) == Counter(READERS[:2])
    assert not news.store.issue_done(W05)  # the daemon will try again
    assert "closed the connection" in first.error()
    second = send(news, config)
    assert (second.sent, second.already, second.complete) == (2, 2, True)
    assert recipients_of(handler.messages) == Counter(READERS)


def test_a_timeout_is_retried(news: NewsState, server: tuple[Handler, int]) -> None:
    handler, port = server
    handler.hang = 1
    news.subscribe("ann@example.org")
    report = send(news, config_for(news, port, timeout=0.5))
    assert (report.sent, report.complete) == (1, True)
    assert handler.rcpt_commands == 2
    assert recipients_of(handler.messages) == Counter(["ann@example.org"])


def test_a_permanent_refusal_fails_one_recipient_and_the_rest_go(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    handler.refuse = {"bo@example.org"}
    news.subscribe(*READERS[:3])
    sleep = NoSleep()
    report = send(news, config_for(news, port), sleep=sleep)
    assert (report.sent, report.failed, report.complete) == (2, 1, False)
    assert report.status == "partial"
    assert recipients_of(handler.messages) == Counter(["ann@example.org", "cy@example.org"])
    assert not any(w in BACKOFF for w in sleep.waits)  # a 5xx is not retried
    (row,) = news.store.deliveries(W05, "failed")
    assert row.email == "bo@example.org" and "550" in (row.detail or "")
    assert "bo@example.org: recipient refused: 550" in report.error()
    # Nothing left to do without the operator: the daemon may consider the week done.
    assert news.store.issue_done(W05)
    assert send(news, config_for(news, port)).sent == 0


class Crash(BaseException):
    """The process dying between the server's reply and the ledger's commit."""


def test_a_crash_mid_send_leaves_one_row_in_doubt_until_the_operator_says(
    news: NewsState, mailbox: Any
) -> None:
    news.subscribe(*READERS)
    config = config_for(news, mailbox.port)

    class DiesAfterSecond(smtplib.SMTP):
        sent = 0

        def sendmail(self, *args: Any, **kwargs: Any) -> Any:
            result = super().sendmail(*args, **kwargs)
            DiesAfterSecond.sent += 1
            if DiesAfterSecond.sent == 2:
                raise Crash
            return result

    with pytest.raises(Crash):
        send(news, config, smtp_factory=lambda: DiesAfterSecond("127.0.0.1", mailbox.port))
    (doubt,) = news.store.deliveries_in_doubt()
    assert (doubt.issue, doubt.email) == (W05, READERS[1])
    assert len(mailbox.messages) == 2  # the server did take it

    resumed = send(news, config)
    assert (resumed.sent, resumed.in_doubt, resumed.complete) == (2, 1, False)
    assert "in doubt" in resumed.error()
    assert recipients_of([parse(m) for m in mailbox.messages]) == Counter(READERS)

    retried = send(news, config, retry_unknown=True)
    assert (retried.sent, retried.in_doubt, retried.complete) == (1, 0, True)
    assert recipients_of([parse(m) for m in mailbox.messages])[READERS[1]] == 2
    assert news.store.deliveries_in_doubt() == []


def test_an_unsubscribe_after_freezing_skips_that_recipient(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    handler.refuse = set(READERS[1:])
    news.subscribe(*READERS[:2])
    config = config_for(news, port)
    send(news, config)
    with news.store.transaction():
        news.store.settle_delivery(W05, READERS[1], "pending", None, AFTER_W05)
    remove_subscriber(news.store, READERS[1], now=AFTER_W05)
    handler.refuse = set()
    report = send(news, config)
    assert (report.sent, report.skipped, report.complete) == (0, 1, True)
    assert recipients_of(handler.messages) == Counter(READERS[:1])


@pytest.mark.parametrize(
    "status",
    [DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED],
)
def test_only_pending_rows_are_claimed_and_a_departed_recipient_is_cancelled(
    news: NewsState, status: DeliveryStatus
) -> None:
    store = news.store
    ann, bo, cy = "ann@example.org", "bo@example.org", "cy@example.org"
    news.subscribe(ann, bo, cy)
    with store.transaction():
        store.freeze_issue(W05, AFTER_W05, ("s", "h", "t"), [], [], {"*": ("s", "h", "t")})
        store.settle_batch(W05, [(ann, status, "as it was")], AFTER_W05, soft_limit=3)
    remove_subscriber(store, cy, now=AFTER_W05)
    before = store.deliveries(W05)[0]
    with store.transaction():
        claimed, last = store.claim_batch(W05, 10, AFTER_W06)
    assert [row.email for row in claimed] == [bo]  # ann's row was not pending, cy left
    assert store.start_delivery(W05, bo, AFTER_W06)  # its message about to go
    after = {row.email: row for row in store.deliveries(W05)}
    assert after[ann] == before  # status, attempts, time and detail untouched
    assert (after[bo].status, after[bo].attempts) == (DeliveryStatus.SENDING, 1)
    assert (after[cy].status, after[cy].detail) == (DeliveryStatus.CANCELLED, GONE)
    with store.transaction():
        assert store.claim_batch(W05, 10, AFTER_W06, after=last) == ([], last)  # none left


class RemovesOneMidSend(Handler):
    """Accepts everything; when the third message arrives, `leaving` unsubscribes through
    the facade over its own connection to the state, as `feeder subscribers remove` does."""

    def __init__(self, config: Config, leaving: str) -> None:
        super().__init__()
        self.config, self.leaving = config, leaving
        self.removed: tuple[str, bool] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == 3:
            # Blocking the server's loop is fine: the sender is waiting for this reply.
            with open_feeder(self.config) as other:
                self.removed = other.unsubscribe(self.leaving)
        return reply


def test_an_unsubscribe_during_a_send_is_honoured_from_the_next_message_on(
    news: NewsState,
) -> None:
    readers = [f"reader{n:02d}@example.org" for n in range(20)]
    leaving = readers[10]
    news.subscribe(*readers)
    handler = RemovesOneMidSend(news.config, leaving)
    port = portpicker.pick_unused_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        # Through the facade, as `feeder newsletter send` runs it: holding the job lock,
        # which the unsubscribe must not wait for.
        with open_feeder(config_for(news, port), clock=lambda: AFTER_W05, lock_wait=0) as app:
            report = app.send(W05)
    finally:
        controller.stop()
    assert handler.removed == (leaving, True)
    assert recipients_of(handler.messages) == Counter(r for r in readers if r != leaving)
    assert (report.sent, report.skipped, report.complete) == (19, 1, True)
    assert report.summary().endswith("0 in doubt, 1 unsubscribed")
    # Claimed in its batch before the reader left, cancelled just before its message.
    (cancelled,) = news.store.deliveries(W05, DeliveryStatus.CANCELLED)
    assert (cancelled.email, cancelled.detail) == (leaving, GONE)


def test_an_unreachable_server_defers_everyone(news: NewsState) -> None:
    news.subscribe(*READERS[:2])
    sleep = NoSleep()
    report = send(news, news.with_smtp(port=portpicker.pick_unused_port()), sleep=sleep)
    assert (report.sent, report.deferred, report.complete) == (0, 2, False)
    assert [w for w in sleep.waits if w in BACKOFF] == list(BACKOFF)  # then it gave up
    assert {d.status for d in news.store.deliveries(W05)} == {"pending"}


def test_the_stop_event_ends_the_run_between_messages(news: NewsState, mailbox: Any) -> None:
    import threading

    news.subscribe(*READERS)
    stop = threading.Event()

    class StopsAfterFirst(smtplib.SMTP):
        def sendmail(self, *args: Any, **kwargs: Any) -> Any:
            stop.set()
            return super().sendmail(*args, **kwargs)

    config = config_for(news, mailbox.port)
    first = send(
        news, config, stop=stop, smtp_factory=lambda: StopsAfterFirst("127.0.0.1", mailbox.port)
    )
    assert (first.sent, first.deferred, first.in_doubt) == (1, 3, 0)
    assert send(news, config).sent == 3
    assert recipients_of([parse(m) for m in mailbox.messages]) == Counter(READERS)


def test_pacer_spaces_messages_by_the_rate_limit() -> None:
    clock = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    pacer = Pacer(4, sleep, clock=lambda: clock[0])
    pacer.wait()  # the first goes at once
    clock[0] += 0.1
    pacer.wait()
    clock[0] += 1.0  # slower than the limit: no wait
    pacer.wait()
    assert waits == pytest.approx([0.15])


# -- TLS and login ------------------------------------------------------------------------------


NON_ASCII_PASSWORD = "pässwörd-密码"


async def auth_plain(self: AuthMessage, server: Any, args: list[str]) -> AuthResult:
    """AUTH PLAIN read as RFC 4616 says, for smtpdfix's AuthMessage.

    smtpdfix 0.5.3 splits the PLAIN response on white space instead of on NUL, so it refuses
    every client that follows the RFC (smtplib only got through by trying CRAM-MD5 first).
    """
    if len(args) > 1:
        response = base64.b64decode(args[1])
    else:
        answer = await server.challenge_auth("")
        if answer is MISSING:
            return AuthResult(success=False)
        response = answer
    _authzid, user, password = response.split(b"\0")
    valid = server._authenticator.validate(user.decode(), password.decode())
    return AuthResult(success=valid, handled=False, auth_data=user)  # 535 if not valid


@contextmanager
def auth_mailbox(
    folder: Path, monkeypatch: pytest.MonkeyPatch, mode: str, password: str
) -> Iterator[Any]:
    """smtpdfix with a self-signed certificate that the client is told to trust, and AUTH
    for "feeder" with `password`. Its `logins` lists each (username, password) it was
    asked to check, as the server decoded them."""
    cert, _ = _generate_certs(folder, separate_key=False)
    monkeypatch.setenv("SMTPD_SSL_CERTIFICATE_FILE", str(cert))
    monkeypatch.setenv("SMTPD_USE_STARTTLS" if mode == "starttls" else "SMTPD_USE_SSL", "True")
    monkeypatch.setenv("SMTPD_ENFORCE_AUTH", "True")
    if mode == "ssl":  # aiosmtpd counts only STARTTLS as TLS when it decides to offer AUTH
        monkeypatch.setenv("SMTPD_AUTH_REQUIRE_TLS", "False")
    monkeypatch.setenv("SMTPD_LOGIN_NAME", "feeder")
    monkeypatch.setenv("SMTPD_LOGIN_PASSWORD", password)
    # ssl.create_default_context() reads the trusted certificates from here.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setattr(AuthMessage, "auth_PLAIN", auth_plain)
    logins: list[tuple[str, str]] = []
    checked = Authenticator.validate

    def validate(self: Authenticator, username: str, password: str) -> bool:
        logins.append((username, password))
        return checked(self, username, password)

    monkeypatch.setattr(Authenticator, "validate", validate)
    with SMTPDFix("127.0.0.1") as smtpd:
        smtpd.mode = mode
        smtpd.logins = logins
        yield smtpd


@pytest.fixture
def login_password() -> str:
    """The password tls_mailbox accepts; parametrize it to change it."""
    return "s3cret-pw"


@pytest.fixture
def tls_mailbox(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    login_password: str,
) -> Iterator[Any]:
    """smtpdfix over TLS (the parameter: "starttls" or "ssl") with AUTH: see auth_mailbox."""
    with auth_mailbox(tmp_path, monkeypatch, request.param, login_password) as smtpd:
        yield smtpd


@pytest.mark.parametrize("tls_mailbox", ["starttls", "ssl"], indirect=True)
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_tls_and_login_with_the_password_from_the_environment(
    news: NewsState, tls_mailbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    news.subscribe("ann@example.org")
    config = config_for(news, tls_mailbox.port, security=tls_mailbox.mode, username="feeder")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-pw")
    report = send(news, config)
    assert (report.sent, report.complete) == (1, True)
    (message,) = tls_mailbox.messages
    assert parse(message)["Subject"] == W05_SUBJECT


@pytest.mark.parametrize("login_password", [NON_ASCII_PASSWORD])
@pytest.mark.parametrize("tls_mailbox", ["starttls", "ssl"], indirect=True)
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_non_ascii_password_goes_as_utf8(
    news: NewsState, tls_mailbox: Any, monkeypatch: pytest.MonkeyPatch, mechanism: str
) -> None:
    # The server offers CRAM-MD5, LOGIN and PLAIN; make the client use the one under test.
    monkeypatch.setattr("feeder.newsletter.smtp.MECHANISMS", (mechanism,))
    news.subscribe(*READERS[:2])
    config = config_for(news, tls_mailbox.port, security=tls_mailbox.mode, username="feeder")
    monkeypatch.setenv(PASSWORD_ENV, NON_ASCII_PASSWORD)
    report = send(news, config)
    assert (report.sent, report.complete) == (2, True)
    # The server decoded what it got as UTF-8: one login, for both messages.
    assert tls_mailbox.logins == [("feeder", NON_ASCII_PASSWORD)]
    assert recipients_of([parse(m) for m in tls_mailbox.messages]) == Counter(READERS[:2])


def test_a_server_without_a_login_feeder_can_use_is_named(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    _, port = server  # offers no AUTH at all
    client = smtplib.SMTP("127.0.0.1", port, timeout=5)
    try:
        with pytest.raises(smtplib.SMTPException) as caught:
            login(client, "feeder", NON_ASCII_PASSWORD)
    finally:
        client.close()
    failure = diagnose(caught.value, news.with_smtp(port=port).smtp)
    assert failure.kind == "fatal" and not failure.login
    assert failure.detail == (
        f"127.0.0.1:{port} offers no login feeder can use (AUTH PLAIN or LOGIN): it offers "
        "no AUTH at all; check smtp.host, smtp.security and smtp.username"
    )


@pytest.mark.parametrize("tls_mailbox", ["starttls"], indirect=True)
@pytest.mark.parametrize("backend", ["sqlite"])  # reads the SQLite file itself
def test_a_wrong_password_stops_the_run_without_failing_anyone(
    news: NewsState, tls_mailbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    news.subscribe(*READERS[:2])
    config = config_for(news, tls_mailbox.port, security="starttls", username="feeder")
    monkeypatch.setenv(PASSWORD_ENV, "wrong-pw-123")
    with pytest.raises(MailError, match="refused the login of 'feeder'") as caught:
        send(news, config)
    assert "wrong-pw-123" not in str(caught.value)
    assert {d.status for d in news.store.deliveries(W05)} == {"pending"}
    assert "wrong-pw-123" not in Path(news.config.state.path).read_bytes().decode("latin-1")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-pw")
    assert send(news, config).sent == 2


@pytest.mark.parametrize("tls_mailbox", ["starttls"], indirect=True)
def test_an_untrusted_certificate_is_refused(
    news: NewsState, tls_mailbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    news.subscribe("ann@example.org")
    config = config_for(news, tls_mailbox.port, security="starttls", username="feeder")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-pw")
    with pytest.raises(MailError, match=r"TLS with 127\.0\.0\.1:\d+ failed"):
        send(news, config)
    assert tls_mailbox.messages == []


def test_a_username_without_a_password_or_without_tls_is_refused(
    news: NewsState, monkeypatch: pytest.MonkeyPatch
) -> None:
    news.subscribe("ann@example.org")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(MailError, match=f"\\${PASSWORD_ENV} is empty"):
        send(news, news.with_smtp(username="feeder", security="starttls"))
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    with pytest.raises(MailError, match="unencrypted"):
        send(news, news.with_smtp(username="feeder", security="none"))
    assert news.store.issue_status(W05) is None  # refused before anything was frozen


def test_settings_refused_mid_run_leave_nobody_in_doubt(
    news: NewsState, monkeypatch: pytest.MonkeyPatch
) -> None:
    news.subscribe("ann@example.org")
    config = news.with_smtp(username="feeder", security="starttls")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    # A factory skips send_issue's early check, as if the password vanished mid-run.
    with pytest.raises(MailError, match="is empty"):
        send(news, config, smtp_factory=lambda: connect(config.smtp, smtp_password()))
    assert [d.status for d in news.store.deliveries(W05)] == ["pending"]
    assert news.store.deliveries_in_doubt() == []


# -- The command --------------------------------------------------------------------------------


def write_config(
    news: NewsState, tmp_path: Path, port: int, *, per_second: float = 1000, connections: int = 4
) -> Path:
    path = tmp_path / "feeder.toml"
    path.write_text(
        state_toml(news.config.state.location) + f'[output]\ndir = "{news.config.output.dir}"\n'
        f'[newsletter]\ntemplates = "{news.config.newsletter.templates}"\n'
        f'[taxonomy]\npath = "{TAXONOMY}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nmax_per_second = {per_second}\n'
        f"connections = {connections}\n",
        encoding="utf-8",
    )
    return path


def test_cli_send_exit_status_says_whether_everyone_got_it(
    news: NewsState, server: tuple[Handler, int], tmp_path: Path
) -> None:
    handler, port = server
    handler.refuse = {"bo@example.org"}
    news.subscribe("ann@example.org", "bo@example.org")
    config_file = write_config(news, tmp_path, port)
    news.store.close()

    def run(*args: str) -> Any:
        return CliRunner().invoke(
            main, ["--config", str(config_file), "newsletter", "send", "--week", W05, *args]
        )

    dry = run("--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would send 2 messages" in dry.output and handler.messages == []
    failed = run()
    assert failed.exit_code == 1
    errors = [line for line in failed.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "bo@example.org" in errors[0] and "550" in errors[0]
    assert recipients_of(handler.messages) == Counter(["ann@example.org"])

    with open_storage(news.config.state.location, news.config.tz) as store:
        assert store.issue_status(W05) == "partial"
        assert "550 5.1.1" in (store.bounce_of("bo@example.org") or "")
        with store.transaction():
            store.settle_delivery(W05, "bo@example.org", "pending", None, AFTER_W05)
            store.reactivate("bo@example.org", AFTER_W05)
    handler.refuse = set()
    ok = run()
    assert ok.exit_code == 0, ok.output
    assert "1 sent, 1 already sent" in ok.output
    assert recipients_of(handler.messages) == Counter(["ann@example.org", "bo@example.org"])
