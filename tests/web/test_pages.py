"""The subscriber pages over real HTTP: uvicorn on 127.0.0.1, mail collected by aiosmtpd,
the state read back through the facade. One server for the module; each test uses its own
addresses, and its own client address (X-Forwarded-For, trusted from 127.0.0.1) where the
sign-up rate limit could count it."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import http.client
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import portpicker
import pytest
from aiosmtpd.controller import Controller

from feeder.app import Feeder, open_feeder
from feeder.config import Config, parse_config
from feeder.errors import OutputError
from feeder.model import Subscriber, SubscriberStatus
from feeder.web.guard import (
    FORM_COOKIE,
    FORM_FIELD,
    FormRefused,
    FormTokens,
    RateLimiter,
    page_headers,
)
from feeder.web.pages import HONEYPOT, SIGNUPS_PER_CLIENT
from feeder.web.server import create_app, listen, serve_in_thread, url_of
from tests.conftest import state_toml

START = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)
ONE_CLICK = b"List-Unsubscribe=One-Click"
CHECK_INBOX = "请查收确认邮件"


class Clock:
    """The facade's clock for every request the server handles; tests move it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 2.0.0 queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"].addresses[0].addr_spec == address]


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass
class Form:
    """A page's form as a browser holds it: the cookie it was given and the hidden token."""

    path: str
    cookie: str
    token: str


