"""feeder.serve over a real socket on 127.0.0.1: types, validators, 304s, and the folder's walls."""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeder.errors import FeederError, OutputError
from feeder.web.serve import FeedServer, etag, make_server, not_modified, start_in_thread

SECRET = b"outside the served folder"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An output folder with one file of each kind, beside a file that must stay private."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    out = tmp_path / "out"
    (out / "feeds").mkdir(parents=True)
    (out / "feeds" / "policy.atom").write_bytes("<feed>政策</feed>".encode())
    (out / "feeds.opml").write_bytes(b"<opml/>")
    (out / "index.html").write_bytes("<p>订阅</p>".encode())
    (out / ".index.html.1234.tmp").write_bytes(b"half written")
    return out


@pytest.fixture
def log() -> list[str]:
    """The lines the `server` fixture logs."""
    return []


@pytest.fixture
def server(root: Path, log: list[str]) -> Iterator[FeedServer]:
    server = make_server(root, "127.0.0.1", 0, log=log.append)
    start_in_thread(server)
    yield server
    server.shutdown()
    server.server_close()


def request(
    server: FeedServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send `path` exactly as written (http.client does not normalise it)."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw_request(server: FeedServer, data: bytes) -> bytes:
    """Send `data` as it is (http.client refuses control characters) and read the answer."""
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=10) as sock:
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
def test_content_types(server: FeedServer, root: Path, path: str, kind: str) -> None:
    status, headers, body = request(server, path)

    assert status == 200
    assert headers["Content-Type"] == kind
    assert body == (root / path.lstrip("/")).read_bytes()
    assert headers["Content-Length"] == str(len(body))


def test_the_folder_serves_its_index_page(server: FeedServer, root: Path) -> None:
    status, headers, body = request(server, "/")
    assert status == 200 and body == (root / "index.html").read_bytes()
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert request(server, "/feeds/")[0] == 404  # a folder without an index page


def test_validators_come_from_the_bytes_and_the_mtime(server: FeedServer, root: Path) -> None:
    feed = root / "feeds" / "policy.atom"
    os.utime(feed, (1_770_000_000, 1_770_000_000))

    _, headers, body = request(server, "/feeds/policy.atom")

    assert headers["ETag"] == etag(body)
    assert headers["ETag"].startswith('"') and not headers["ETag"].startswith("W/")
    assert headers["Last-Modified"] == formatdate(1_770_000_000, usegmt=True)
    feed.write_bytes(body + b" ")  # other bytes, another tag
    assert request(server, "/feeds/policy.atom")[1]["ETag"] != headers["ETag"]


def test_if_none_match_gives_304_only_for_the_current_tag(server: FeedServer) -> None:
    _, headers, _ = request(server, "/feeds/policy.atom")
    tag = headers["ETag"]

    status, again, body = request(server, "/feeds/policy.atom", headers={"If-None-Match": tag})
    assert (status, body) == (304, b"")
    assert again["ETag"] == tag and "Last-Modified" in again
    listed = {"If-None-Match": f'"other", {tag}'}
    assert request(server, "/feeds/policy.atom", headers=listed)[0] == 304
    stale = {"If-None-Match": '"not-the-tag"'}
    status, _, body = request(server, "/feeds/policy.atom", headers=stale)
    assert status == 200 and body.startswith(b"<feed>")


def test_if_modified_since_gives_304_unless_the_file_is_newer(
    server: FeedServer, root: Path
) -> None:
    os.utime(root / "feeds.opml", (1_770_000_000, 1_770_000_000))
    same = formatdate(1_770_000_000, usegmt=True)
    before = formatdate(1_770_000_000 - 60, usegmt=True)

    assert request(server, "/feeds.opml", headers={"If-Modified-Since": same})[0] == 304
    assert request(server, "/feeds.opml", headers={"If-Modified-Since": before})[0] == 200
    assert request(server, "/feeds.opml", headers={"If-Modified-Since": "yesterday"})[0] == 200


def test_if_none_match_takes_precedence_over_if_modified_since(
    server: FeedServer, root: Path
) -> None:
    os.utime(root / "feeds.opml", (1_770_000_000, 1_770_000_000))
    fresh_date = formatdate(1_770_000_000, usegmt=True)
    both = {"If-None-Match": '"stale"', "If-Modified-Since": fresh_date}

    assert request(server, "/feeds.opml", headers=both)[0] == 200


def test_head_sends_the_headers_without_the_body(server: FeedServer, root: Path) -> None:
    status, headers, body = request(server, "/feeds/policy.atom", method="HEAD")

    data = (root / "feeds" / "policy.atom").read_bytes()
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(data))
    assert headers["ETag"] == etag(data)
    assert request(server, "/missing", method="HEAD")[0] == 404


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
        "/.index.html.1234.tmp",
        "/index.html%00.atom",
    ],
)
def test_nothing_outside_the_folder_is_served(server: FeedServer, root: Path, path: str) -> None:
    path = path.format(secret=root.parent / "secret.txt")

    status, _, body = request(server, path)

    assert status in (403, 404)
    assert SECRET not in body and b"half written" not in body


