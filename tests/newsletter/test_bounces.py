"""Bounces prune the list: refusals during the send, soft failures issue after issue, and
delivery status notifications read from an mbox or a Maildir."""

from __future__ import annotations

import mailbox
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import portpicker
import pytest
from click.testing import CliRunner

from feeder.cli import main
from feeder.errors import MailError
from feeder.jobs.people import import_bounces
from feeder.model import Article, DeliveryStatus, SubscriberStatus
from feeder.newsletter.bounces import (
    BounceOutcome,
    BounceReport,
    NotAReport,
    parse_report,
    read_bounces,
)
from feeder.newsletter.smtp import BACKOFF
from feeder.schedule import week_bounds
from feeder.storage import open_storage
from tests.conftest import DATA, NewsState
from tests.newsletter.test_mailer import (
    Handler,
    config_for,
    recipients_of,
    send,
    server,
    write_config,
)

__all__ = ["server"]  # the fixture: test_mailer's misbehaving SMTP server on 127.0.0.1

FIXTURE = DATA / "bounces.mbox"
NOW = datetime.fromisoformat("2026-02-10T09:00:00+08:00")
# The fixture's reports: a hard 5.1.1 for ann, a 4.2.2 delay for bo, a 5.1.1 for an address
# nobody subscribed, and an auto-reply from cy that is no report at all.
SUBSCRIBERS = ("ann@example.org", "bo@example.com", "cy@example.org")


def status_of(news: NewsState, email: str) -> SubscriberStatus:
    subscriber = news.store.subscriber(email)
    assert subscriber is not None
    return subscriber.status


def outcomes(report: BounceReport) -> Counter[tuple[str, str]]:
    return Counter((m.outcome.value, m.address or m.bounce.recipient) for m in report.matched)


# -- Reading reports ------------------------------------------------------------------------


def test_the_fixture_reads_as_three_recipients_and_one_message_that_is_no_report() -> None:
    messages, found, unreadable = read_bounces(FIXTURE)
    assert messages == 4
    assert [(b.recipient, b.hard, b.status, b.source) for b in found] == [
        ("ann@example.org", True, "5.1.1", "mbox message 1"),
        ("bo@example.com", False, "4.2.2", "mbox message 2"),
        ("old.reader@example.net", True, "5.1.1", "mbox message 3"),
    ]
    # Folded over two lines in the report, unfolded here.
    assert found[0].diagnostic == (
        "smtp; 550 5.1.1 <ann@example.org>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert [(u.source, u.reason) for u in unreadable] == [
        ("mbox message 4", "not a delivery status notification (no message/delivery-status part)")
    ]


def report(*blocks: str, extra: str = "") -> bytes:
    """A delivery status notification with these per-recipient blocks."""
    fields = "\n\n".join(["Reporting-MTA: dns; mx.example.net", *blocks])
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: newsletter@example.org\n"
        "Subject: Delivery Status Notification\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        "--B\nContent-Type: text/plain\n\nSee below.\n"
        f"--B\nContent-Type: message/delivery-status\n\n{fields}\n{extra}--B--\n"
    ).encode()


def test_what_counts_as_hard_and_which_address_is_taken() -> None:
    bounces = parse_report(
        report(
            # The address we sent to, not the one an alias led to.
            "Final-Recipient: rfc822; ann.real@example.net\n"
            "Original-Recipient: rfc822;ann@example.org\nAction: failed\n"
            "Status: 5.2.1 (mailbox disabled)",
            "Final-Recipient: rfc822; <bo@example.org>\nAction: failed\nStatus: 4.4.7",
            "Final-Recipient: rfc822; cy@example.org\nAction: delivered\nStatus: 2.0.0",
            "Final-Recipient: rfc822; dee@example.org\nAction: failed",
        ),
        "test",
    )
    assert [(b.recipient, b.hard, b.status) for b in bounces] == [
        ("ann@example.org", True, "5.2.1"),
        ("bo@example.org", False, "4.4.7"),  # failed, but for a temporary reason
        ("dee@example.org", False, ""),  # no status: not enough to cut anyone off
    ]
    success = report("Final-Recipient: rfc822; cy@example.org\nAction: delivered\nStatus: 2.0.0")
    with pytest.raises(NotAReport, match="no failed or delayed recipient"):
        parse_report(success, "test")


