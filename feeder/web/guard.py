"""The web application's defences that need no state file: security headers, the sign-up
rate limit and the signed form tokens (CSRF). The request-body limit is Starlette's own
(`RequestBodyLimitMiddleware`); the pages spend each form token once through the facade.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 8 * 1024  # bytes: the largest form is an address and a few tag ids

# On every response, static files included. Tokens stand in page URLs: no page may hand its
# URL to another site as a referrer.
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


class SecurityHeaders:
    """ASGI middleware adding COMMON_HEADERS to every response that passes through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def page_headers(html: str) -> dict[str, str]:
    """The headers of a rendered page: a Content-Security-Policy that allows no script and
    only the page's own inline <style> blocks (by their sha256), and no caching, since a page
    holds a token in its URL or a single-use form token in its body."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"
        for css in _STYLE.findall(html)
    ]
    styles = " ".join(hashes) or "'none'"
    policy = (
        f"default-src 'none'; style-src {styles}; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return {**COMMON_HEADERS, "Content-Security-Policy": policy, "Cache-Control": "no-store"}


class RateLimiter:
    """At most `limit` hits per `window` seconds for each key (a client address), counted
    in memory: a restart forgets, and each process counts for itself. Thread-safe, since
    the pages run in Starlette's thread pool.

    At most `max_keys` addresses are remembered; past that the one seen longest ago is
    forgotten, so a flood from many addresses cannot grow the process without bound.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> int:
        """Count one hit; 0 if it is allowed, else the whole seconds until one would be."""
        now = self._clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            self._hits[key] = hits  # now the most recently seen
            if len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
            if len(hits) >= self.limit:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            return 0


# -- Form tokens ---------------------------------------------------------------------------
# A double-submit scheme: a random value in an HttpOnly, SameSite=Strict cookie, and a signed
# form token in a hidden field that names the same value and a fresh nonce. A POST must carry
# both, matching; the page then spends the nonce once (Feeder.spend_form_nonce), so a form
# cannot be sent twice. The cookie is kept while it is sent back, so several open forms of
# one browser stay valid together; each form's nonce is its own.

FORM_COOKIE = "feeder_form"
FORM_FIELD = "form_token"
FORM_SALT = "feeder.web.form"
_COOKIE_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}")  # what secrets.token_urlsafe(16) gives


class FormRefused(Exception):
    """A POST without a matching, unexpired form token: nothing may be done for it."""


@dataclass(frozen=True, slots=True)
class FormToken:
    """What a page with a form hands out."""

    cookie: str  # the value of the FORM_COOKIE cookie
    field: str  # the value of the hidden FORM_FIELD field: the cookie's value and a nonce


class FormTokens:
    """Issuing and checking form tokens, signed with the installation's secret; a token is
    good for `max_age` seconds."""

    def __init__(self, secret: bytes, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=FORM_SALT)
        self._max_age = max_age

    def issue(self, cookie: str | None) -> FormToken:
        """A token for one form; `cookie` is the browser's current FORM_COOKIE, if any."""
        if cookie is None or not _COOKIE_SHAPE.fullmatch(cookie):
            cookie = secrets.token_urlsafe(16)
        return FormToken(cookie, self._serializer.dumps([cookie, secrets.token_urlsafe(16)]))

    def check(self, cookie: str | None, field: str | None) -> str:
        """The nonce to spend; FormRefused if either half is missing, forged, expired or
        made for another browser."""
        if not cookie or not field:
            raise FormRefused("no form token")
        try:
            signed = self._serializer.loads(field, max_age=self._max_age)
        except BadData:
            raise FormRefused("a forged or expired form token") from None
        match signed:
            case [str(named), str(nonce)] if hmac.compare_digest(named, cookie):
                return nonce
        raise FormRefused("a form token for another browser")