def test_a_symlink_out_of_the_folder_is_not_followed(server: FeedServer, root: Path) -> None:
    (root / "escape.atom").symlink_to(root.parent / "secret.txt")
    (root / "up").symlink_to(root.parent)
    (root / "alias.atom").symlink_to(root / "feeds" / "policy.atom")

    for path in ("/escape.atom", "/up/secret.txt"):
        status, _, body = request(server, path)
        assert status == 404 and SECRET not in body, path
    assert request(server, "/alias.atom")[0] == 200  # a link that stays inside is fine


def test_not_modified_rules() -> None:
    tag = '"abc"'
    assert not_modified(tag, 100, "*", None)
    assert not_modified(tag, 100, 'W/"abc"', None)  # weak comparison for GET
    assert not not_modified(tag, 100, '"abd"', formatdate(200, usegmt=True))
    assert not_modified(tag, 100, None, formatdate(100, usegmt=True))
    assert not not_modified(tag, 101, None, formatdate(100, usegmt=True))
    assert not not_modified(tag, 100, None, None)


def test_a_missing_folder_or_a_busy_port_is_one_clear_error(tmp_path: Path, root: Path) -> None:
    with pytest.raises(OutputError, match="no such folder"):
        make_server(tmp_path / "nowhere", "127.0.0.1", 0)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(FeederError, match=f"cannot listen on 127.0.0.1:{port}"):
            make_server(root, "127.0.0.1", port)


def test_each_request_is_logged_once(root: Path) -> None:
    log: list[str] = []
    server = make_server(root, "127.0.0.1", 0, log=log.append)
    start_in_thread(server)
    try:
        request(server, "/feeds.opml")
        request(server, "/nope")
    finally:
        server.shutdown()
        server.server_close()

    assert len(log) == 2
    assert '"GET /feeds.opml HTTP/1.1" 200' in log[0]
    assert '"GET /nope HTTP/1.1" 404' in log[1]


def test_control_characters_in_a_request_line_are_escaped_in_its_one_log_line(
    server: FeedServer, log: list[str]
) -> None:
    # Red text, cursor up, erase the line, a bell, a carriage return: what would let a client
    # recolour or rewrite the operator's terminal. Served (the query is ignored), so logged
    # once. The CR stands between spaces to keep the request line three words long.
    line = b"GET /feeds.opml?q=\x1b[31mred\x1b[0m\x1b[1A\x1b[2K\x07 \r HTTP/1.1"
    answer = raw_request(server, line + b"\r\nConnection: close\r\n\r\n")

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert len(log) == 1
    escaped = r"/feeds.opml?q=\x1b[31mred\x1b[0m\x1b[1A\x1b[2K\x07 \r HTTP/1.1"
    assert f'"GET {escaped}" 200' in log[0]
    assert log[0].isprintable()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        # Malformed: a 400, logged twice (the error, then the request line as received).
        (b"\x1b]0;owned\x07\rGET / HTTP/1.1 extra\r\n\r\n", b"400"),
        (b"GET /\x1b[2J\x9b\x90 HTTP/1.1\r\nConnection: close\r\n\r\n", b"404"),  # C1 too
        # The request line is read as Latin-1: the UTF-8 of U+202E arrives as "â\x80®".
        (b"GET /\xe2\x80\xae\x7f\x00 HTTP/1.1\r\nConnection: close\r\n\r\n", b"404"),
    ],
    ids=["bad-request", "not-found", "del-nul-and-utf8"],
)
def test_no_log_line_carries_a_control_character(
    server: FeedServer, log: list[str], data: bytes, status: bytes
) -> None:
    answer = raw_request(server, data)

    assert status in answer
    assert log
    for line in log:
        assert line.isprintable(), line


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
def test_an_impossible_if_modified_since_is_ignored(
    server: FeedServer,
    log: list[str],
    root: Path,
    date: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    status, _, body = request(server, "/feeds.opml", headers={"If-Modified-Since": date})

    assert (status, body) == (200, (root / "feeds.opml").read_bytes())
    assert len(log) == 1 and '"GET /feeds.opml HTTP/1.1" 200' in log[0]
    assert "Traceback" not in capfd.readouterr().err


def http_dates() -> st.SearchStrategy[str]:
    """Dates shaped like RFC 9110's, every number anywhere from 0 to far past any C type."""
    number = st.integers(0, 10**30)
    return st.builds(
        "Sun, {} {} {} {}:{}:{} {}".format,
        number,
        st.sampled_from(["Jan", "Nov", "Dec"]),
        number,
        number,
        number,
        number,
        st.one_of(st.sampled_from(["GMT", "UTC", "-0000"]), st.integers().map("{:+05d}".format)),
    )


@given(st.one_of(http_dates(), st.text()))
def test_any_if_modified_since_text_gives_a_decision(text: str) -> None:
    assert not_modified('"tag"', 1_770_000_000, None, text) in (True, False)
