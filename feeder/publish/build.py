"""The published site: one feed per tag plus one of everything (each in Atom, RSS 2.0 and
JSON Feed), an OPML list, an index page and the newsletter's archive. `build_site` turns
entries into bytes (pure); `publish` reads the state and writes only the files whose bytes
changed, so unchanged feeds keep their mtime and HTTP caches stay valid."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from ..config import DEFAULT_TEMPLATES, Config, FeedDef, NewsletterSection
from ..errors import OutputError
from ..files import write_if_changed
from ..model import Entry, IssueRecord, Tag
from ..site import (
    ACCOUNT_DIR,
    ALL,
    ALL_LABEL,
    INDEX,
    OPML,
    account_feed,
    archive_page_url,
    archive_path,
)
from ..storage import FeedStore, IssueStore, MetaStore
from ..templating import Templates
from ..text import TAG_ID, newest_first, one_line
from .accounts import account_feed_infos, choose_slug
from .archive import build_archive
from .custom import MATCH_CHARS, check_custom_feeds, custom_feed_infos
from .feeds import FALLBACK_ACCOUNT, FeedInfo, build_opml, feed_info
from .formats import build_formats
from .history import (
    ArchiveEntry,
    archive_entry,
    build_archive_page,
    feed_head,
    moves,
    page_of,
    plan_pages,
    wanted_feeds,
)
from .index import INDEX_LATEST, build_index

FEEDS_KEY = "feed_definitions"  # meta: what decided each feed's members at the last publish
SYNC_BATCH = 500  # articles whose feeds are worked out per round trip to the state
ENTRY_CACHE = 20_000  # archive entries kept for the other feeds' pages of one publish


class PublishStore(FeedStore, MetaStore, IssueStore, Protocol):
    """What a publish reads and writes: the feeds' members and archive pages, the feed
    definitions it last worked with (meta), and the issues sent (the newsletter archive)."""


def publish(storage: PublishStore, tags: Sequence[Tag], config: Config) -> list[Path]:
    """Bring every feed's members up to date with the articles written since the last
    publish, write the archive pages whose content changed, then the feeds, OPML, index page
    and newsletter archive; return the files rewritten."""
    out, base_url = config.output.dir, config.output.base_url
    slugs = sync_members(storage, tags, config.feeds, config.output.archive_size, out)
    limit, hub = config.output.max_entries, config.output.websub_hub
    entries = {ALL: storage.feed_entries(ALL, limit)}
    account = account_name(entries[ALL])
    feeds = site_feeds(
        tags, account=account, base_url=base_url, custom=config.feeds, hub=hub, accounts=slugs
    )
    for feed in feeds[1:]:
        entries[feed.name] = storage.feed_entries(feed.name, limit)
    labels = {tag.id: tag.label for tag in tags}
    # Archive pages first: the subscription documents link the newest of them.
    written, archives = write_archives(storage, feeds, labels, config)
    site = build_site(
        entries,
        tags,
        base_url=base_url,
        account=account,
        tz=config.tz,
        templates=Templates(config.newsletter.templates),
        issues=storage.sent_issues(),
        newsletter=config.newsletter.title,
        custom=config.feeds,
        hub=hub,
        accounts=slugs,
        archives=archives,
    )
    # In build order: feeds before the OPML and pages that link to them.
    written += [out / name for name, data in site.items() if write_if_changed(out / name, data)]
    return written


def sync_members(
    storage: PublishStore, tags: Sequence[Tag], custom: Sequence[FeedDef], size: int, out: Path
) -> dict[str, str]:
    """Put the articles written since the last publish into the feeds they now belong in
    (appended in published order), take them out of the others, and forget the archive
    pages where they sat, so that those are written again. Returns every account's slug.

    When the feeds themselves changed (a custom feed's definition, a tag added or removed),
    every article is worked out again, and a feed that is gone loses its pages.
    """
    defs = feed_definitions(tags, custom)
    known = json.loads(storage.get_meta(FEEDS_KEY) or "{}")
    if defs != known:
        for feed in storage.member_feeds():
            if feed not in defs and not feed.startswith(ACCOUNT_DIR + "/"):
                for n in storage.drop_feed(feed):
                    (out / archive_path(feed, n)).unlink(missing_ok=True)
        storage.mark_all_pending()
        storage.set_meta(FEEDS_KEY, json.dumps(defs, sort_keys=True))
    tag_ids = {tag.id for tag in tags}
    # The custom feeds' patterns see this much of the text; no custom feed, no text.
    chars = MATCH_CHARS if custom else 0
    slugs = storage.account_slugs()
    last: dict[str, int] = {}
    pending = storage.pending_ids()
    for start in range(0, len(pending), SYNC_BATCH):
        batch = pending[start : start + SYNC_BATCH]
        found = storage.entries_of(batch, chars)
        feeds = [*defs, *(account_feed(slug) for slug in slugs.values())]
        where = storage.memberships(batch, feeds)
        entries = [found[ident] for ident in batch if ident in found]
        joins, leaves, stale = [], [], set()
        for entry in entries:
            ident, name = entry.article.id, one_line(entry.article.account)
            if name and name not in slugs:
                urls = (e.article.url for e in entries if one_line(e.article.account) == name)
                slugs[name] = choose_slug(name, urls, set(slugs.values()))
                storage.add_account(name, slugs[name])
            account = account_feed(slugs[name]) if name else None
            change = moves(where.get(ident, {}), wanted_feeds(entry, tag_ids, custom, account))
            for feed in change.join:
                if feed not in last:
                    last[feed] = storage.last_seq(feed)
                last[feed] += 1
                joins.append((feed, last[feed], ident))
            leaves += [(feed, ident) for feed, _ in change.leave]
            stale |= {(feed, page_of(seq, size)) for feed, seq in change.leave + change.stay}
        storage.drop_members(leaves)
        storage.add_members(joins)
        storage.forget_pages(sorted(stale))
    storage.clear_pending()
    return slugs


def feed_definitions(tags: Sequence[Tag], custom: Sequence[FeedDef]) -> dict[str, str]:
    """What decides each feed's members, by feed name (account feeds, which follow the data,
    aside): when it changes, every article's feeds are worked out again."""
    defs = {ALL: ALL, **{tag.id: "tag" for tag in tags}}
    for feed in custom:
        patterns = [None if p is None else p.pattern for p in (feed.include, feed.exclude)]
        defs[feed.name] = json.dumps([list(feed.tags), *patterns], ensure_ascii=False)
    return defs


