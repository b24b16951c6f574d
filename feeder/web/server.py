"""`feeder serve`: the output folder and the subscriber pages, one Starlette application on
uvicorn.

The pages come first; everything else is a file of the output folder, through Starlette's
StaticFiles (ETag, Last-Modified, 304 and safe paths are the library's). Behind nginx, which
should serve out/ itself, uvicorn takes the client's address from X-Forwarded-For, trusted
from 127.0.0.1 only.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.supervisors.multiprocess import Multiprocess

from ..app import SmtpFactory, open_feeder
from ..config import Config, load_config
from ..environment import SERVE_CONFIG
from ..errors import FeederError, OutputError
from ..text import printable
from .guard import MAX_BODY, SecurityHeaders, page_headers
from .ops import Ops
from .pages import Pages

log = logging.getLogger("feeder.web")

TRUSTED_PROXIES = "127.0.0.1"  # whose X-Forwarded-For names the client: nginx on this host
CONTENT_TYPES = {  # what mimetypes does not know, or names without its charset
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",  # the only .json files are JSON Feeds
    ".opml": "text/x-opml; charset=utf-8",
}
# No template: a broken template must not break the page that reports it.
SERVER_ERROR = (
    '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>服务器出错</title></head>\n"
    "<body><h1>服务器出错</h1><p>请求没有完成，请稍后再试。</p></body></html>\n"
)


def create_app(
    config: Config,
    *,
    clock: Callable[[], datetime] | None = None,
    smtp_factory: SmtpFactory | None = None,
) -> Starlette:
    """The application over `config`; `clock` and `smtp_factory` go to every Feeder it opens."""
    out = config.output.dir
    if not out.is_dir():
        raise OutputError(f"{out}: no such folder to serve (run `feeder build` first)")
    pages = Pages(config, clock, smtp_factory)
    return Starlette(
        routes=[
            *pages.routes(),
            *Ops(config, clock).routes(),
            Mount("/", app=OutputFiles(directory=out, html=True)),
        ],
        middleware=[
            Middleware(AccessLog),
            Middleware(SecurityHeaders),
            Middleware(RequestBodyLimitMiddleware, max_body_size=MAX_BODY),
        ],
        exception_handlers={Exception: server_error},
    )


class OutputFiles(StaticFiles):
    """StaticFiles for out/, less its dot-files (a write in progress, `.index.html.123.tmp`),
    with the feed types named, and revalidated on every use: a feed changes at any poll, and
    asking costs a 304."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if any(part.startswith(".") for part in Path(path).parts):
            return "", None
        return super().lookup_path(path)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        kind = CONTENT_TYPES.get(Path(full_path).suffix)
        if kind is not None and response.status_code != 304:
            response.headers["Content-Type"] = kind
        response.headers["Cache-Control"] = "no-cache"
        return response


def server_error(request: Request, exc: Exception) -> Response:
    """A bug's plain 500 page; Starlette then re-raises, and uvicorn logs the traceback."""
    return HTMLResponse(SERVER_ERROR, 500, headers=page_headers(SERVER_ERROR))


class AccessLog:
    """One line per request on the `feeder.web` logger, as `client "GET /path HTTP/1.1" 200`.

    Ours rather than uvicorn's, which prints the query string as sent: escaped here, so that
    a request cannot recolour or rewrite the operator's terminal. Logged before the last
    bytes of the answer go out, so the line is there by the time the client has them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, logged = 0, False

        async def send_and_log(message: Message) -> None:
            nonlocal status, logged
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                _log_request(scope, status)
                logged = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_log)
        except BaseException:
            if not logged:
                _log_request(scope, 500)  # Starlette's ServerErrorMiddleware answers
            raise


# A page's token is a reader's key to their subscription: the log names the page, not the key.
_TOKEN_PAGES = re.compile(rb"^(/(?:confirm|preferences|unsubscribe)/)[^?]*")


def _log_request(scope: Scope, status: int) -> None:
    target = _TOKEN_PAGES.sub(rb"\1...", scope.get("raw_path") or scope["path"].encode())
    if scope["query_string"]:
        target += b"?" + scope["query_string"]
    client = (scope.get("client") or ("-", 0))[0]
    request = f"{scope['method']} {target.decode('latin-1')} HTTP/{scope['http_version']}"
    log.info("%s", printable(f'{client} "{request}" {status}'))


# -- Running it ------------------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one. FeederError if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise FeederError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(is another server using it? choose another --port)"
        ) from None


def url_of(sock: socket.socket) -> str:
    """Where a listening socket answers, e.g. http://127.0.0.1:8000/."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def server_settings(app: ASGIApp | str, **options: Any) -> uvicorn.Config:
    """uvicorn as `feeder serve` runs it: the client address from a local proxy's
    X-Forwarded-For, our access log instead of uvicorn's, and the caller's logging."""
    return uvicorn.Config(
        app,
        proxy_headers=True,
        forwarded_allow_ips=TRUSTED_PROXIES,
        access_log=False,
        log_config=None,
        server_header=False,
        **options,
    )


def make_server(app: ASGIApp) -> uvicorn.Server:
    return uvicorn.Server(server_settings(app))


def serve(config: Config, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve out/ and the subscriber pages until interrupted (Ctrl-C or SIGTERM), in
    `workers` processes that share one listening socket."""
    # A short $FEEDER_SECRET, or a state whose schema is out of date, fails here (one line
    # saying what to do), not on every page.
    with open_feeder(config, upgrade=False) as feeder:
        feeder.secret  # noqa: B018
    if workers > 1:
        _serve_workers(config, host, port, workers)
        return
    app = create_app(config)
    with listen(host, port) as sock, suppress(KeyboardInterrupt):
        # uvicorn finishes the requests in flight, then raises the signal again: Ctrl-C
        # comes back as KeyboardInterrupt, SIGTERM ends the process as SIGTERM would.
        log.info("serving %s and the subscriber pages at %s", config.output.dir, url_of(sock))
        make_server(app).run(sockets=[sock])


# The config file a worker process reads ($FEEDER_SERVE_CONFIG): uvicorn starts its workers
# afresh, from an import string, so the application is rebuilt in each from the same file.


def worker_app() -> Starlette:
    """The application in one of `feeder serve --workers N`'s processes (uvicorn's factory)."""
    if not logging.getLogger().handlers:  # a spawned process: log as the parent does
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return create_app(load_config(SERVE_CONFIG.read()))


def _serve_workers(config: Config, host: str, port: int, workers: int) -> None:
    """Several uvicorn worker processes on one socket; each opens its own connections to
    the state (from a pool, on PostgreSQL), so they need not share a machine's memory."""
    SERVE_CONFIG.export(str(config.file or ""))
    settings = server_settings("feeder.web.server:worker_app", factory=True, workers=workers)
    with listen(host, port) as sock, suppress(KeyboardInterrupt):
        log.info(
            "serving %s and the subscriber pages at %s in %d worker processes",
            config.output.dir,
            url_of(sock),
            workers,
        )
        Multiprocess(settings, sockets=[sock]).run()


@contextmanager
def serve_in_thread(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    """Serve `app` on `sock` from a thread while the block runs; yields its URL.

    For tests and embedding: the same uvicorn settings as `serve`. Binding first lets a
    caller put the URL in the config (output.base_url) before the app is made.
    """
    server = make_server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="feeder-web", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.01)
    try:
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
