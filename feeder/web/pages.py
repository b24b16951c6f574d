"""The subscriber pages: sign-up, confirmation, preferences and unsubscribe.

Each handler reads the request, makes its facade calls through a Feeder opened for that
request alone (a SQLite connection belongs to one thread), and renders a template from
`templates/pages/`. They are plain functions run in Starlette's thread pool; only reading
the form body is asynchronous, and `threaded` does that first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime
from functools import partial
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..app import FORM_MAX_AGE, Feeder, SmtpFactory, open_feeder
from ..config import Config
from ..errors import AddressError, InputError, MailError, TokenError, TokenProblem
from ..model import Subscriber
from ..site import archive_url, index_url, page_url, subscribe_url
from ..templating import Templates
from ..tokens import CONFIRM_DAYS, Purpose
from .guard import (
    FORM_COOKIE,
    FORM_FIELD,
    FormRefused,
    FormTokens,
    RateLimiter,
    page_headers,
)

log = logging.getLogger("feeder.web")

SIGNUPS_PER_CLIENT = 5  # POST /subscribe per client address …
SIGNUP_WINDOW = 600  # … per this many seconds
FORM_SECONDS = int(FORM_MAX_AGE.total_seconds())
HONEYPOT = "website"  # a field people never see and robots fill in
# RFC 8058: the one field of a mail client's one-click unsubscribe POST.
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
BAD_SECTIONS = "所选的分类无效，请刷新页面后重新选择。"  # only a hand-made form gets this

# What a refused link says, by why it was refused; nothing was changed.
TOKEN_PROBLEMS = {
    TokenProblem.BAD: (
        400,
        "链接无效",
        "这个链接不完整或被改动过。请直接点击邮件里的链接，或把完整的地址复制到浏览器中。",
    ),
    TokenProblem.EXPIRED: (
        410,
        "链接已过期",
        f"确认链接 {CONFIRM_DAYS} 天内有效，地址的订阅状态变化后也会失效。"
        "请重新填写订阅表单，我们会再发一封。",
    ),
    TokenProblem.UNKNOWN: (
        404,
        "找不到这个订阅",
        "这个链接对应的订阅记录已被删除。如果想继续收到周报，请重新订阅。",
    ),
}

Handler = Callable[[Request, FormData | None], Response]


def threaded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that reads a POST's form, then runs `handler` in the thread pool."""

    async def endpoint(request: Request) -> Response:
        form = await request.form() if request.method == "POST" else None
        return await run_in_threadpool(handler, request, form)

    return endpoint


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [value for value in form.getlist(name) if isinstance(value, str)]


def client_address(request: Request) -> str:
    """The client's address; behind nginx, the one uvicorn read from X-Forwarded-For."""
    return request.client.host if request.client else ""