def write_archives(
    storage: FeedStore, feeds: Sequence[FeedInfo], labels: Mapping[str, str], config: Config
) -> tuple[list[Path], dict[str, int]]:
    """Write the archive pages that are new or changed, delete those that no longer exist;
    return the files written and each feed's number of pages."""
    out, tz, size = config.output.dir, config.tz, config.output.archive_size
    keep = config.output.max_entries
    counts: dict[str, int] = {}
    work = []
    for feed in feeds:
        written = storage.archive_pages(feed.name)
        missing = {n for n in written if not (out / archive_path(feed.name, n)).exists()}
        end = storage.archive_end(feed.name, keep)
        plan = plan_pages(end, size, feed_head(feed, labels, tz), written, missing)
        counts[feed.name] = plan.count
        for n in plan.drop:
            (out / archive_path(feed.name, n)).unlink(missing_ok=True)
        storage.forget_pages((feed.name, n) for n in plan.drop)
        # Where in the feed's history the page starts, 0 to 1: pages of several feeds that
        # cover the same weeks are built one after the other, while their entries are cached.
        work += [((n - 1) * size / end, feed, n, plan) for n in plan.write]
    work.sort(key=lambda item: (item[0], item[1].name, item[2]))
    # Each entry is built once per article, not once per feed it is in; only the entries
    # not built yet are read from the state.
    cache: dict[str, ArchiveEntry] = {}
    files = []
    for _, feed, n, plan in work:
        if len(cache) > ENTRY_CACHE:
            cache.clear()
        ids = storage.member_ids(feed.name, *plan.seqs(n))
        for ident, entry in storage.entries_of([i for i in ids if i not in cache]).items():
            cache[ident] = archive_entry(entry, labels, tz)
        page = [cache[ident] for ident in ids]
        data = build_archive_page(feed, n, plan.count, page, tz, config.output.base_url)
        path = out / archive_path(feed.name, n)
        if write_if_changed(path, data):
            files.append(path)
        storage.record_pages(feed.name, {n: plan.shapes[n]})
    return files, counts


