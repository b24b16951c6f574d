"""Shared fixtures: a temporary feeder installation (config, corpus, state, outputs)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import settings

from feeder.app import Feeder, open_feeder
from feeder.config import Config, load_config, parse_config
from feeder.ingest.corpus import read_articles
from feeder.jobs.people import add_subscriber
from feeder.model import Article, Classification, PollResult, Tag, WriteMode
from feeder.publish import publish
from feeder.site import site_files
from feeder.storage import Storage, article_row
from feeder.web.server import create_app, listen, serve_in_thread, url_of

# In CI every run draws the same examples, so a red build is reproducible and a green one
# is not luck; on a developer's machine hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

pytest_plugins = ["tests.pg"]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SEED_CORPUS = ROOT / "data" / "corpus.json"
TAXONOMY = ROOT / "feeder" / "taxonomy.toml"
DATA = TESTS / "data"  # corpora, label sets, a bounce mailbox
GOLDEN = TESTS / "golden"  # feeds whose bytes must not change


def run_poll(config: Config, now: datetime | None = None, **options: Any) -> PollResult:
    """One poll through the facade, at `now` if given (as the CLI and the daemon run it)."""
    clock = None if now is None else (lambda: now)
    with open_feeder(config, clock=clock) as feeder:
        return feeder.poll(**options)


def fixture_digest(article: Article) -> str:
    """A digest of everything a reader sees, standing in for a corpus record's digest."""
    h = hashlib.sha256()
    for part in (article.title, article.url or "", article.published.isoformat(), article.content):
        h.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    for part in (article.account, article.source or "", article.author or "", article.editor or ""):
        h.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    return h.hexdigest()


def store_articles(
    storage: Storage,
    articles: Sequence[tuple[Article, Sequence[str]]],
    now: datetime,
    *,
    edited: bool = False,
) -> None:
    """Write articles with tags chosen by the test, as a poll at `now` writes classified ones;
    `edited` marks every one an edit of a stored article. Inside the caller's transaction."""
    rows = [article_row(a, fixture_digest(a), Classification(tuple(tags))) for a, tags in articles]
    mode = WriteMode.EDIT if edited else WriteMode.INSERT
    storage.put_articles(rows, now, [mode] * len(rows))


def seed_records() -> list[dict[str, Any]]:
    """The bundled 54 articles, as the raw records of the corpus file."""
    return json.loads(SEED_CORPUS.read_text(encoding="utf-8"))


def record(ident: str, title: str = "标题", time: str = "2026/2/5", content: str = "正文") -> dict:
    """One raw corpus record in the seed schema."""
    return {
        "文章标识符aid": ident,
        "标题title": title,
        "链接url": f"http://mp.weixin.qq.com/s?id={ident}",
        "时间time": time,
        "公众号名称": "上海科技",
        "finalContent": content,
    }