# -- Importing ------------------------------------------------------------------------------


def as_maildir(tmp_path: Path) -> Path:
    """The fixture's messages as a Maildir, as a mail server delivers them."""
    folder = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for message in mailbox.mbox(FIXTURE, create=False):
        folder.add(message)
    folder.close()
    return tmp_path / "Maildir"


@pytest.mark.parametrize("kind", ["mbox", "maildir"])
def test_import_marks_hard_bounces_of_subscribers_and_reports_the_rest(
    news: NewsState, tmp_path: Path, kind: str
) -> None:
    news.subscribe(*SUBSCRIBERS)
    path = FIXTURE if kind == "mbox" else as_maildir(tmp_path)
    result = import_bounces(news.store, path, now=NOW)
    assert result.messages == 4
    assert outcomes(result) == Counter(
        {
            ("marked", "ann@example.org"): 1,
            ("soft", "bo@example.com"): 1,
            ("unmatched", "old.reader@example.net"): 1,
        }
    )
    assert len(result.unreadable) == 1
    assert result.summary() == (
        "4 messages: 1 marked bounced, 0 hard bounces of addresses not active, "
        "1 soft (reported only), 1 unmatched, 1 unreadable"
    )
    assert [s.email for s in news.store.subscribers(SubscriberStatus.BOUNCED)] == [
        "ann@example.org"
    ]
    assert "5.1.1" in (news.store.bounce_of("ann@example.org") or "")
    assert status_of(news, "bo@example.com") is SubscriberStatus.ACTIVE  # a delay is no bounce
    assert status_of(news, "cy@example.org") is SubscriberStatus.ACTIVE  # nor an auto-reply

    before = news.store.subscribers(None)
    again = import_bounces(news.store, path, now=NOW + timedelta(days=1))
    assert news.store.subscribers(None) == before  # statuses and their dates as they were
    assert again.count(BounceOutcome.MARKED) == 0
    assert ("inactive", "ann@example.org") in outcomes(again)


def test_a_hard_bounce_of_an_address_that_left_changes_nothing(news: NewsState) -> None:
    news.subscribe("ann@example.org")
    news.feeder.unsubscribe("ann@example.org")
    result = import_bounces(news.store, FIXTURE, now=NOW)
    assert ("inactive", "ann@example.org") in outcomes(result)
    assert status_of(news, "ann@example.org") is SubscriberStatus.UNSUBSCRIBED


def test_a_path_that_is_no_mailbox_is_one_error(news: NewsState, tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "list.csv").write_text("email\nann@example.org\n", encoding="utf-8")
    cases = {
        "missing.mbox": "not found",
        "folder": "not a Maildir",
        "list.csv": "not an mbox file",
    }
    for name, problem in cases.items():
        with pytest.raises(MailError, match=problem):
            import_bounces(news.store, tmp_path / name, now=NOW)
    (tmp_path / "empty.mbox").write_bytes(b"")  # an mbox nothing was delivered to yet
    assert import_bounces(news.store, tmp_path / "empty.mbox", now=NOW).messages == 0


def mbox_of(*messages: bytes) -> bytes:
    return b"".join(b"From MAILER-DAEMON  Mon Feb  2 16:05:12 2026\n" + m + b"\n" for m in messages)