def account_name(entries: Sequence[Entry]) -> str:
    """The newest entry's account, for titles; "feeder" when there is none."""
    newest = newest_first(entries)
    name = one_line(newest[0].article.account) if newest else ""
    return name or FALLBACK_ACCOUNT


def build_site(
    entries: Mapping[str, Sequence[Entry]],
    tags: Sequence[Tag],
    *,
    base_url: str,
    account: str,
    tz: ZoneInfo,
    templates: Templates | None = None,
    issues: Sequence[IssueRecord] = (),
    newsletter: str = NewsletterSection.title,
    custom: Sequence[FeedDef] = (),
    hub: str = "",
    accounts: Mapping[str, str] | None = None,
    archives: Mapping[str, int] | None = None,
) -> dict[str, bytes]:
    """Every output file, by path relative to the output folder; no clock, and no I/O but
    reading the pages' templates.

    `entries` holds the entries of each feed by name: "all" and each tag's id (a missing
    name means an empty feed). `base_url` ends with "/". `templates` default to the built-in
    ones. `issues` are the newsletter's sent issues, `newsletter` its title, for the archive.
    `custom` are the config's custom feeds (their entries under their names), and `hub` the
    WebSub hub every feed names ("" for none). `accounts` are the accounts' slugs by name:
    with two or more, each has a feed (its entries under "account/<slug>"). `archives` is
    each feed's number of archive pages, the newest of which its documents link to.
    """
    accounts, archives = accounts or {}, archives or {}
    _check_tag_ids(tags)
    feeds = site_feeds(
        tags, account=account, base_url=base_url, custom=custom, hub=hub, accounts=accounts
    )
    feeds = [
        replace(feed, prev_archive=archive_page_url(base_url, feed.name, archives[feed.name]))
        if archives.get(feed.name)
        else feed
        for feed in feeds
    ]
    labels = {tag.id: tag.label for tag in tags}
    site: dict[str, bytes] = {}
    for feed in feeds:
        site.update(build_formats(feed, entries.get(feed.name, ()), labels, tz))
    by_account = [feed for feed in feeds if feed.name.startswith(ACCOUNT_DIR + "/")]
    main = [feed for feed in feeds if feed not in by_account]
    site[OPML] = build_opml(main, account, by_account)
    latest = {tag.id: newest_first(entries.get(tag.id, ()))[:INDEX_LATEST] for tag in tags}
    templates = templates or Templates(DEFAULT_TEMPLATES)
    site.update(
        build_archive(issues, newsletter=newsletter, base_url=base_url, tz=tz, templates=templates)
    )
    site[INDEX] = build_index(
        templates, main, tags, latest, account, newsletter, base_url, tz, by_account
    )
    return site


def site_feeds(
    tags: Sequence[Tag],
    *,
    account: str,
    base_url: str,
    custom: Sequence[FeedDef] = (),
    hub: str = "",
    accounts: Mapping[str, str] | None = None,
) -> list[FeedInfo]:
    """The site's feeds: "all", each tag's, the custom ones, then the accounts' if there are
    several (`accounts`: their slugs by name)."""
    check_custom_feeds(custom, tags)
    feeds = [feed_info(ALL, ALL_LABEL, f"{account}公众号的全部文章", account, base_url)]
    for tag in tags:
        about = f"{account}公众号的{one_line(tag.label)}类文章"
        description = one_line(tag.description)
        subtitle = f"{about}：{description}" if description else about
        feeds.append(feed_info(tag.id, one_line(tag.label), subtitle, account, base_url))
    feeds += custom_feed_infos(custom, account, base_url)
    feeds += account_feed_infos(accounts or {}, base_url)
    return [replace(feed, hub=hub) for feed in feeds] if hub else feeds


def _check_tag_ids(tags: Sequence[Tag]) -> None:
    # A tag id becomes a file name: keep it to a plain name that cannot leave feeds/.
    seen = {ALL}
    for tag in tags:
        if not TAG_ID.fullmatch(tag.id) or tag.id in seen:
            raise OutputError(
                f"tag id {tag.id!r} cannot name a feed: use lower-case letters, digits, "
                f"'-' and '_', not {ALL!r}, and each id once (check the taxonomy)"
            )
        seen.add(tag.id)