@dataclass
class Web:
    """The running server and what it talks to."""

    url: str
    config: Config
    clock: Clock
    inbox: Inbox
    ips: Iterator[str] = field(default_factory=lambda: (f"198.51.100.{i}" for i in range(1, 255)))

    def feeder(self) -> Feeder:
        return open_feeder(self.config, clock=self.clock)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> Reply:
        host, port = urlsplit(self.url).hostname, urlsplit(self.url).port
        conn = http.client.HTTPConnection(str(host), port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()

    def get(self, path: str, cookie: str | None = None) -> Reply:
        headers = {"Cookie": f"{FORM_COOKIE}={cookie}"} if cookie else {}
        return self.request("GET", path, headers=headers)

    def one_click(self, path: str) -> Reply:
        """RFC 8058's POST, as a mail provider sends it: no cookie, no form token."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", path, ONE_CLICK, headers)

    def post(
        self,
        path: str,
        fields: Sequence[tuple[str, str]],
        *,
        cookie: str | None = None,
        ip: str | None = None,
    ) -> Reply:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if cookie is not None:
            headers["Cookie"] = f"{FORM_COOKIE}={cookie}"
        headers["X-Forwarded-For"] = ip or next(self.ips)
        return self.request("POST", path, urlencode(fields).encode(), headers)

    def open_form(self, path: str, cookie: str | None = None) -> Form:
        reply = self.get(path, cookie)
        assert reply.status == 200, reply.text
        return Form(path, cookie_of(reply), token_of(reply))

    def submit(self, form: Form, fields: Sequence[tuple[str, str]], ip: str | None = None) -> Reply:
        return self.post(form.path, [(FORM_FIELD, form.token), *fields], cookie=form.cookie, ip=ip)

    def sign_up(self, address: str, tags: Sequence[str] = ("policy",)) -> Reply:
        form = self.open_form("/subscribe")
        return self.submit(form, [("email", address), *(("tags", t) for t in tags)])

    def link_in_mail(self, address: str, page: str) -> str:
        """The path of the last `page` link mailed to `address`."""
        [*_, message] = self.inbox.to(address)
        body = message.get_body(("plain",))
        assert body is not None
        [link] = re.findall(rf"{re.escape(self.url)}{page}/\S+", body.get_content())
        return "/" + link.removeprefix(self.url)

    def find(self, address: str) -> Subscriber | None:
        with self.feeder() as feeder:
            return next((s for s in feeder.subscribers(None) if s.email == address), None)

    def subscriber(self, address: str) -> Subscriber:
        found = self.find(address)
        assert found is not None, f"{address} is not in the state"
        return found

    def everyone(self) -> list[Subscriber]:
        with self.feeder() as feeder:
            return feeder.subscribers(None)

    def active(self, address: str, tags: Sequence[str] | None = None) -> tuple[str, str]:
        """An address subscribed by the operator: its (preferences, unsubscribe) paths."""
        with self.feeder() as feeder:
            feeder.subscribe(address, tags=tags)
            subscriber = next(s for s in feeder.subscribers() if s.email == address)
            links = feeder.personal_links(subscriber)
        return path_of(links.preferences), path_of(links.unsubscribe)


def path_of(url: str) -> str:
    return urlsplit(url).path


def cookie_of(reply: Reply) -> str:
    [value] = re.findall(rf"{FORM_COOKIE}=([^;]+)", reply.headers["Set-Cookie"])
    return value


def token_of(reply: Reply) -> str:
    [value] = re.findall(rf'name="{FORM_FIELD}" value="([^"]+)"', reply.text)
    return value


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def web(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Web]:
    """The subscriber pages served over a state on each engine in turn."""
    root = tmp_path_factory.mktemp("web")
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgresql" else None
    location: Path | str = root / "state" / "state.db" if cluster is None else cluster.migrated()
    (root / "out").mkdir()
    (root / "out" / "index.html").write_text("<p>首页</p>", encoding="utf-8")
    inbox = Inbox()
    smtp_port = portpicker.pick_unused_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    sock = listen("127.0.0.1", 0)
    config = parse_config(
        f'[output]\ndir = "out"\nbase_url = "{url_of(sock)}"\n'
        + state_toml(location)
        + f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\ntimeout = 5\n',
        root,
    )
    clock = Clock()
    with serve_in_thread(create_app(config, clock=clock), sock) as url:
        yield Web(url, config, clock, inbox)
    controller.stop()
    sock.close()
    if cluster is not None:
        cluster.drop(str(location))


@pytest.fixture
def web_clock(web: Web) -> Iterator[Clock]:
    """The server's clock, put back where it was after the test."""
    yield web.clock
    web.clock.now = START


# -- The whole way through -----------------------------------------------------------------


def test_sign_up_mails_a_link_that_activates_the_chosen_sections(web: Web) -> None:
    address = "ann@example.org"
    form_page = web.get("/subscribe")
    assert form_page.status == 200
    assert form_page.text.count('type="checkbox" name="tags"') == 3
    assert form_page.text.count(" checked") == 3  # every section, unless unticked
    assert f'name="{HONEYPOT}"' in form_page.text

    reply = web.sign_up(address, ["policy", "research"])

    assert reply.status == 200 and CHECK_INBOX in reply.text
    assert web.subscriber(address).status is SubscriberStatus.PENDING
    [mail] = web.inbox.to(address)
    assert "请确认订阅" in mail["Subject"]

    page = web.get(web.link_in_mail(address, "confirm"))

    assert page.status == 200 and "订阅成功" in page.text
    assert "政策" in page.text and "科研" in page.text and "产业" not in page.text
    subscriber = web.subscriber(address)
    assert subscriber.active
    assert subscriber.tags == ("policy", "research")
    with web.feeder() as feeder:
        assert feeder.personal_links(subscriber).preferences in page.text


def test_preferences_change_the_sections(web: Web) -> None:
    preferences, _ = web.active("bo@example.org")
    form = web.open_form(preferences)

    reply = web.submit(form, [("tags", "industry"), ("action", "save")])

    assert reply.status == 200 and "已保存" in reply.text
    assert web.subscriber("bo@example.org").tags == ("industry",)
    # The answer is the form again, with the new choice ticked and a fresh token.
    assert re.search(r'value="industry" checked', reply.text)
    assert not re.search(r'value="policy" checked', reply.text)
    assert token_of(reply) != form.token


def test_preferences_need_one_section_at_least(web: Web) -> None:
    preferences, _ = web.active("cy@example.org", tags=["policy"])

    reply = web.submit(web.open_form(preferences), [("action", "save")])

    assert reply.status == 400 and "请至少选择一个分类" in reply.text
    assert web.subscriber("cy@example.org").tags == ("policy",)


def test_the_preferences_page_can_unsubscribe(web: Web) -> None:
    preferences, _ = web.active("dee@example.org")

    reply = web.submit(web.open_form(preferences), [("action", "unsubscribe")])

    assert reply.status == 200 and "已退订" in reply.text
    assert web.subscriber("dee@example.org").status is SubscriberStatus.UNSUBSCRIBED


def test_opening_the_unsubscribe_link_changes_nothing_and_its_button_unsubscribes(
    web: Web,
) -> None:
    _, unsubscribe = web.active("eve@example.org")

    for _ in range(2):  # a mail scanner, then the reader
        page = web.get(unsubscribe)
        assert page.status == 200 and "确认退订" in page.text
    assert web.subscriber("eve@example.org").active

    reply = web.submit(web.open_form(unsubscribe), [])

    assert reply.status == 200 and "已退订" in reply.text
    assert web.subscriber("eve@example.org").status is SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", ONE_CLICK),
        (
            "multipart/form-data; boundary=b0undary",
            b'--b0undary\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
            b"One-Click\r\n--b0undary--\r\n",
        ),
    ],
    ids=["urlencoded", "multipart"],
)
def test_a_mail_clients_one_click_post_unsubscribes_without_cookie_or_form_token(
    web: Web, content_type: str, body: bytes
) -> None:
    address = f"one-click-{content_type[:9]}@example.org"
    _, unsubscribe = web.active(address)

    # As RFC 8058 has a mail provider send it: no cookie, no form token, nothing else.
    reply = web.request("POST", unsubscribe, body, {"Content-Type": content_type})

    assert reply.status == 200
    assert web.subscriber(address).status is SubscriberStatus.UNSUBSCRIBED
    again = web.request("POST", unsubscribe, body, {"Content-Type": content_type})
    assert again.status == 200  # a retry is harmless