def test_hostile_messages_are_reported_and_the_others_still_read(
    news: NewsState, tmp_path: Path
) -> None:
    news.subscribe("ann@example.org", "bo@example.org")
    # The report first, then a returned copy of 5 MB: only the first MiB is read.
    returned = "\n--B\nContent-Type: message/rfc822\n\nSubject: x\n\n" + "x" * 76 + "\n"
    huge = report(
        "Final-Recipient: rfc822; ann@example.org\nAction: failed\nStatus: 5.1.1",
        extra=returned * 70_000,
    )
    nested = b"From: x@example.org\nMIME-Version: 1.0\n" + b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(5000)
    )
    garbage = bytes(range(256)) * 100
    forged = report(
        "Final-Recipient: rfc822; bo@example.org\x1b[2J\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 " + "=?utf-8?q?a?= " * 60_000,
    )
    path = tmp_path / "hostile.mbox"
    path.write_bytes(mbox_of(huge, nested, garbage, forged))
    result = import_bounces(news.store, path, now=NOW)
    assert result.messages == 4
    assert outcomes(result) == Counter(
        {("marked", "ann@example.org"): 1, ("unmatched", "bo@example.org\x1b[2J"): 1}
    )
    assert [u.source for u in result.unreadable] == ["mbox message 2", "mbox message 3"]
    assert "RecursionError" in result.unreadable[0].reason
    assert len(result.matched[1].bounce.diagnostic) <= 300
    assert status_of(news, "bo@example.org") is SubscriberStatus.ACTIVE


# -- During the send ------------------------------------------------------------------------


def after(news: NewsState, key: str) -> datetime:
    """Monday 16:00 in Shanghai after week `key`: when its issue goes out."""
    return week_bounds(key, news.config.tz)[1] + timedelta(hours=16)


def with_article(news: NewsState, key: str) -> None:
    """Give week `key` an article of its own (the seed corpus ends in 2026-W06)."""
    published = week_bounds(key, news.config.tz)[0] + timedelta(days=2)
    article = Article(
        id=f"news-{key}",
        title=f"{key} 研究成果发布",
        url=None,
        published=published,
        account="上海科技",
        content="正文。",
    )
    news.add([article], now=published)


@pytest.mark.parametrize("where", ["rcpt", "data"])
def test_a_permanent_refusal_bounces_the_address_and_the_next_week_skips_it(
    news: NewsState, server: tuple[Handler, int], where: str
) -> None:
    handler, port = server
    news.subscribe("ann@example.org", "bo@example.org", "cy@example.org")
    config = config_for(news, port)
    if where == "rcpt":  # 550 5.1.1 at RCPT TO
        handler.refuse = {"bo@example.org"}
    else:  # ann's message is taken, then bo's is refused once it is all sent
        handler.accept_first, handler.data_replies = 1, ["550 5.7.1 message refused"]
    w05 = send(news, config, "2026-W05", now=after(news, "2026-W05"))
    assert (w05.sent, w05.failed) == (2, 1)
    assert status_of(news, "bo@example.org") is SubscriberStatus.BOUNCED
    said = {"rcpt": "recipient refused: 550 5.1.1", "data": "message refused: 550 5.7.1"}
    assert said[where] in (news.store.bounce_of("bo@example.org") or "")

    handler.refuse, handler.messages = set(), []  # the server would take it now
    w06 = send(news, config, "2026-W06", now=after(news, "2026-W06"))
    assert (w06.sent, w06.failed, w06.complete) == (2, 0, True)
    assert recipients_of(handler.messages) == Counter(["ann@example.org", "cy@example.org"])
    assert "bo@example.org" not in {d.email for d in news.store.deliveries("2026-W06")}


# A send run claims a row again after its transient failures, until the server takes it:
# with a server that keeps answering 4xx the run never ends, and no issue ever ends with the
# recipient deferred, so soft failures are never counted over three issues. These tests pass
# once a run leaves a row it deferred pending for the next run (checked against a dispatch
# that skips the addresses it deferred in this run).


def soft_fail(handler: Handler, taken: int = 1) -> None:
    """In the next run, the message after the first `taken` (bo's, after ann's) gets a 452
    at every try: it is left deferred, one soft failure for that issue."""
    handler.accept_first = handler.data_commands + taken
    handler.data_replies = ["452 4.2.2 mailbox full"] * (1 + len(BACKOFF))


