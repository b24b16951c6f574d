"""Subscribers who choose their sections and manage themselves: statuses, per-tag editions in
real sent mail, personal links and RFC 8058 headers, double opt-in, signed links, erasure,
and the operator's CLI. The web pages over HTTP are tested in web/test_pages.py."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feeder.app import Feeder, open_feeder
from feeder.cli import main
from feeder.errors import AddressError, InputError, TokenError, TokenProblem
from feeder.model import Classification, DeliveryStatus, SubscriberStatus
from feeder.storage import open_storage
from feeder.storage.schema import MIGRATIONS
from feeder.tokens import Purpose
from tests.conftest import NEWS_POLL, NewsState, state_toml
from tests.newsletter.test_mailer import W05, Handler, config_for, send, server


@pytest.fixture
def backend(both_backends: str) -> str:
    """Every test here that opens a state runs on SQLite and on PostgreSQL."""
    return both_backends


__all__ = ["server"]  # the fixture, imported for these tests

ANN, BO, CY, DEE = "ann@example.org", "bo@example.org", "cy@example.org", "dee@example.org"


def section_heads(message: Any) -> list[str]:
    """The section headings of a received copy, from its text part: 【政策】 and the like."""
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return re.findall(r"^【(.+?)】$", text, re.M)


def own_link(message: Any, page: str) -> str:
    """The recipient's own link to `page` in the text part."""
    text = message.get_body(("plain",)).get_content()
    (url,) = re.findall(rf"https://feeds\.example\.org/shkj/{page}/\S+", text)
    return str(url)


def token_of(url: str) -> str:
    return url.rstrip(">").rsplit("/", 1)[1]


