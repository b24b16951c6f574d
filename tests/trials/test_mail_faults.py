"""SMTP faults end to end: nobody gets two copies, everyone gets one once the server is back,
and what cannot be known (did the server take it?) is shown by `feeder status`.

A fault before the message is handed over (refused connection, 4xx, a drop at RCPT) is
retried; a 5xx fails that recipient only; a drop or a silence after the whole message went
out is ambiguous: the server may have queued it, so the row stays in doubt for the operator.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import portpicker
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result

from feeder.cli import main
from feeder.newsletter.smtp import PASSWORD_ENV
from feeder.storage import open_storage
from tests.conftest import NewsState
from tests.newsletter.test_mailer import (
    AFTER_W05,
    NON_ASCII_PASSWORD,
    READERS,
    W05,
    auth_mailbox,
    config_for,
    parse,
    recipients_of,
    send,
    write_config,
)

RCPT_FAULTS = ("550", "drop-at-rcpt")


class FaultyServer:
    """An aiosmtpd handler with a plan of faults per recipient, one taken per attempt.

    At RCPT: "550" (refused for good), "drop-at-rcpt" (connection closed before any
    message). At the end of DATA: "451" (try later), "drop" or "hang" (no reply, message
    discarded), "store-then-drop" or "store-then-hang" (no reply, message kept: a server
    that queued it and then died or stalled).
    """

    def __init__(self) -> None:
        self.plan: dict[str, list[str]] = {}
        self.messages: list[EmailMessage] = []

    def _take(self, address: str, at_rcpt: bool) -> str | None:
        faults = self.plan.get(address, [])
        if faults and (faults[0] in RCPT_FAULTS) == at_rcpt:
            return faults.pop(0)
        return None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        fault = self._take(address, at_rcpt=True)
        if fault == "550":
            return f"550 5.1.1 <{address}>: no such mailbox"
        if fault == "drop-at-rcpt":
            server.transport.close()
            return "421 gone"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        (address,) = envelope.rcpt_tos
        fault = self._take(address, at_rcpt=False)
        if fault == "451":
            return "451 4.3.0 try later"
        if fault in ("store-then-drop", "store-then-hang"):
            self.messages.append(parse(envelope.original_content))
        if fault in ("drop", "store-then-drop"):
            server.transport.close()
            return "421 gone"  # never reaches the client
        if fault in ("hang", "store-then-hang"):
            await asyncio.sleep(3600)
        if fault is None:
            self.messages.append(parse(envelope.original_content))
        return "250 2.0.0 queued"


class Mailhost:
    """A port on 127.0.0.1 where the faulty server can be started (until then: refused)."""

    def __init__(self) -> None:
        self.port = portpicker.pick_unused_port()
        self.handler = FaultyServer()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mailhost(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailhost]:
    # The real back-off (1, 5, 20 s) through the CLI would make this a minute-long test.
    monkeypatch.setattr("feeder.newsletter.smtp.BACKOFF", (0.01, 0.01, 0.01))
    host = Mailhost()
    yield host
    host.stop()


def copies(host: Mailhost) -> Counter[str]:
    return recipients_of(host.handler.messages)


@pytest.mark.parametrize("fault", ["store-then-drop", "store-then-hang"])
def test_no_reply_after_the_message_leaves_it_in_doubt_never_sent_twice(
    news: NewsState, mailhost: Mailhost, fault: str
) -> None:
    mailhost.start()
    mailhost.handler.plan = {READERS[1]: [fault]}
    news.subscribe(*READERS)
    config = config_for(news, mailhost.port, timeout=0.5)

    first = send(news, config)
    assert (first.sent, first.in_doubt, first.deferred) == (1, 1, 2)
    assert "in doubt" in first.error()
    second = send(news, config)
    assert (second.sent, second.in_doubt, second.deferred) == (2, 1, 0)
    # The server had queued it: a retry would have been a second copy.
    assert copies(mailhost) == Counter(READERS)
    (doubt,) = news.store.deliveries_in_doubt()
    assert doubt.email == READERS[1] and doubt.detail and "may have" in doubt.detail


def test_a_copy_sent_again_is_byte_for_byte_the_first(news: NewsState, mailhost: Mailhost) -> None:
    # Per-recipient copies (their own links) are still the same bytes on every attempt:
    # built from the frozen edition and dated when the issue was frozen, not when sent.
    mailhost.start()
    mailhost.handler.plan = {READERS[1]: ["store-then-drop"]}
    news.subscribe(*READERS)
    config = config_for(news, mailhost.port, timeout=0.5)
    send(news, config)
    later = send(news, config, retry_unknown=True, now=AFTER_W05 + timedelta(days=3))
    assert later.complete
    first, again = (
        m for m in mailhost.handler.messages if m["To"].addresses[0].addr_spec == READERS[1]
    )
    assert first.as_bytes() == again.as_bytes()
    assert "/unsubscribe/" in first["List-Unsubscribe"]


class CountsCopies:
    """Keeps the recipient of every message it takes; `seen` is set once it has `kill_at`."""

    def __init__(self, kill_at: int) -> None:
        self.recipients: list[str] = []
        self.kill_at = kill_at
        self.seen = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients.extend(envelope.rcpt_tos)
        if len(self.recipients) >= self.kill_at:
            self.seen.set()
        return "250 2.0.0 queued"


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [37, 150])
def test_kill_9_during_a_parallel_send_never_mails_anyone_twice_unannounced(
    news: NewsState, tmp_path: Path, kill_at: int
) -> None:
    # Four sessions claiming batches of 10 at once: a kill leaves up to four batches in
    # doubt. After a rerun, each reader has exactly one copy, or is listed in doubt (with
    # at most one): never two copies that nobody was told about.
    readers = [f"r{n:03d}@example.org" for n in range(300)]
    news.subscribe(*readers)
    handler = CountsCopies(kill_at)
    port = portpicker.pick_unused_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = write_config(news, tmp_path, port, per_second=40, connections=4)
        news.store.close()
        sender = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "feeder",
                "--config",
                str(config),
                "newsletter",
                "send",
                "--week",
                W05,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            assert handler.seen.wait(60), sender.communicate()[1].decode()
            sender.send_signal(signal.SIGKILL)
            assert sender.wait(10) == -signal.SIGKILL
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
        rerun = cli(config, "newsletter", "send", "--week", W05)
        status = json.loads(cli(config, "status", "--json").stdout)
    finally:
        controller.stop()
    doubt = {row["email"] for row in status["in_doubt"]}
    copies = Counter(handler.recipients)
    assert 0 < len(doubt) <= 4 * 10, rerun.output
    assert {r for r in readers if copies[r] == 1} | doubt == set(readers)
    assert all(copies[r] <= 1 for r in readers)  # nobody twice
    assert not [r for r in readers if copies[r] == 0 and r not in doubt]  # nobody forgotten


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args])


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_every_fault_through_the_cli_then_exactly_one_each(
    news: NewsState, mailhost: Mailhost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    readers = [f"{name}@example.org" for name in ("ann", "bo", "cy", "dee", "eve", "fay")]
    ann, bo, cy, dee, eve, fay = readers
    news.subscribe(*readers)
    config = write_config(news, tmp_path, mailhost.port)
    with config.open("a", encoding="utf-8") as f:
        f.write("timeout = 0.5\n")  # [smtp] is the file's last table
    news.store.close()

    # 1. Nothing listens: connection refused, retried, then everyone is left for later.
    down = cli(config, "newsletter", "send", "--week", W05)
    assert "6 deferred" in one_error_line(down) and "Connection refused" in down.stderr
    assert copies(mailhost) == Counter()

    # 2. The server is up but faulty, differently for each recipient.
    mailhost.handler.plan = {
        ann: ["451"],  # try later: retried within the run
        bo: ["550"],  # no such mailbox: failed for good
        cy: ["drop-at-rcpt"],  # dropped before the message: retried within the run
        dee: ["drop"],  # dropped after the message: in doubt (it was in fact discarded)
        eve: ["hang"],  # silent after the message: in doubt (also discarded)
    }
    mailhost.start()
    runs = []
    for _ in range(4):  # each ambiguous reply ends the run, as a lost connection does
        runs.append(cli(config, "newsletter", "send", "--week", W05))
        one_error_line(runs[-1])
    assert "1 failed" in runs[-1].stderr and "2 in doubt" in runs[-1].stderr
    assert copies(mailhost) == Counter([ann, cy, fay])

    # 3. `feeder status` shows the two the operator has to decide about.
    status = cli(config, "status")
    assert status.exit_code == 0, status.output
    assert "in doubt:         2 deliveries may or may not have gone out" in status.stdout
    assert f"  {W05} {dee} (since " in status.stdout and f"  {W05} {eve} (since " in status.stdout
    report = cli(config, "status", "--json")
    assert report.exit_code == 0, report.output
    in_doubt = json.loads(report.stdout)["in_doubt"]
    assert [(row["issue"], row["email"]) for row in in_doubt] == [(W05, dee), (W05, eve)]

    # 4. The mail log shows neither arrived: the operator resends to those two only.
    retried = cli(config, "newsletter", "send", "--week", W05, "--retry-unknown")
    assert "1 failed" in one_error_line(retried)  # bo's mailbox does not exist
    assert "2 sent" in retried.stdout
    assert copies(mailhost) == Counter([ann, cy, dee, eve, fay])  # one each, bo none
    status = cli(config, "status", "--json")
    assert json.loads(status.stdout)["in_doubt"] == []
    assert json.loads(status.stdout)["last_newsletter"]["failed"] == 1

    # 5. Running again sends nothing to anyone.
    again = cli(config, "newsletter", "send", "--week", W05)
    one_error_line(again)
    assert again.stdout.startswith(f"{W05}: 0 sent, 5 already sent, 1 failed")
    assert copies(mailhost) == Counter([ann, cy, dee, eve, fay])


# -- A refused login ----------------------------------------------------------------------------


@pytest.fixture
def login_mailbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """smtpdfix over STARTTLS, accepting "feeder" with a password outside ASCII."""
    with auth_mailbox(tmp_path, monkeypatch, "starttls", NON_ASCII_PASSWORD) as smtpd:
        yield smtpd


def test_a_refused_login_is_one_line_and_claims_nobody(
    news: NewsState, login_mailbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    news.subscribe(*READERS)
    config = write_config(news, tmp_path, login_mailbox.port)
    with config.open("a", encoding="utf-8") as f:
        f.write('security = "starttls"\nusername = "feeder"\n')  # [smtp] is the last table
    news.store.close()

    monkeypatch.setenv(PASSWORD_ENV, "wrong-密码")
    refused = cli(config, "newsletter", "send", "--week", W05)
    assert one_error_line(refused) == (
        f"Error: 127.0.0.1:{login_mailbox.port} refused the login of 'feeder': "
        "535 5.7.8 Authentication credentials invalid"
    )
    assert login_mailbox.logins == [("feeder", "wrong-密码")]  # asked once, not per mechanism
    status = cli(config, "status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["in_doubt"] == []
    with open_storage(news.config.state.path, news.config.tz) as store:
        rows = store.deliveries(W05)
    assert [(r.email, r.status, r.attempts) for r in rows] == [
        (email, "pending", 0)
        for email in READERS  # logged in before any row was claimed
    ]

    monkeypatch.setenv(PASSWORD_ENV, NON_ASCII_PASSWORD)
    ok = cli(config, "newsletter", "send", "--week", W05)
    assert ok.exit_code == 0, ok.output
    assert copies_of(login_mailbox.messages) == Counter(READERS)


def copies_of(messages: list[Any]) -> Counter[str]:
    return recipients_of([parse(m) for m in messages])


# -- kill -9 during a send ----------------------------------------------------------------------


class HoldsThirdReply:
    """Takes two messages, then holds the reply to the third's DATA until `release` is set
    (the sender is killed meanwhile) and keeps nothing of it, as a server that died would."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if len(self.messages) == 2 and not self.holding.is_set():
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 too late"  # to a closed connection
        self.messages.append(parse(envelope.original_content))
        return "250 2.0.0 queued"