def test_soft_failures_in_three_issues_in_a_row_bounce_an_address(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    news.subscribe("ann@example.org", "bo@example.org")
    config = config_for(news, port)
    for key in ("2026-W07", "2026-W08"):
        with_article(news, key)
    # W05 twice: a rerun mails bo alone, and its failure is the same issue's, counted once.
    runs = [("2026-W05", 1), ("2026-W05", 0), ("2026-W06", 1), ("2026-W07", 1)]
    for key, taken in runs:
        assert status_of(news, "bo@example.org") is SubscriberStatus.ACTIVE, key
        soft_fail(handler, taken)
        send(news, config, key, now=after(news, key))
        sent = {d.email for d in news.store.deliveries(key, DeliveryStatus.SENT)}
        assert "bo@example.org" not in sent and handler.data_replies == [], key  # all tries
    assert status_of(news, "bo@example.org") is SubscriberStatus.BOUNCED
    assert "soft failures in 3 issues" in (news.store.bounce_of("bo@example.org") or "")

    handler.messages = []
    report = send(news, config, "2026-W08", now=after(news, "2026-W08"))
    assert (report.sent, report.complete) == (1, True)
    assert recipients_of(handler.messages) == Counter(["ann@example.org"])


def test_a_message_taken_between_soft_failures_starts_the_count_again(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    news.subscribe("ann@example.org", "bo@example.org")
    config = config_for(news, port)
    for key in ("2026-W07", "2026-W08", "2026-W09"):
        with_article(news, key)
    for key, soft in [("2026-W05", True), ("2026-W06", True), ("2026-W07", False)]:
        if soft:
            soft_fail(handler)
        send(news, config, key, now=after(news, key))
    assert news.store.deliveries("2026-W07", DeliveryStatus.SENT)[1].email == "bo@example.org"
    soft_fail(handler)
    send(news, config, "2026-W08", now=after(news, "2026-W08"))
    # Soft failures in four issues of five, but never three in a row.
    soft_fail(handler)
    assert send(news, config, "2026-W09", now=after(news, "2026-W09")).deferred == 1
    assert status_of(news, "bo@example.org") is SubscriberStatus.ACTIVE


# -- The command line -----------------------------------------------------------------------


def test_cli_imports_bounces_lists_and_reactivates(news: NewsState, tmp_path: Path) -> None:
    news.subscribe(*SUBSCRIBERS)
    config_file = write_config(news, tmp_path, portpicker.pick_unused_port())
    news.store.close()  # the CLI opens the state file itself

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["--config", str(config_file), *args])

    result = run("bounces", "import", str(FIXTURE))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t")[:4] == ["marked", "ann@example.org", "5.1.1", "mbox message 1"]
    assert lines[1].startswith("soft\tbo@example.com\t4.2.2\tmbox message 2\tSMTP; 452")
    assert lines[2].startswith("unmatched\told.reader@example.net\t5.1.1")
    assert lines[3].startswith("4 messages: 1 marked bounced")
    assert "Warning:" in result.stderr and "mbox message 4: not a delivery status" in result.stderr

    listed = run("subscribers", "list", "--status", "bounced")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == ["ann@example.org\tbounced\tall"]

    back = run("subscribers", "reactivate", "Ann@Example.org")
    assert back.exit_code == 0, back.output
    assert back.output == "reactivated Ann@example.org\n"  # case-blind, as typed
    again = run("subscribers", "reactivate", "ann@example.org")
    assert again.output == "ann@example.org was not bounced\n"
    with open_storage(news.config.state.path, news.config.tz) as store:
        assert store.subscribers(SubscriberStatus.BOUNCED) == []
        assert store.bounce_of("ann@example.org") is None

    missing = run("bounces", "import", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1
    assert missing.output.count("Error:") == 1 and "nowhere: not found" in missing.output


def test_cli_escapes_what_a_stranger_wrote(news: NewsState, tmp_path: Path) -> None:
    config_file = write_config(news, tmp_path, portpicker.pick_unused_port())
    news.store.close()
    path = tmp_path / "forged.mbox"
    path.write_bytes(
        mbox_of(
            report(
                "Final-Recipient: rfc822; evil\x1b]0;pwned\x07@example.org\nAction: failed\n"
                "Status: 5.1.1\nDiagnostic-Code: smtp; 550 \u202egnp.exe"
            )
        )
    )
    result = CliRunner().invoke(
        main, ["--config", str(config_file), "bounces", "import", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "unmatched\tevil\\x1b]0;pwned\\x07@example.org\t5.1.1" in result.output