# -- Editions: each reader gets their sections --------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])  # reads the SQLite file itself
def test_each_reader_gets_the_sections_they_chose_rendered_once_per_choice(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    news.subscribe(ANN, BO)  # everything
    news.subscribe(CY, DEE, tags=("policy",))
    report = send(news, config_for(news, port))
    assert (report.sent, report.complete) == (4, True)
    heads = {m["To"].addresses[0].addr_spec: section_heads(m) for m in handler.messages}
    assert heads[CY] == heads[DEE] == ["政策"]
    assert heads[ANN] == heads[BO] and "政策" in heads[ANN] and "其他" in heads[ANN]
    assert len(heads[ANN]) > 1
    # One rendering per distinct choice, not per reader.
    with sqlite3.connect(news.config.state.path) as db:
        editions = db.execute("SELECT edition FROM issue_editions WHERE issue = ?", (W05,))
        assert sorted(row[0] for row in editions) == ["*", "policy"]


def test_a_reader_whose_sections_are_empty_is_recorded_not_mailed(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    news.subscribe(ANN)
    news.subscribe(BO, tags=("research",))
    # Only a research-free week: take W05's policy articles out of research.
    with news.store.transaction():
        for entry in news.store.entries():
            if "research" in entry.tags and entry.article.published.isocalendar().week == 5:
                news.store.set_tags(entry.article.id, _without_research(entry.tags))
    report = send(news, config_for(news, port))
    assert [m["To"].addresses[0].addr_spec for m in handler.messages] == [ANN]
    assert (report.sent, report.empty, report.complete) == (1, 1, True)
    assert "1 with nothing in their sections" in report.summary()
    (row,) = news.store.deliveries(W05, DeliveryStatus.EMPTY)
    assert row.email == BO


def _without_research(tags: tuple[str, ...]) -> Classification:
    kept = tuple(t for t in tags if t != "research")
    return Classification(tags=kept, scores=dict.fromkeys(kept, 1.0))


def test_every_copy_carries_its_readers_own_links_and_one_click_headers(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    news.subscribe(ANN, BO)
    send(news, config_for(news, port))
    seen = set()
    for message in handler.messages:
        to = message["To"].addresses[0].addr_spec
        header = message["List-Unsubscribe"]
        first, mailto = (part.strip() for part in header.split(","))
        assert first.startswith("<https://feeds.example.org/shkj/unsubscribe/")
        assert mailto == "<mailto:newsletter@example.org?subject=unsubscribe>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = own_link(message, "unsubscribe")
        assert f"<{unsubscribe}>" == first  # the footer's link is the header's
        html = message.get_body(("html",)).get_content()
        assert unsubscribe in html and own_link(message, "preferences") in html
        assert to not in unsubscribe  # the address is never in a link
        named = news.feeder.subscriber_for(token_of(unsubscribe), Purpose.UNSUBSCRIBE)
        assert named.email == to
        prefs = token_of(own_link(message, "preferences"))
        assert news.feeder.subscriber_for(prefs, Purpose.PREFERENCES).email == to
        seen.add(unsubscribe)
        assert "在浏览器中查看" in html and f"{W05}.html" in html
    assert len(seen) == 2


# -- Signed links -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])  # reads the SQLite file itself
def test_tampered_and_foreign_links_open_nothing(news: NewsState) -> None:
    news.subscribe(ANN)
    (ann,) = news.store.subscribers()
    links = news.feeder.personal_links(ann)
    unsubscribe = token_of(links.unsubscribe)
    with pytest.raises(TokenError) as caught:
        news.feeder.unsubscribe_by_token(unsubscribe, Purpose.PREFERENCES)  # foreign purpose
    assert caught.value.problem is TokenProblem.BAD
    tampered = unsubscribe[:-2] + ("AA" if not unsubscribe.endswith("AA") else "BB")
    for bad in (tampered, "x", "", "a" * 5000, unsubscribe + "."):
        with pytest.raises(TokenError) as caught:
            news.feeder.unsubscribe_by_token(bad, Purpose.UNSUBSCRIBE)
        assert caught.value.problem is TokenProblem.BAD
    with pytest.raises(TokenError):
        news.feeder.confirm(unsubscribe)
    assert news.store.subscribers()[0].active  # nothing changed
    # Another installation's secret: the same reference, a different signature.
    other = replace(
        news.config, state=replace(news.config.state, path=news.config.state.path.with_name("o.db"))
    )
    with open_feeder(other) as elsewhere:
        assert elsewhere.personal_links(ann).unsubscribe != links.unsubscribe
    news.feeder.unsubscribe_by_token(unsubscribe, Purpose.UNSUBSCRIBE)
    assert news.store.subscribers() == []


def test_feeder_secret_comes_from_the_environment_else_is_kept_in_the_state(
    news: NewsState, monkeypatch: pytest.MonkeyPatch
) -> None:
    news.subscribe(ANN)
    (ann,) = news.store.subscribers()
    kept = news.feeder.personal_links(ann)
    with open_feeder(news.config) as again:
        assert again.personal_links(ann) == kept  # generated once, then read back
    monkeypatch.setenv("FEEDER_SECRET", "s" * 32)
    with open_feeder(news.config) as given:
        assert given.personal_links(ann) != kept
    monkeypatch.setenv("FEEDER_SECRET", "short")
    with open_feeder(news.config) as weak, pytest.raises(Exception, match="too short"):
        weak.personal_links(ann)


# -- Double opt-in ----------------------------------------------------------------------------


def clocked(news: NewsState, port: int, at: Any) -> Feeder:
    config = config_for(news, port)
    return open_feeder(config, clock=lambda: at)


def test_sign_up_confirm_and_its_limits(news: NewsState, server: tuple[Handler, int]) -> None:
    handler, port = server
    with clocked(news, port, NEWS_POLL) as feeder:
        feeder.sign_up("New@Example.org", ["policy"])
        feeder.sign_up("new@example.org", ["research"])  # within 10 minutes: no second mail
    assert len(handler.messages) == 1
    (mail,) = handler.messages
    assert (
        mail["Subject"] == "请确认订阅上海科技周报" and mail["Auto-Submitted"] == "auto-generated"
    )
    body = mail.get_body(("plain",)).get_content()
    assert "政策" in body and "new@example.org" not in body.split("http")[1]
    (url,) = re.findall(r"https://feeds\.example\.org/shkj/confirm/\S+", body)
    pending = news.store.subscribers(SubscriberStatus.PENDING)
    assert [s.email for s in pending] == ["New@example.org"]
    assert news.store.subscribers() == []  # not mailed until confirmed
    with clocked(news, port, NEWS_POLL + timedelta(days=1)) as feeder:
        confirmed = feeder.confirm(token_of(url))
    assert (confirmed.status, confirmed.tags) == (SubscriberStatus.ACTIVE, ("policy",))
    # Signing up again while active mails the preferences link and changes nothing.
    with clocked(news, port, NEWS_POLL + timedelta(days=1, minutes=11)) as feeder:
        feeder.sign_up("new@example.org", ["industry"])
    second = handler.messages[1]
    assert "/preferences/" in second.get_body(("plain",)).get_content()
    assert news.store.subscribers()[0].tags == ("policy",)


def test_a_confirmation_expires_after_seven_days_and_after_leaving(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    with clocked(news, port, NEWS_POLL) as feeder:
        feeder.sign_up(ANN, ["policy", "research", "industry"])
    token = token_of(
        re.findall(r"\S+/confirm/\S+", handler.messages[0].get_body(("plain",)).get_content())[0]
    )
    with clocked(news, port, NEWS_POLL + timedelta(days=7, seconds=1)) as feeder:
        with pytest.raises(TokenError) as caught:
            feeder.confirm(token)
        assert caught.value.problem is TokenProblem.EXPIRED
    assert news.store.subscriber(ANN).status is SubscriberStatus.PENDING  # type: ignore[union-attr]
    with clocked(news, port, NEWS_POLL + timedelta(days=6)) as feeder:
        assert feeder.confirm(token).tags is None  # every tag chosen: everything
        (ann,) = feeder.subscribers()
        feeder.unsubscribe_by_token(
            token_of(feeder.personal_links(ann).unsubscribe), Purpose.UNSUBSCRIBE
        )
    with clocked(news, port, NEWS_POLL + timedelta(days=6, hours=1)) as feeder:
        with pytest.raises(TokenError) as caught:
            feeder.confirm(token)  # older than the unsubscribe: it must not bring them back
        assert caught.value.problem is TokenProblem.EXPIRED
    assert news.store.subscribers() == []


def test_unconfirmed_sign_ups_are_erased_after_the_confirmation_window(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    _, port = server
    with clocked(news, port, NEWS_POLL) as feeder:
        feeder.sign_up(ANN, ["policy"])
    with clocked(news, port, NEWS_POLL + timedelta(days=8)) as feeder:
        feeder.sign_up(BO, ["policy"])
    assert [s.email for s in news.store.subscribers(None)] == [BO]


def test_bad_sign_ups_are_refused_before_anything_is_stored(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    with clocked(news, port, NEWS_POLL) as feeder:
        with pytest.raises(AddressError):
            feeder.sign_up("nobody", ["policy"])
        with pytest.raises(InputError, match="at least one"):
            feeder.sign_up(ANN, [])
        with pytest.raises(InputError, match="unknown section 'spam'"):
            feeder.sign_up(ANN, ["policy", "spam"])
    assert news.store.subscribers(None) == [] and handler.messages == []


def test_a_mail_server_that_refuses_lets_the_address_ask_again_at_once(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    handler, port = server
    handler.refuse = {ANN}
    with clocked(news, port, NEWS_POLL) as feeder:
        with pytest.raises(Exception, match="did not take the sign-up mail"):
            feeder.sign_up(ANN, ["policy"])
        handler.refuse = set()
        feeder.sign_up(ANN, ["policy"])  # not held back by the 10-minute limit
    assert [m["To"].addresses[0].addr_spec for m in handler.messages] == [ANN]


def test_preferences_change_sections_and_bring_back_a_reader_who_left(news: NewsState) -> None:
    news.subscribe(ANN)
    (ann,) = news.store.subscribers()
    prefs = token_of(news.feeder.personal_links(ann).preferences)
    assert news.feeder.set_tags(prefs, ["research", "policy"]).tags == ("policy", "research")
    news.feeder.unsubscribe_by_token(prefs, Purpose.PREFERENCES)
    assert news.store.subscribers() == []
    back = news.feeder.set_tags(prefs, ["industry"])
    assert (back.status, back.tags) == (SubscriberStatus.ACTIVE, ("industry",))


# -- Erasure and the operator's CLI ---------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])  # reads the SQLite file itself
def test_forget_erases_the_address_its_history_and_its_links(
    news: NewsState, server: tuple[Handler, int]
) -> None:
    _, port = server
    news.subscribe(ANN, BO)
    send(news, config_for(news, port))
    (ann, _) = news.store.subscribers()
    unsubscribe = token_of(news.feeder.personal_links(ann).unsubscribe)
    assert news.feeder.forget(ANN) == (ANN, True)
    assert news.feeder.forget(ANN) == (ANN, False)
    with sqlite3.connect(news.config.state.path) as db:
        dump = "\n".join(db.iterdump())
    assert ANN not in dump and BO in dump
    with pytest.raises(TokenError) as caught:
        news.feeder.unsubscribe_by_token(unsubscribe, Purpose.UNSUBSCRIBE)
    assert caught.value.problem is TokenProblem.UNKNOWN


def test_cli_add_with_tags_list_json_import_csv_and_forget(news: NewsState, tmp_path: Path) -> None:
    config_file = tmp_path / "feeder.toml"
    config_file.write_text(state_toml(news.config.state.location), encoding="utf-8")
    news.feeder.close()

    def run(*args: str) -> Any:
        result = CliRunner().invoke(main, ["--config", str(config_file), "subscribers", *args])
        assert result.exit_code == 0, result.output
        return result

    assert "subscribed ann@example.org" in run("add", ANN, "--tags", "policy,research").output
    assert "sections changed" in run("add", ANN, "--tags", "policy").output
    bad = CliRunner().invoke(
        main, ["--config", str(config_file), "subscribers", "add", BO, "--tags", "spam"]
    )
    assert bad.exit_code == 1 and bad.output.startswith("Error: unknown section 'spam'")
    (tmp_path / "people.csv").write_text(
        'email,name,tags\nbo@example.org,Bo,"research, industry"\ncy@example.org,,\n'
        "dee@example.org,Dee,spam\n",
        encoding="utf-8",
    )
    imported = run("import", str(tmp_path / "people.csv"))
    assert "people.csv:4:" in imported.output and "2 subscribed" in imported.output
    run("remove", CY)
    listed = json.loads(run("list", "--json").output)
    assert [set(p) for p in listed] == [{"email", "status", "tags", "since"}] * 3
    assert {p["email"]: (p["status"], p["tags"]) for p in listed} == {
        ANN: ("active", ["policy"]),
        BO: ("active", ["research", "industry"]),
        CY: ("unsubscribed", ["policy", "research", "industry"]),
    }
    active = run("list", "--status", "active").output.splitlines()
    assert active == [f"{ANN}\tactive\tpolicy", f"{BO}\tactive\tresearch,industry\tBo"]
    assert "erased cy@example.org" in run("forget", CY).output
    assert [p["email"] for p in json.loads(run("list", "--json").output)] == [ANN, BO]


# -- A state from before subscribers chose sections ----------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"])  # reads the SQLite file itself
def test_a_version_4_state_upgrades_and_resumes_its_frozen_issue(
    news: NewsState, tmp_path: Path, server: tuple[Handler, int]
) -> None:
    handler, port = server
    path = tmp_path / "v4.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:4]:
        step(db)
    db.execute("PRAGMA user_version = 4")
    db.executescript(
        f"""
        INSERT INTO subscribers VALUES ('{ANN}', '', '2026-01-01T00:00:00Z', NULL);
        INSERT INTO subscribers VALUES ('{BO}', '', '2026-01-01T00:00:00Z', NULL);
        INSERT INTO subscribers VALUES ('{CY}', '', '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z');
        INSERT INTO issues VALUES ('{W05}', 'partial', '2026-02-02T08:00:00Z', NULL, 1, 0,
            'old subject', '<p>old</p>', 'old');
        INSERT INTO deliveries VALUES ('{W05}', '{ANN}', 'sent', 1, '2026-02-02T08:00:00Z', NULL);
        INSERT INTO deliveries VALUES ('{W05}', '{BO}', 'pending', 0, '2026-02-02T08:00:00Z', NULL);
        """
    )
    db.close()
    with open_storage(path, news.config.tz) as store:
        statuses = {s.email: (s.status, s.tags) for s in store.subscribers(None)}
        assert statuses == {
            ANN: (SubscriberStatus.ACTIVE, None),
            BO: (SubscriberStatus.ACTIVE, None),
            CY: (SubscriberStatus.UNSUBSCRIBED, None),
        }
        assert len({s.ref for s in store.subscribers(None)}) == 3
    config = replace(config_for(news, port), state=replace(news.config.state, path=path))
    with open_feeder(config) as feeder:
        report = feeder.send(W05)
    assert (report.sent, report.already, report.complete) == (1, 1, True)
    (copy,) = handler.messages
    assert copy["To"].addresses[0].addr_spec == BO and copy["Subject"] == "old subject"
    # The send put the issue in the archive at once: its web version is the old message.
    web = config.output.dir / "newsletter" / f"{W05}.html"
    assert web.read_text(encoding="utf-8") == "<p>old</p>"
    assert Counter(m["List-Unsubscribe"].count("/unsubscribe/") for m in handler.messages) == {1: 1}