# -- Links that open nothing ---------------------------------------------------------------


def tampered(path: str) -> str:
    head, token = path.rsplit("/", 1)
    middle = len(token) // 2
    swapped = "A" if token[middle] != "A" else "B"
    return f"{head}/{token[:middle]}{swapped}{token[middle + 1 :]}"


def test_a_tampered_or_foreign_token_gets_400_and_changes_nothing(web: Web) -> None:
    preferences, unsubscribe = web.active("fay@example.org", tags=["policy"])
    web.sign_up("gus@example.org")
    confirm = web.link_in_mail("gus@example.org", "confirm")
    before = web.everyone()

    foreign = [
        "/preferences/" + unsubscribe.rsplit("/", 1)[1],
        "/unsubscribe/" + preferences.rsplit("/", 1)[1],
        "/unsubscribe/" + confirm.rsplit("/", 1)[1],
        "/confirm/" + preferences.rsplit("/", 1)[1],
    ]
    for path in [tampered(preferences), tampered(unsubscribe), tampered(confirm), *foreign]:
        assert web.get(path).status == 400, path
        if not path.startswith("/confirm/"):
            assert web.one_click(path).status == 400, path
            form = web.open_form("/subscribe")  # a good form token: only the link is bad
            reply = web.post(
                path, [(FORM_FIELD, form.token), ("action", "unsubscribe")], cookie=form.cookie
            )
            assert reply.status == 400, path
    assert web.get("/confirm/not-a-token").status == 400
    assert web.get("/confirm/" + "x" * 5000).status == 400

    assert web.everyone() == before


def test_an_expired_confirmation_gets_410_and_changes_nothing(web: Web, web_clock: Clock) -> None:
    web.sign_up("hal@example.org")
    confirm = web.link_in_mail("hal@example.org", "confirm")
    web_clock.now = START + timedelta(days=7, minutes=1)
    before = web.find("hal@example.org")

    reply = web.get(confirm)

    assert reply.status == 410 and "链接已过期" in reply.text
    assert web.find("hal@example.org") in (before, None)  # left pending, or purged