def test_kill_9_mid_send_leaves_exactly_that_batch_in_doubt(
    news: NewsState, tmp_path: Path
) -> None:
    # One connection at 2 messages a second claims two rows at a time: the kill falls in
    # the second batch, which is left in doubt whole; nothing else is.
    readers = [f"{name}@example.org" for name in ("ann", "bo", "cy", "dee", "eve", "fay")]
    news.subscribe(*readers)
    handler = HoldsThirdReply()
    port = portpicker.pick_unused_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = write_config(news, tmp_path, port, per_second=2, connections=1)
        news.store.close()
        command = ["newsletter", "send", "--week", W05]
        sender = subprocess.Popen(
            [sys.executable, "-m", "feeder", "--config", str(config), *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            for _ in range(300):  # up to 30 s, or until the sender ends on its own
                if handler.holding.wait(0.1) or sender.poll() is not None:
                    break
            assert handler.holding.is_set(), sender.communicate()[1].decode()
            # The whole third message is out; its reply has not come: SIGKILL, as the OOM
            # killer or a power cut would end it, with no chance to settle the row.
            sender.send_signal(signal.SIGKILL)
            assert sender.wait(10) == -signal.SIGKILL
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
            handler.release.set()
        assert copies_of(handler.messages) == Counter(readers[:2])

        status = cli(config, "status", "--json")
        assert status.exit_code == 0, status.output
        doubt = json.loads(status.stdout)["in_doubt"]
        assert [(row["issue"], row["email"]) for row in doubt] == [(W05, r) for r in readers[2:4]]
        with open_storage(news.config.state.path, news.config.tz) as store:
            rows = [(r.email, r.status, r.attempts, r.detail) for r in store.deliveries(W05)]
        assert (
            rows
            == [
                *[(email, "sent", 1, None) for email in readers[:2]],
                *[(email, "sending", 1, None) for email in readers[2:4]],  # the batch in flight
                *[(email, "pending", 0, None) for email in readers[4:]],  # untouched
            ]
        )

        rerun = cli(config, "newsletter", "send", "--week", W05)
        assert "2 in doubt" in one_error_line(rerun)
        assert rerun.stdout.startswith(f"{W05}: 2 sent, 2 already sent")
        assert copies_of(handler.messages) == Counter(readers[:2] + readers[4:])  # one each

        # The mail log shows the third never arrived: the operator resends it.
        retried = cli(config, "newsletter", "send", "--week", W05, "--retry-unknown")
        assert retried.exit_code == 0, retried.output
        assert copies_of(handler.messages) == Counter(readers)
    finally:
        handler.release.set()
        controller.stop()
