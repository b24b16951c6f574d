"""The output folder as `feeder serve` serves it, over a real socket on 127.0.0.1: types,
validators and 304s from Starlette's StaticFiles, the folder's walls, and the access log."""

from __future__ import annotations

import http.client
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import pytest

from feeder.config import parse_config
from feeder.errors import FeederError, OutputError
from feeder.web.server import create_app, listen, serve_in_thread

SECRET = b"outside the served folder"
MTIME = 1_770_000_000


@dataclass
class Served:
    root: Path  # the output folder
    host: str
    port: int


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An output folder with one file of each kind, beside a file that must stay private."""
    tmp = tmp_path_factory.mktemp("serve")
    (tmp / "secret.txt").write_bytes(SECRET)
    out = tmp / "out"
    (out / "feeds").mkdir(parents=True)
    (out / "feeds" / "policy.atom").write_bytes("<feed>政策</feed>".encode())
    (out / "feeds.opml").write_bytes(b"<opml/>")
    (out / "index.html").write_bytes("<p>订阅</p>".encode())
    (out / ".index.html.1234.tmp").write_bytes(b"half written")
    (out / "escape.atom").symlink_to(tmp / "secret.txt")
    (out / "up").symlink_to(tmp)
    (out / "alias.atom").symlink_to(out / "feeds" / "policy.atom")
    for path in (out / "feeds" / "policy.atom", out / "feeds.opml"):
        os.utime(path, (MTIME, MTIME))
    config = parse_config('[output]\ndir = "out"\n[state]\npath = "state/state.db"\n', tmp)
    with listen("127.0.0.1", 0) as sock, serve_in_thread(create_app(config), sock):
        host, port = sock.getsockname()[:2]
        yield Served(out, host, port)


def request(
    served: Served, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send `path` exactly as written (http.client does not normalise it)."""
    conn = http.client.HTTPConnection(served.host, served.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def raw_request(served: Served, data: bytes) -> bytes:
    """Send `data` as it is (http.client refuses control characters) and read the answer."""
    with socket.create_connection((served.host, served.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/feeds/policy.atom", "application/atom+xml; charset=utf-8"),
        ("/feeds.opml", "text/x-opml; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
    ],
)
def test_content_types(served: Served, path: str, kind: str) -> None:
    status, headers, body = request(served, path)

    assert status == 200
    assert headers["Content-Type"] == kind
    assert body == (served.root / path.lstrip("/")).read_bytes()
    assert headers["Content-Length"] == str(len(body))
    # Cached, but asked about every time: a feed can change at any poll.
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_the_folder_serves_its_index_page(served: Served) -> None:
    status, headers, body = request(served, "/")
    assert status == 200 and body == (served.root / "index.html").read_bytes()
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert request(served, "/feeds/")[0] == 404  # a folder without an index page


def test_validators_and_if_none_match(served: Served) -> None:
    status, headers, _ = request(served, "/feeds/policy.atom")
    tag = headers["ETag"]
    assert status == 200 and tag.startswith('"')
    assert headers["Last-Modified"] == formatdate(MTIME, usegmt=True)

    status, again, body = request(served, "/feeds/policy.atom", headers={"If-None-Match": tag})
    assert (status, body) == (304, b"")
    assert again["ETag"] == tag
    listed = {"If-None-Match": f'"other", W/{tag}'}
    assert request(served, "/feeds/policy.atom", headers=listed)[0] == 304
    stale = {"If-None-Match": '"not-the-tag"'}
    status, _, body = request(served, "/feeds/policy.atom", headers=stale)
    assert status == 200 and body.startswith(b"<feed>")


def test_if_modified_since_gives_304_unless_the_file_is_newer(served: Served) -> None:
    same = formatdate(MTIME, usegmt=True)
    before = formatdate(MTIME - 60, usegmt=True)

    assert request(served, "/feeds.opml", headers={"If-Modified-Since": same})[0] == 304
    assert request(served, "/feeds.opml", headers={"If-Modified-Since": before})[0] == 200
    assert request(served, "/feeds.opml", headers={"If-Modified-Since": "yesterday"})[0] == 200
    # If-None-Match decides when both are sent.
    both = {"If-None-Match": '"stale"', "If-Modified-Since": same}
    assert request(served, "/feeds.opml", headers=both)[0] == 200


def test_head_sends_the_headers_without_the_body(served: Served) -> None:
    status, headers, body = request(served, "/feeds/policy.atom", method="HEAD")

    data = (served.root / "feeds" / "policy.atom").read_bytes()
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(data))
    assert request(served, "/missing", method="HEAD")[0] == 404


def test_a_file_cannot_be_posted_to(served: Served) -> None:
    assert request(served, "/index.html", method="POST")[0] == 405


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/feeds/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/feeds/%2E%2E%2F%2E%2E%2Fsecret.txt",
        "/..%5csecret.txt",
        "//secret.txt",
        "{secret}",  # its absolute path
        "http://127.0.0.1/../secret.txt",
        "/.index.html.1234.tmp",  # a write in progress
        "/index.html%00.atom",
        "/escape.atom",  # a symlink out of the folder
        "/up/secret.txt",  # through a symlinked folder
    ],
)
def test_nothing_outside_the_folder_is_served(served: Served, path: str) -> None:
    path = path.format(secret=served.root.parent / "secret.txt")

    status, _, body = request(served, path)

    assert status in (400, 403, 404)
    assert SECRET not in body and b"half written" not in body


