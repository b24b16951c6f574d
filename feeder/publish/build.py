"""The published site: one feed per tag plus one of everything (each in Atom, RSS 2.0 and
JSON Feed), an OPML list, an index page and the newsletter's archive. `build_site` turns
entries into bytes (pure); `publish` reads the state and writes only the files whose bytes
changed, so unchanged feeds keep their mtime and HTTP caches stay valid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

from ..config import DEFAULT_TEMPLATES, Config, FeedDef, NewsletterSection
from ..errors import OutputError
from ..files import write_if_changed
from ..model import Entry, IssueRecord, Tag
from ..site import ALL, ALL_LABEL, INDEX, OPML
from ..storage import Storage
from ..templating import Templates
from ..text import TAG_ID, newest_first, one_line
from .archive import build_archive
from .custom import check_custom_feeds, custom_entries, custom_feed_infos
from .feeds import FALLBACK_ACCOUNT, build_opml, feed_info
from .formats import build_formats
from .index import INDEX_LATEST, build_index


def publish(storage: Storage, tags: Sequence[Tag], config: Config) -> list[Path]:
    """Rebuild the feeds, OPML, index page and archive from the state; return the files
    rewritten."""
    limit = config.output.max_entries
    entries: dict[str, list[Entry]] = {ALL: storage.entries(limit=limit)}
    for tag in tags:
        entries[tag.id] = storage.entries(tag.id, limit=limit)
    entries.update(custom_entries(storage, config.feeds, limit))
    site = build_site(
        entries,
        tags,
        base_url=config.output.base_url,
        account=account_name(entries[ALL]),
        tz=config.tz,
        templates=Templates(config.newsletter.templates),
        issues=storage.sent_issues(),
        newsletter=config.newsletter.title,
        custom=config.feeds,
        hub=config.output.websub_hub,
    )
    out = config.output.dir
    # In build order: feeds before the OPML and pages that link to them.
    return [out / name for name, data in site.items() if write_if_changed(out / name, data)]


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
) -> dict[str, bytes]:
    """Every output file, by path relative to the output folder; no clock, and no I/O but
    reading the pages' templates.

    `entries` holds the entries of each feed by name: "all" and each tag's id (a missing
    name means an empty feed). `base_url` ends with "/". `templates` default to the built-in
    ones. `issues` are the newsletter's sent issues, `newsletter` its title, for the archive.
    `custom` are the config's custom feeds (their entries under their names), and `hub` the
    WebSub hub every feed names ("" for none).
    """
    _check_tag_ids(tags)
    check_custom_feeds(custom, tags)
    labels = {tag.id: tag.label for tag in tags}
    feeds = [feed_info(ALL, ALL_LABEL, f"{account}公众号的全部文章", account, base_url)]
    for tag in tags:
        about = f"{account}公众号的{one_line(tag.label)}类文章"
        description = one_line(tag.description)
        subtitle = f"{about}：{description}" if description else about
        feeds.append(feed_info(tag.id, one_line(tag.label), subtitle, account, base_url))
    feeds += custom_feed_infos(custom, account, base_url)
    if hub:
        feeds = [replace(feed, hub=hub) for feed in feeds]
    site: dict[str, bytes] = {}
    for feed in feeds:
        site.update(build_formats(feed, entries.get(feed.name, ()), labels, tz))
    site[OPML] = build_opml(feeds, account)
    latest = {tag.id: newest_first(entries.get(tag.id, ()))[:INDEX_LATEST] for tag in tags}
    templates = templates or Templates(DEFAULT_TEMPLATES)
    site.update(
        build_archive(issues, newsletter=newsletter, base_url=base_url, tz=tz, templates=templates)
    )
    site[INDEX] = build_index(templates, feeds, tags, latest, account, newsletter, base_url, tz)
    return site


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
