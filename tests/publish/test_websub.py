"""WebSub: every feed names the hub, and a poll that changed feeds tells a real HTTP hub on
127.0.0.1 about exactly those; a hub that is down, failing or slow costs a warning, never
the poll."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import feedparser
import pytest
from click.testing import CliRunner

from feeder.cli import main
from feeder.publish import websub
from feeder.publish.websub import changed_feeds, ping_hub
from tests.conftest import Site, record, run_poll, seed_records

BASE = "http://127.0.0.1:8000/"  # the sites' base_url (make_site's)
FEEDS = ("all", "policy", "research", "industry", "mine")  # with the custom feed below
FORMATS = ("atom", "rss", "json")  # a topic per format: a reader subscribes to one of them
TOPICS = len(FEEDS) * len(FORMATS)


@dataclass
class Hub:
    """A WebSub hub on 127.0.0.1 that records each publish request's form fields."""

    url: str
    pings: list[dict[str, list[str]]] = field(default_factory=list)
    status: int = 204
    delay: float = 0.0  # seconds before answering
    release: threading.Event = field(default_factory=threading.Event)  # ends every delay

    def topics(self) -> list[str]:
        return [url for ping in self.pings for url in ping["hub.url"]]


@pytest.fixture
def hub() -> Iterator[Hub]:
    state = Hub("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode("ascii")
            assert self.headers["Content-Type"] == "application/x-www-form-urlencoded"
            state.pings.append(parse_qs(body))
            state.release.wait(state.delay)
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hub"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def hub_site(make_site: Callable[..., Site], hub_url: str) -> Site:
    return make_site(extra=f'websub_hub = "{hub_url}"\n[[feeds]]\nname = "mine"\n')


def feed_files(site: Site, written: tuple[Path, ...]) -> list[str]:
    """The URLs of the article feeds among the written files (not the issues feed)."""
    return [BASE + p.relative_to(site.out).as_posix() for p in written if p.parent.name == "feeds"]


def test_every_feed_names_the_hub(make_site: Callable[..., Site], hub: Hub) -> None:
    site = hub_site(make_site, hub.url)
    run_poll(site.config)
    for name in FEEDS:
        for fmt in ("atom", "rss"):
            parsed = feedparser.parse((site.out / f"feeds/{name}.{fmt}").read_bytes())
            assert parsed.bozo == 0, parsed.bozo_exception
            assert [link.href for link in parsed.feed.links if link.rel == "hub"] == [hub.url]
        document = json.loads((site.out / f"feeds/{name}.json").read_bytes())
        assert document["hubs"] == [{"type": "WebSub", "url": hub.url}]
    issues = (site.out / "newsletter/issues.atom").read_text(encoding="utf-8")
    assert 'rel="hub"' not in issues  # no poll announces it, so it names no hub


def test_no_hub_no_link(site: Site) -> None:
    run_poll(site.config)
    assert 'rel="hub"' not in (site.out / "feeds/all.atom").read_text(encoding="utf-8")


def test_a_poll_pings_exactly_the_changed_feeds(make_site: Callable[..., Site], hub: Hub) -> None:
    site = hub_site(make_site, hub.url)
    warnings: list[str] = []

    first = run_poll(site.config, warn=warnings.append)
    assert sorted(hub.topics()) == sorted(
        f"{BASE}feeds/{name}.{fmt}" for name in FEEDS for fmt in FORMATS
    )
    assert hub.topics() == feed_files(site, first.written)
    assert all(ping["hub.mode"] == ["publish"] and len(ping) == 2 for ping in hub.pings)

    hub.pings.clear()
    again = run_poll(site.config, warn=warnings.append)
    assert not again.read and again.written == () and hub.pings == []

    # One new policy article: the feeds it lands in change, the others keep their bytes.
    notice = record("new-1", "市政府办公厅关于印发政策的通知", "2026/3/1", "各区人民政府：现印发。")
    site.write_corpus([*seed_records(), notice])
    later = run_poll(site.config, warn=warnings.append)
    changed = feed_files(site, later.written)
    assert hub.topics() == changed
    assert f"{BASE}feeds/all.atom" in changed and f"{BASE}feeds/research.atom" not in changed
    assert warnings == []


def test_a_hub_that_is_down_is_a_warning(make_site: Callable[..., Site]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    site = hub_site(make_site, down)
    result = CliRunner().invoke(main, ["--config", str(site.config_path), "poll"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("54 new")
    lines = result.stderr.splitlines()
    assert len(lines) == TOPICS
    assert all(line.startswith(f"Warning: websub: {down} was not told that") for line in lines)
    assert (site.out / "feeds/mine.atom").exists() and (site.out / "index.html").exists()


def test_a_failing_hub_is_a_warning(make_site: Callable[..., Site], hub: Hub) -> None:
    hub.status = 500
    site = hub_site(make_site, hub.url)
    warnings: list[str] = []
    result = run_poll(site.config, warn=warnings.append)
    assert result.new == 54
    assert len(warnings) == TOPICS and all(w.endswith(": HTTP 500") for w in warnings)


def test_a_slow_hub_times_out_and_the_poll_goes_on(
    make_site: Callable[..., Site], hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websub, "PING_SECONDS", 0.5)
    hub.delay = 30.0
    site = hub_site(make_site, hub.url)
    warnings: list[str] = []
    started = time.monotonic()
    result = run_poll(site.config, warn=warnings.append)
    took = time.monotonic() - started
    assert result.new == 54 and (site.out / "feeds/all.atom").exists()
    assert took < 10  # the budget, not the hub's 30 s
    assert len(hub.pings) == 1  # the first ping used up the budget
    assert "no answer within" in warnings[0]
    assert warnings[1:] == [
        f"websub: {hub.url} took over 0.5 s; {TOPICS - 1} changed feed(s) not announced"
    ]


def test_only_subscription_feeds_are_announced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = [
        out / "feeds/all.atom",
        out / "feeds/all.rss",
        out / "feeds/all.json",
        out / "feeds/account/abc.atom",
        out / "feeds/archive/all/3.atom",  # an archive page: readers never subscribe to it
        out / "feeds.opml",
        out / "index.html",
        out / "newsletter/issues.atom",
        tmp_path / "elsewhere/feeds/x.atom",
    ]
    assert changed_feeds(written, out, BASE) == [
        f"{BASE}feeds/all.atom",
        f"{BASE}feeds/all.rss",
        f"{BASE}feeds/all.json",
        f"{BASE}feeds/account/abc.atom",
    ]


def test_ping_hub_names_what_failed(hub: Hub) -> None:
    assert ping_hub(hub.url, [f"{BASE}feeds/a.atom", f"{BASE}feeds/b.atom"]) == []
    assert hub.topics() == [f"{BASE}feeds/a.atom", f"{BASE}feeds/b.atom"]
    hub.status = 404
    assert ping_hub(hub.url, [f"{BASE}feeds/a.atom"]) == [
        f"websub: {hub.url} was not told that {BASE}feeds/a.atom changed: HTTP 404"
    ]