def test_a_link_to_an_erased_subscriber_gets_404(web: Web) -> None:
    preferences, unsubscribe = web.active("ida@example.org")
    with web.feeder() as feeder:
        feeder.forget("ida@example.org")

    assert web.get(preferences).status == 404
    assert web.one_click(unsubscribe).status == 404
    assert web.find("ida@example.org") is None


# -- No enumeration ------------------------------------------------------------------------


def test_a_new_a_pending_and_an_active_address_get_the_same_answer(web: Web) -> None:
    web.active("known@example.org")
    web.sign_up("waiting@example.org")

    addresses = ("new@example.org", "waiting@example.org", "known@example.org")
    replies = [web.sign_up(address) for address in addresses]

    assert len({(r.status, r.body) for r in replies}) == 1
    assert replies[0].status == 200 and CHECK_INBOX in replies[0].text
    for reply in replies:
        assert "Set-Cookie" not in reply.headers  # the answer holds no form token either
        assert "example.org" not in reply.text
    # The active address was mailed its preferences link instead of a confirmation.
    assert web.link_in_mail("known@example.org", "preferences")
    assert web.subscriber("known@example.org").active


# -- Limits --------------------------------------------------------------------------------


def test_a_bad_address_gets_400_with_the_reason_and_the_form_again(web: Web) -> None:
    mails = len(web.inbox.messages)

    reply = web.sign_up("not an address")

    assert reply.status == 400 and "这个邮箱地址无法使用" in reply.text
    assert 'value="not an address"' in reply.text  # kept for correcting
    assert token_of(reply)
    assert len(web.inbox.messages) == mails


@pytest.mark.parametrize(
    ("tags", "says"), [([], "请至少选择一个分类"), (["policy", "nope"], "所选的分类无效")]
)
def test_no_section_or_an_unknown_one_gets_400(web: Web, tags: list[str], says: str) -> None:
    address = f"jo-{len(tags)}@example.org"

    reply = web.sign_up(address, tags=tags)

    assert reply.status == 400 and says in reply.text
    assert web.find(address) is None


def test_the_honeypot_gets_the_usual_answer_and_nothing_is_done(web: Web) -> None:
    mails = len(web.inbox.messages)
    form = web.open_form("/subscribe")

    reply = web.submit(form, [("email", "bot@example.org"), ("tags", "policy"), (HONEYPOT, "x")])

    assert reply.status == 200 and reply.body == web.sign_up("kim@example.org").body
    assert web.find("bot@example.org") is None
    assert len(web.inbox.messages) == mails + 1  # kim's only


def test_sign_ups_are_limited_per_client_address(web: Web) -> None:
    ip = "203.0.113.7"
    for i in range(SIGNUPS_PER_CLIENT):
        form = web.open_form("/subscribe")
        reply = web.submit(form, [("email", f"rate{i}@example.org"), ("tags", "policy")], ip=ip)
        assert reply.status == 200, i

    form = web.open_form("/subscribe")
    reply = web.submit(form, [("email", "rate-over@example.org"), ("tags", "policy")], ip=ip)

    assert reply.status == 429 and "提交太频繁" in reply.text
    assert 0 < int(reply.headers["Retry-After"]) <= 600
    assert web.find("rate-over@example.org") is None
    # Another client is not held back.
    fields = [("email", "ok@example.org"), ("tags", "policy")]
    assert web.submit(web.open_form("/subscribe"), fields).status == 200


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_8_kb_gets_413(web: Web, chunked: bool) -> None:
    form = web.open_form("/subscribe")
    address = f"big-{'chunked' if chunked else 'sized'}@example.org"
    fields = [(FORM_FIELD, form.token), ("email", address), ("tags", "policy")]
    body = urlencode([*fields, ("padding", "x" * 8200)]).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"{FORM_COOKIE}={form.cookie}",
    }

    if chunked:
        parts = iter([body[:4000], body[4000:]])
        reply = web.request("POST", "/subscribe", parts, headers, chunked=True)
    else:
        reply = web.request("POST", "/subscribe", body, headers)

    assert reply.status == 413
    assert web.find(address) is None
    # Only the body's size counted: at 8 KB exactly, the same form goes through.
    exact = urlencode([*fields, ("padding", "x")]).encode()
    exact += b"x" * (8 * 1024 - len(exact))
    assert web.request("POST", "/subscribe", exact, headers).status == 200


