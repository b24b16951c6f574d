"""feeder.serve over a real socket on 127.0.0.1: types, validators, 304s, and the folder's walls."""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

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
def server(root: Path) -> Iterator[FeedServer]:
    log: list[str] = []
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