@dataclass
class Site:
    """A temporary installation: its folder, config file and corpus."""

    root: Path
    config_path: Path
    corpus: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def state(self) -> Path | str:
        """Where its state is: data/state.db, or its PostgreSQL database's URL."""
        return self.config.state.location

    def write_corpus(self, records: Sequence[Any]) -> None:
        self.put_corpus(json.dumps(records, ensure_ascii=False))

    def write_jsonl(self, records: Sequence[Any]) -> None:
        self.put_corpus("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))

    def put_corpus(self, text: str) -> None:
        """Replace the corpus file at once, as a careful exporter does: a daemon watching it
        sees the old bytes or the new, never the empty file a truncating write passes by."""
        spare = self.corpus.with_name(self.corpus.name + ".new")
        spare.write_text(text, encoding="utf-8")
        os.replace(spare, self.corpus)


@pytest.fixture
def make_site(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Callable[..., Site]:
    """Build a site: `make_site(records)`; `extra` is appended to its feeder.toml."""

    # On PostgreSQL the site's [state] names the test's database; on SQLite the default file.
    pg_state = "" if backend == "sqlite" else state_toml(request.getfixturevalue("pg_state"))

    def make(records: Sequence[Any] | None = None, extra: str = "") -> Site:
        (tmp_path / "data").mkdir(exist_ok=True)
        shutil.copy(TAXONOMY, tmp_path / "data" / "taxonomy.toml")
        shutil.copytree(ROOT / "feeder" / "templates", tmp_path / "templates", dirs_exist_ok=True)
        config_path = tmp_path / "feeder.toml"
        config_path.write_text(
            '[corpus]\npath = "data/corpus.json"\n'
            '[taxonomy]\npath = "data/taxonomy.toml"\n'
            '[newsletter]\ntemplates = "templates"\n'
            '[output]\nbase_url = "http://127.0.0.1:8000/"\n' + extra + pg_state,
            encoding="utf-8",
        )
        site = Site(tmp_path, config_path, tmp_path / "data" / "corpus.json")
        site.write_corpus(seed_records() if records is None else records)
        return site

    return make


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    """A site with the bundled 54-article corpus."""
    return make_site()


# -- Where the state lives: SQLite by default, both engines where a module asks -----------


@pytest.fixture
def backend() -> str:
    """The state's engine for a test: "sqlite", unless its module overrides this fixture
    with `both_backends` (then it runs once on each)."""
    return "sqlite"


@pytest.fixture(params=["sqlite", "postgresql"])
def both_backends(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state_location(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The test's state: a SQLite file under tmp_path, or a new PostgreSQL database at the
    current schema (from the session's throwaway cluster, dropped after the test)."""
    if backend == "sqlite":
        return tmp_path / "state" / "state.db"
    return str(request.getfixturevalue("pg_state"))


def dump_tables(location: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a state, on either engine, by table: {name: rows}, each
    row as (column, value) pairs sorted by column, rows in a fixed order, so that both
    engines' rows compare equal."""
    if isinstance(location, Path):
        db = sqlite3.connect(location)
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        query = db.execute
    else:
        pg = psycopg.connect(location, autocommit=True)
        names = [
            r[0]
            for r in pg.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        query = pg.execute  # type: ignore[assignment]
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for name in sorted(set(names) - {"schema_version"}):
        cursor = query(f"SELECT * FROM {name}")
        columns = [c[0] for c in cursor.description]
        rows = [tuple(sorted(zip(columns, row, strict=True))) for row in cursor]
        tables[name] = sorted(rows, key=repr)
    (db if isinstance(location, Path) else pg).close()
    return tables


def state_toml(location: Path | str) -> str:
    """The [state] section naming `location`."""
    key = "path" if isinstance(location, Path) else "url"
    return f'[state]\n{key} = "{location}"\n'


# -- Feeds: hand-made articles in a real Store, published, served on 127.0.0.1 -----------

FEED_TAGS = (
    Tag("policy", "政策", "政府政策、规划与通知"),
    Tag("research", "科研", "科研成果与学术活动"),
    Tag("industry", "产业", "企业与产业动态"),
)
SHANGHAI = ZoneInfo("Asia/Shanghai")
OUTPUT_FILES = site_files(FEED_TAGS)  # what a build writes with the bundled taxonomy's tags
POLL_TIME = datetime(2026, 2, 6, 1, 0, tzinfo=UTC)


def make_article(
    ident: str,
    day: str = "2026-02-05",
    title: str = "标题",
    content: str = "正文",
    *,
    url: str | None = "",
    author: str | None = None,
    account: str = "上海科技",
) -> Article:
    """An article as the corpus layer gives it; `url=""` means one made from the id."""
    return Article(
        id=ident,
        title=title,
        url=f"https://mp.weixin.qq.com/s/{quote(ident, safe='')}" if url == "" else url,
        published=datetime.fromisoformat(day).replace(tzinfo=SHANGHAI),
        account=account,
        content=content,
        author=author,
    )


def sample_articles() -> list[tuple[Article, tuple[str, ...]]]:
    """Seven articles and their tags: ties on one day, markup, an odd id, no URL, no tag."""
    return [
        (
            make_article(
                "2650224682_1",
                "2026-02-05",
                "AI的下一个前沿阵地是什么？周伯文谈AI精专通才之路",
                "如果说ChatGPT让大模型成了“通才”，AlphaFold让AI成了“专家”，那么接下来的AI该往"
                "哪儿走？在上海人工智能实验室主任、首席科学家周伯文看来，科学发现是AI的下一个前沿"
                "阵地，它既是推理智能的终极试炼场，也是“通专融合AGI”的验证舞台。\n\n"
                "近日，第四十届人工智能协会年会（AAAI 2026）在新加坡召开。\n作者：查睿",
                author="查睿",
            ),
            ("research",),
        ),
        (
            make_article(
                "2650224681_1",
                "2026-02-04",
                "面向“十五五”：强科创，激发新动能",
                "强化科技创新策源功能。\n\n推动产业升级。",
            ),
            ("policy", "industry"),
        ),
        (
            make_article(
                "2650224675_1",
                "2026-02-04",
                "【通知】关于公布2025年度上海市科技小巨人企业名单的通知",
                "各有关单位：现将名单予以公布。",
            ),
            ("policy",),
        ),
        (
            make_article(
                "2650224657_2",
                "2026-02-04",
                "<b>标签</b> & “引号”不是标记",
                "第一段<script>alert('x')</script>\n第二行 a < b && c > d\n\n第二段 &amp; 更多",
            ),
            ("policy",),
        ),
        (
            make_article("odd/../id with space", "2026-02-03", "编号里有斜杠和空格", "正文。"),
            ("policy",),
        ),
        (
            make_article("no-url", "2026-02-02", "没有原文链接", "只有正文。", url=None),
            ("industry",),
        ),
        (make_article("2650224500_1", "2026-02-01", "未分类的文章", "正文。"), ()),
    ]


@dataclass
class FeedState:
    """A real state file and config whose outputs go to `out`."""

    config: Config
    feeder: Feeder

    @property
    def store(self) -> Storage:
        return self.feeder.storage

    @property
    def out(self) -> Path:
        return self.config.output.dir

    def poll(
        self, articles: Sequence[tuple[Article, Sequence[str]]], now: datetime = POLL_TIME
    ) -> list[Path]:
        """Store new or edited articles with their tags, then publish, as a poll does.

        Stands in for Feeder.poll with tags chosen by the test, not the classifier.
        """
        with self.store.transaction():
            known = self.store.known_digests()
            changed = [(a, tags) for a, tags in articles if known.get(a.id) != fixture_digest(a)]
            store_articles(self.store, [(a, t) for a, t in changed if a.id not in known], now)
            edits = [(a, t) for a, t in changed if a.id in known]
            store_articles(self.store, edits, now, edited=True)
            return publish(self.store, FEED_TAGS, self.config)


def open_feed_state(
    root: Path, base_url: str, extra: str = "", state: Path | str = Path("state/state.db")
) -> FeedState:
    config = parse_config(
        f'[output]\ndir = "out"\nbase_url = "{base_url}"\n{extra}' + state_toml(state), root
    )
    return FeedState(config, open_feeder(config))


@pytest.fixture
def feed_state(tmp_path: Path, state_location: Path | str) -> Iterator[FeedState]:
    """An empty state publishing under http://127.0.0.1:8000/ (nothing is served)."""
    state = open_feed_state(tmp_path, "http://127.0.0.1:8000/", state=state_location)
    yield state
    state.feeder.close()


@dataclass
class Served:
    """The output folder served by `feeder serve`'s application on 127.0.0.1, and its
    request log."""

    state: FeedState
    url: str
    log: list[str]

    def feed_urls(self) -> dict[str, str]:
        names = ["all", *(tag.id for tag in FEED_TAGS)]
        return {name: f"{self.url}feeds/{name}.atom" for name in names}


class ListHandler(logging.Handler):
    """Keeps each formatted log line in a list."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def served(tmp_path: Path, state_location: Path | str) -> Iterator[Served]:
    """A state whose base_url is a running feeder server (on a free port)."""
    (tmp_path / "out").mkdir()
    log: list[str] = []
    logger = logging.getLogger("feeder.web")
    handler, level = ListHandler(log), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with listen("127.0.0.1", 0) as sock:
            state = open_feed_state(tmp_path, url_of(sock), state=state_location)
            with serve_in_thread(create_app(state.config), sock) as url:
                yield Served(state, url, log)
            state.feeder.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# -- Newsletter: the seed corpus in a real Store, tagged by keyword rules ------------------

NEWS_POLL = datetime(2026, 2, 6, 1, 0, tzinfo=UTC)  # the first poll: after the corpus's last day
# Title keywords standing in for the classifier, so these tests do not move when it is tuned;
# the first matching tag is the primary one.
NEWS_RULES = (
    ("policy", ("通知", "政策", "会议", "规划", "发布会", "申报", "习近平", "十五五")),
    ("research", ("科学", "研究", "实验室", "院士", "科研", "技术", "AI")),
    ("industry", ("企业", "产业", "公司", "经济", "生物医药", "上市", "芯片", "融资")),
)


def keyword_tags(article: Article) -> tuple[str, ...]:
    return tuple(tag for tag, words in NEWS_RULES if any(w in article.title for w in words))


@dataclass
class NewsState:
    """A real state file holding the tagged seed corpus, and a config mailing to 127.0.0.1."""

    config: Config
    feeder: Feeder
    tags: tuple[Tag, ...] = FEED_TAGS

    @property
    def store(self) -> Storage:
        return self.feeder.storage

    def add(self, articles: Sequence[Article], now: datetime) -> None:
        """Store articles as a poll at `now` would, tagged by NEWS_RULES."""
        with self.store.transaction():
            store_articles(self.store, [(a, keyword_tags(a)) for a in articles], now)

    def subscribe(self, *emails: str, tags: tuple[str, ...] | None = None) -> None:
        """Subscribe addresses as the operator would: active at once, with `tags`' sections."""
        for email in emails:
            add_subscriber(self.store, email, now=NEWS_POLL, tags=tags, set_tags=True)

    def with_smtp(self, **settings: Any) -> Config:
        """The config with [smtp] keys replaced (host, port, security, …)."""
        return replace(self.config, smtp=replace(self.config.smtp, **settings))


@pytest.fixture
def news(tmp_path: Path, state_location: Path | str) -> Iterator[NewsState]:
    """The 54 seed articles (22 in 2026-W05), first seen at NEWS_POLL; no subscribers."""
    config = parse_config(
        '[output]\ndir = "out"\nbase_url = "https://feeds.example.org/shkj/"\n'
        + state_toml(state_location)
        + f'[newsletter]\ntemplates = "{ROOT / "feeder" / "templates"}"\n'
        '[smtp]\nhost = "127.0.0.1"\nmax_per_second = 1000\ntimeout = 5\n',
        tmp_path,
    )
    state = NewsState(config, open_feeder(config))
    state.add(list(read_articles(SEED_CORPUS, config.tz)), NEWS_POLL)
    yield state
    state.feeder.close()


# -- A real browser: Debian's Chromium, driven by Playwright ---------------------------------

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = TESTS / "artifacts"  # screenshots for a person (git-ignored)
# As root on a closed network: no sandbox, and none of Chromium's own background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium. Missing, it fails the test rather than skip it: .ci/run installs it."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-microhei")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