def test_a_declared_length_over_8_kb_is_refused_before_the_body_is_read(web: Web) -> None:
    host, port = urlsplit(web.url).hostname, urlsplit(web.url).port
    with socket.create_connection((str(host), port), timeout=10) as sock:
        sock.sendall(
            b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\nemail=a"
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize(
    "case", ["no token", "no cookie", "another cookie", "forged token", "sent twice"]
)
def test_a_form_without_its_matching_token_is_refused(web: Web, case: str) -> None:
    address = f"csrf-{case.replace(' ', '-')}@example.org"
    preferences, _ = web.active(address, tags=["policy"])
    other = web.open_form("/subscribe")
    mails = len(web.inbox.messages)

    def attempt(path: str, fields: list[tuple[str, str]]) -> Reply:
        form = web.open_form(path)
        token, cookie = form.token, form.cookie
        if case == "no token":
            token = ""
        elif case == "no cookie":
            cookie = ""
        elif case == "another cookie":
            cookie = other.cookie
        elif case == "forged token":
            token = tampered("/" + token).lstrip("/")
        elif case == "sent twice":
            assert web.post(path, [(FORM_FIELD, token), *fields], cookie=cookie).status < 300
        return web.post(path, [(FORM_FIELD, token), *fields], cookie=cookie or None)

    new = f"new-{address}"
    refused = [
        attempt("/subscribe", [("email", new), ("tags", "policy")]),
        attempt(preferences, [("tags", "industry"), ("action", "save")]),
    ]

    for reply in refused:
        assert reply.status == 400
        assert ("已经提交过" if case == "sent twice" else "表单已失效") in reply.text
    assert web.subscriber(address).tags == (("industry",) if case == "sent twice" else ("policy",))
    if case != "sent twice":
        assert web.find(new) is None
        assert len(web.inbox.messages) == mails


def test_a_cookie_serves_several_open_forms(web: Web) -> None:
    first = web.open_form("/subscribe")
    second = web.open_form("/subscribe", cookie=first.cookie)
    assert second.cookie == first.cookie and second.token != first.token

    for form, address in ((first, "tab1@example.org"), (second, "tab2@example.org")):
        reply = web.submit(form, [("email", address), ("tags", "policy")])
        assert reply.status == 200, address


# -- Headers and failures ------------------------------------------------------------------


def test_pages_carry_a_strict_policy_and_are_never_cached(web: Web) -> None:
    preferences, unsubscribe = web.active("lu@example.org")
    for path in ("/subscribe", preferences, unsubscribe, "/confirm/bad"):
        reply = web.get(path)
        policy = reply.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy, path
        for part in ("form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"):
            assert part in policy, path
        assert policy == page_headers(reply.text)["Content-Security-Policy"], path
        assert re.search(r"style-src 'sha256-[A-Za-z0-9+/]+=*'", policy), path
        assert "<script" not in reply.text and " style=" not in reply.text, path
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        assert reply.headers["Referrer-Policy"] == "no-referrer"
        assert reply.headers["Cache-Control"] == "no-store"

    static = web.get("/index.html")
    assert static.headers["X-Content-Type-Options"] == "nosniff"
    assert static.headers["Referrer-Policy"] == "no-referrer"


def test_the_form_cookie_is_http_only_and_same_site_strict(web: Web) -> None:
    cookie = web.get("/subscribe").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # base_url is http here; https gets Secure


def test_a_mail_server_that_is_down_gets_503(web: Web, tmp_path: Path) -> None:
    # The same state and output, mailing to a port where nothing listens.
    config = parse_config(
        f'[output]\ndir = "{web.config.output.dir}"\nbase_url = "{web.url}"\n'
        + state_toml(web.config.state.location)
        + f'[smtp]\nhost = "127.0.0.1"\nport = {portpicker.pick_unused_port()}\ntimeout = 5\n',
        tmp_path,
    )
    with listen("127.0.0.1", 0) as sock, serve_in_thread(create_app(config), sock) as url:
        down = Web(url, config, web.clock, web.inbox)
        reply = down.sign_up("mo@example.org")

    assert reply.status == 503 and "暂时无法发送邮件" in reply.text
    assert "Traceback" not in reply.text


def test_an_unexpected_error_is_a_plain_500_page(
    web: Web, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    templates = tmp_path / "templates" / "pages"
    templates.mkdir(parents=True)
    (templates / "subscribe.html.j2").write_text("{% if %}", encoding="utf-8")
    config = parse_config(
        f'[output]\ndir = "{web.config.output.dir}"\nbase_url = "{web.url}"\n'
        + state_toml(web.config.state.location)
        + f'[newsletter]\ntemplates = "{tmp_path / "templates"}"\n',
        tmp_path,
    )
    with listen("127.0.0.1", 0) as sock, serve_in_thread(create_app(config), sock) as url:
        reply = Web(url, config, web.clock, web.inbox).get("/subscribe")

    assert reply.status == 500 and "服务器出错" in reply.text
    assert "Traceback" not in reply.text and "subscribe.html.j2" not in reply.text
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    # Logged for the operator, with the template's name and line.
    [logged] = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert isinstance(logged, OutputError) and "subscribe.html.j2, line 1" in str(logged)


# -- The pieces, without a server ----------------------------------------------------------


def test_the_rate_limiter_counts_a_sliding_window_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 600, clock=lambda: now[0], max_keys=2)

    assert [limiter.hit("a"), limiter.hit("a"), limiter.hit("b")] == [0, 0, 0]
    assert limiter.hit("a") == 600
    now[0] = 599.5
    assert limiter.hit("a") == 1  # rounded up: never "retry after 0 seconds"
    now[0] = 600.0
    assert limiter.hit("a") == 0  # the first hit has left the window
    limiter.hit("c")  # a third key: the one seen longest ago ("b") is forgotten
    assert limiter.hit("b") == 0 and limiter.hit("b") == 0 and limiter.hit("b") > 0


def test_form_tokens_match_their_cookie_and_expire() -> None:
    tokens = FormTokens(b"s" * 32, max_age=60)
    first = tokens.issue(None)
    assert tokens.issue(first.cookie).cookie == first.cookie  # kept while it is sent back
    assert tokens.issue("not-a-cookie").cookie != "not-a-cookie"  # only our own shape
    nonce = tokens.check(first.cookie, first.field)
    assert nonce and nonce != first.cookie

    with pytest.raises(FormRefused):
        tokens.check(tokens.issue(None).cookie, first.field)
    with pytest.raises(FormRefused):
        FormTokens(b"t" * 32, max_age=60).check(first.cookie, first.field)
    with pytest.raises(FormRefused):
        FormTokens(b"s" * 32, max_age=-1).check(first.cookie, first.field)
    for cookie, token in ((None, first.field), (first.cookie, None), ("", "")):
        with pytest.raises(FormRefused):
            tokens.check(cookie, token)


def test_the_style_hash_is_that_of_each_inline_style_block() -> None:
    html = "<style>a{}</style><p>x</p><STYLE media=print>\nb{}</STYLE>"
    policy = page_headers(html)["Content-Security-Policy"]
    hashes = [base64.b64encode(hashlib.sha256(css).digest()).decode() for css in (b"a{}", b"\nb{}")]
    assert f"style-src 'sha256-{hashes[0]}' 'sha256-{hashes[1]}';" in policy
    assert "style-src 'none'" in page_headers("<p>no style</p>")["Content-Security-Policy"]