class Pages:
    """The route handlers, over one configuration."""

    def __init__(
        self,
        config: Config,
        clock: Callable[[], datetime] | None,
        smtp_factory: SmtpFactory | None,
    ) -> None:
        self.config = config
        self._open = partial(open_feeder, config, clock=clock, smtp_factory=smtp_factory)
        self._templates = Templates(config.newsletter.templates)
        self._limiter = RateLimiter(SIGNUPS_PER_CLIENT, SIGNUP_WINDOW)
        base = config.output.base_url
        self._links = {
            "index": index_url(base),
            "archive": archive_url(base),
            "subscribe": subscribe_url(base),
        }

    def routes(self) -> list[Route]:
        return [
            Route("/subscribe", threaded(self.subscribe), methods=["GET", "POST"]),
            Route("/confirm/{token}", threaded(self.confirm), methods=["GET"]),
            Route("/preferences/{token}", threaded(self.preferences), methods=["GET", "POST"]),
            Route("/unsubscribe/{token}", threaded(self.unsubscribe), methods=["GET", "POST"]),
        ]

    # -- The handlers --------------------------------------------------------------------------

    def subscribe(self, request: Request, form: FormData | None) -> Response:
        """The form; sent, one answer for every address that can be used (no enumeration)."""
        if form is not None and (wait := self._limiter.hit(client_address(request))):
            minutes = -(-wait // 60)
            return self._problem(
                429,
                "提交太频繁",
                f"这个网络地址刚刚提交了太多次订阅。请 {minutes} 分钟后再试。",
                headers={"Retry-After": str(wait)},
            )
        with self._open() as feeder:
            if form is None:
                every = [tag.id for tag in feeder.tags]
                return self._sign_up_form(feeder, request, email="", chosen=every)
            if refused := self._spend_form(feeder, request, form, subscribe_url(self._base)):
                return refused
            if _text(form, HONEYPOT):
                log.info("honeypot filled by %s: sign-up ignored", client_address(request))
                return self._page("subscribed", days=CONFIRM_DAYS)
            email, chosen = _text(form, "email").strip(), _texts(form, "tags")
            if not chosen:
                return self._sign_up_form(
                    feeder, request, email=email, chosen=[], error="请至少选择一个分类。"
                )
            try:
                feeder.sign_up(email, chosen)
            except AddressError as exc:
                return self._sign_up_form(
                    feeder,
                    request,
                    email=email,
                    chosen=chosen,
                    error="这个邮箱地址无法使用，请检查后重新填写。",
                    detail=str(exc),
                )
            except InputError as exc:
                return self._sign_up_form(
                    feeder, request, email=email, chosen=chosen, error=BAD_SECTIONS, detail=str(exc)
                )
            except MailError:
                log.exception("sign-up: the confirmation mail could not be sent")
                return self._problem(
                    503,
                    "暂时无法发送邮件",
                    "邮件服务器暂时没有响应，订阅没有完成。请过几分钟再试。",
                    retry_url=subscribe_url(self._base),
                    retry_label="返回订阅表单",
                )
        return self._page("subscribed", days=CONFIRM_DAYS)

    def confirm(self, request: Request, form: FormData | None) -> Response:
        token = request.path_params["token"]
        with self._open() as feeder:
            try:
                subscriber = feeder.confirm(token)
            except TokenError as exc:
                return self._token_problem(exc)
            return self._page(
                "confirmed",
                email=subscriber.email,
                chosen=self._labels(feeder, subscriber.tags),
                preferences_url=feeder.personal_links(subscriber).preferences,
            )

    def preferences(self, request: Request, form: FormData | None) -> Response:
        token = request.path_params["token"]
        here = page_url(self._base, Purpose.PREFERENCES, token)
        with self._open() as feeder:
            try:
                if form is None:
                    subscriber = feeder.subscriber_for(token, Purpose.PREFERENCES)
                    return self._preferences_form(feeder, request, subscriber)
                if refused := self._spend_form(feeder, request, form, here):
                    return refused
                if _text(form, "action") == "unsubscribe":
                    feeder.unsubscribe_by_token(token, Purpose.PREFERENCES)
                    return self._page("unsubscribed")
                chosen = _texts(form, "tags")
                if not chosen:
                    subscriber = feeder.subscriber_for(token, Purpose.PREFERENCES)
                    return self._preferences_form(
                        feeder,
                        request,
                        subscriber,
                        status=400,
                        error="请至少选择一个分类；不想再收到周报，请点“退订”。",
                    )
                try:
                    subscriber = feeder.set_tags(token, chosen)
                except InputError:
                    subscriber = feeder.subscriber_for(token, Purpose.PREFERENCES)
                    return self._preferences_form(
                        feeder, request, subscriber, status=400, error=BAD_SECTIONS
                    )
                return self._preferences_form(feeder, request, subscriber, saved=True)
            except TokenError as exc:
                return self._token_problem(exc)

    def unsubscribe(self, request: Request, form: FormData | None) -> Response:
        """One button; the button's POST, or a mail client's RFC 8058 one, unsubscribes.

        The one-click POST carries no cookie and no form token, by the RFC: the signed token
        in the URL is what authorises it, as it does the page's own button.
        """
        token = request.path_params["token"]
        here = page_url(self._base, Purpose.UNSUBSCRIBE, token)
        with self._open() as feeder:
            try:
                if form is None:
                    subscriber = feeder.subscriber_for(token, Purpose.UNSUBSCRIBE)
                    if not subscriber.active:
                        return self._page("unsubscribed")
                    return self._form_page(
                        feeder,
                        request,
                        "unsubscribe",
                        email=subscriber.email,
                        preferences_url=feeder.personal_links(subscriber).preferences,
                    )
                if _text(form, ONE_CLICK_FIELD) != ONE_CLICK_VALUE and (
                    refused := self._spend_form(feeder, request, form, here)
                ):
                    return refused
                feeder.unsubscribe_by_token(token, Purpose.UNSUBSCRIBE)
            except TokenError as exc:
                return self._token_problem(exc)
        return self._page("unsubscribed")

    # -- Pieces --------------------------------------------------------------------------------

    @property
    def _base(self) -> str:
        return self.config.output.base_url

    def _sign_up_form(
        self,
        feeder: Feeder,
        request: Request,
        *,
        email: str,
        chosen: Collection[str],
        error: str = "",
        detail: str = "",
    ) -> Response:
        return self._form_page(
            feeder,
            request,
            "subscribe",
            status=400 if error else 200,
            email=email,
            tags=feeder.tags,
            chosen=chosen,
            honeypot=HONEYPOT,
            error=error,
            detail=detail,
        )

    def _preferences_form(
        self,
        feeder: Feeder,
        request: Request,
        subscriber: Subscriber,
        *,
        status: int = 200,
        saved: bool = False,
        error: str = "",
    ) -> Response:
        tags = feeder.tags
        chosen = subscriber.tags if subscriber.tags is not None else [tag.id for tag in tags]
        return self._form_page(
            feeder,
            request,
            "preferences",
            status=status,
            email=subscriber.email,
            active=subscriber.active,
            tags=tags,
            chosen=chosen,
            saved=saved,
            error=error,
        )

    def _form_page(
        self, feeder: Feeder, request: Request, name: str, *, status: int = 200, **context: object
    ) -> Response:
        """A page with a form: a fresh form token in its hidden field and in the cookie."""
        token = self._form_tokens(feeder).issue(request.cookies.get(FORM_COOKIE))
        response = self._page(
            name, status, form_field=FORM_FIELD, form_token=token.field, **context
        )
        response.set_cookie(
            FORM_COOKIE,
            token.cookie,
            max_age=FORM_SECONDS,
            path=urlsplit(self._base).path or "/",
            secure=self._base.startswith("https:"),
            httponly=True,
            samesite="strict",
        )
        return response

    def _spend_form(
        self, feeder: Feeder, request: Request, form: FormData, retry_url: str
    ) -> Response | None:
        """None if the form's token is good and unspent (it is spent now); else the refusal."""
        try:
            nonce = self._form_tokens(feeder).check(
                request.cookies.get(FORM_COOKIE), _text(form, FORM_FIELD)
            )
        except FormRefused:
            message = "表单已失效（打开太久，或浏览器没有保存 Cookie）。请重新打开页面后再提交。"
        else:
            if feeder.spend_form_nonce(nonce):
                return None
            message = "这个表单已经提交过了。请重新打开页面后再提交。"
        return self._problem(
            400, "表单无法提交", message, retry_url=retry_url, retry_label="重新打开"
        )

    @staticmethod
    def _form_tokens(feeder: Feeder) -> FormTokens:
        # A form is good for as long as the state remembers its spent nonce, and no longer.
        return FormTokens(feeder.secret, FORM_SECONDS)

    def _token_problem(self, exc: TokenError) -> Response:
        status, heading, message = TOKEN_PROBLEMS[exc.problem]
        return self._problem(
            status, heading, message, retry_url=subscribe_url(self._base), retry_label="订阅表单"
        )

    def _problem(
        self,
        status: int,
        heading: str,
        message: str,
        *,
        retry_url: str = "",
        retry_label: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        response = self._page(
            "problem",
            status,
            heading=heading,
            message=message,
            retry_url=retry_url,
            retry_label=retry_label,
        )
        response.headers.update(headers or {})
        return response

    def _page(self, name: str, status: int = 200, **context: object) -> HTMLResponse:
        html = self._templates.render(
            f"pages/{name}.html.j2",
            {"title": self.config.newsletter.title, "links": self._links, **context},
            what="page",
        )
        return HTMLResponse(html, status, headers=page_headers(html))

    @staticmethod
    def _labels(feeder: Feeder, chosen: tuple[str, ...] | None) -> list[str]:
        """The sections a choice gets, by label; every one and 其他 when it is all of them."""
        tags = feeder.tags
        if chosen is None:
            return [tag.label for tag in tags] + ["其他（未分类的文章）"]
        return [tag.label for tag in tags if tag.id in chosen]