def test_a_symlink_that_stays_inside_is_followed(served: Served) -> None:
    assert request(served, "/alias.atom")[0] == 200


def test_a_missing_folder_or_a_busy_port_is_one_clear_error(tmp_path: Path) -> None:
    config = parse_config('[output]\ndir = "nowhere"\n', tmp_path)
    with pytest.raises(OutputError, match="no such folder"):
        create_app(config)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(FeederError, match=f"cannot listen on 127.0.0.1:{port}"):
            listen("127.0.0.1", port)


def test_each_request_is_logged_once(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="feeder.web"):
        request(served, "/feeds.opml")
        request(served, "/nope?q=1")

    lines = [r.getMessage() for r in caplog.records if r.name == "feeder.web"]
    assert lines == [
        '127.0.0.1 "GET /feeds.opml HTTP/1.1" 200',
        '127.0.0.1 "GET /nope?q=1 HTTP/1.1" 404',
    ]


def test_the_log_names_a_token_page_but_never_its_token(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    # A token opens a reader's subscription: it must not sit in the operator's logs.
    with caplog.at_level(logging.INFO, logger="feeder.web"):
        for page in ("confirm", "preferences", "unsubscribe"):
            request(served, f"/{page}/SeCrEtToKeN.abc")
    lines = [r.getMessage() for r in caplog.records if r.name == "feeder.web"]
    assert [line.split('"')[1] for line in lines] == [
        f"GET /{page}/... HTTP/1.1" for page in ("confirm", "preferences", "unsubscribe")
    ]
    assert not any("SeCrEtToKeN" in line for line in lines)


@pytest.mark.parametrize(
    "data",
    [
        # Refused by the HTTP parser before the application sees them.
        b"GET /feeds.opml?q=\x1b[31mred\x1b[0m\x07 HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"\x1b]0;owned\x07\rGET / HTTP/1.1 extra\r\n\r\n",
        b"GET /\xe2\x80\xae\x7f HTTP/1.1\r\nConnection: close\r\n\r\n",
        # Served: percent-encoded control characters, logged as sent, never decoded.
        b"GET /%1b[2J%9b%e2%80%ae HTTP/1.1\r\nConnection: close\r\n\r\n",
    ],
    ids=["escape-in-query", "garbage", "utf8-and-del", "percent-encoded"],
)
def test_no_log_line_carries_a_control_character(
    served: Served, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    with caplog.at_level(logging.DEBUG):
        answer = raw_request(served, data)

    assert answer.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 404 "))
    for record in caplog.records:
        assert record.getMessage().isprintable(), record.getMessage()


@pytest.mark.parametrize(
    "date",
    [
        "Sun, 06 Nov 99999999999 08:49:37 GMT",  # the year overflows a C int
        "Sun, 06 Nov " + "9" * 5000 + " 08:49:37 GMT",  # more digits than int() takes
        "Sun, 06 Nov 1994 08:49:37 +99999999999999999999",  # the offset overflows
        "Sun, 06 Nov 1994 08:49:37 -9999",  # an offset of days
        "Sun, 06 Nov 1994 99:99:99 GMT",
    ],
)
def test_an_impossible_if_modified_since_gets_an_answer(served: Served, date: str) -> None:
    status, _, body = request(served, "/feeds.opml", headers={"If-Modified-Since": date})

    assert status in (200, 304)
    assert status == 304 or body == (served.root / "feeds.opml").read_bytes()
