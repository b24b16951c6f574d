"""Serving the output folder over HTTP with the caching headers feed readers use.

Every response carries a strong ETag (a digest of the bytes) and Last-Modified (the
file's mtime); a matching If-None-Match, or failing that If-Modified-Since, gets
304 Not Modified. Nothing outside the folder is ever served: not through "..", not
through a symlink, not through dot-files such as a write in progress.
"""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
import sys
import threading
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import FeederError, OutputError
from ..text import printable

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
INDEX = "index.html"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class FeedServer(ThreadingHTTPServer):
    """An HTTP server for one folder; `log` receives one line per request."""

    daemon_threads = True

    def __init__(self, root: Path, address: tuple[str, int], log: Callable[[str], None]):
        self.root = root.resolve()
        self.log = log
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """Where it listens, e.g. http://127.0.0.1:8000/ (with the real port when given 0)."""
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_server(
    root: Path, host: str = "127.0.0.1", port: int = 8000, log: Callable[[str], None] = _stderr
) -> FeedServer:
    """A server for `root`, bound but not yet serving; port 0 picks a free one."""
    if not root.is_dir():
        raise OutputError(f"{root}: no such folder to serve (run `feeder build` first)")
    try:
        return FeedServer(root, (host, port), log)
    except OSError as exc:
        raise FeederError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another server using it? choose another --port)"
        ) from None


def start_in_thread(server: FeedServer) -> threading.Thread:
    """Serve in a daemon thread until `server.shutdown()`; for tests and embedding."""
    # A short poll interval only makes shutdown() prompt; requests are served at once anyway.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="feeder-serve",
        daemon=True,
    )
    thread.start()
    return thread


def serve(root: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `root` until interrupted (Ctrl-C)."""
    server = make_server(root, host, port)
    _stderr(f"Serving {root} at {server.url} (Ctrl-C to stop)")
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def resolve(root: Path, request_path: str) -> Path | None:
    """The file under `root` (already resolved) that a request path names, or None.

    None for anything that would leave the folder: a ".." segment (also percent-encoded),
    a symlink pointing outside, a dot-file, or a path that does not exist.
    """
    decoded = unquote(request_path)
    if "\x00" in decoded:
        return None
    parts = [p for p in decoded.split("/") if p not in ("", ".")]
    if any(p == ".." or p.startswith(".") or "\\" in p for p in parts):
        return None
    try:
        path = root.joinpath(*parts).resolve(strict=True)
        if path.is_dir():
            path = (path / INDEX).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a bad name
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def etag(data: bytes) -> str:
    """A strong validator: the same bytes always give the same tag."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def not_modified(
    tag: str, mtime: int, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """RFC 9110: If-None-Match decides when present; else If-Modified-Since against `mtime`."""
    if if_none_match is not None:
        candidates = [c.strip() for c in if_none_match.split(",")]
        # Weak comparison, as the RFC asks for If-None-Match on GET and HEAD.
        return "*" in candidates or tag in (c.removeprefix("W/") for c in candidates)
    if if_modified_since is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, OverflowError):
            # Unparseable or out of range (a year of 99999999999 overflows a C int): the
            # RFC says to ignore an invalid date, so the response is a full one.
            return False
        if since.tzinfo is None:
            return False
        return mtime <= since.timestamp()
    return False


class _Handler(BaseHTTPRequestHandler):
    server: FeedServer
    server_version = "feeder"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def _respond(self, body: bool) -> None:
        # An absolute-form target ("GET http://host/x") names its path after the host.
        target = self.path if self.path.startswith("/") else urlsplit(self.path).path
        path = resolve(self.server.root, target.split("?", 1)[0].split("#", 1)[0])
        if path is None:
            self._error(HTTPStatus.NOT_FOUND, body)
            return
        try:
            data = path.read_bytes()
            mtime = int(path.stat().st_mtime)
        except OSError:
            self._error(HTTPStatus.NOT_FOUND, body)
            return
        tag = etag(data)
        fresh = not_modified(
            tag, mtime, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        )
        self.send_response(HTTPStatus.NOT_MODIFIED if fresh else HTTPStatus.OK)
        self.send_header("ETag", tag)
        self.send_header("Last-Modified", formatdate(mtime, usegmt=True))
        # Cache, but ask every time: a feed can change at any poll, and asking costs a 304.
        self.send_header("Cache-Control", "no-cache")
        if fresh:
            self.end_headers()
            return
        kind = CONTENT_TYPES.get(path.suffix) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _error(self, status: HTTPStatus, body: bool) -> None:
        text = f"{status.value} {status.phrase}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if body:
            self.wfile.write(text)

    def log_message(self, format: str, *args: object) -> None:
        # The request line is the client's text: unescaped, an ESC sequence recolours or
        # clears the operator's terminal and a CR overwrites the line with forged text.
        self.server.log(printable(f"{self.address_string()} {format % args}"))
