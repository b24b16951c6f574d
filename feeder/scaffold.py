"""`feeder init`: a new site's commented config and copies of the packaged taxonomy and
templates, written into a folder without overwriting anything."""

from __future__ import annotations

import os
from pathlib import Path

from .config import DEFAULT_NAME, DEFAULT_TAXONOMY, DEFAULT_TEMPLATES
from .errors import ConfigError

# Every section and key with its default, as the repository's feeder.toml spells them out,
# except the two paths that name the copies written beside it. tests/test_install.py checks
# that it loads and agrees with the defaults in config.py, so the two cannot drift apart.
CONFIG_TEXT = """\
# feeder's configuration, written by `feeder init`. Every key is optional and the values
# below are the defaults, except taxonomy.path and newsletter.templates: they name the
# copies beside this file, to edit (delete the two keys to use the ones built into feeder).
# Relative paths resolve against this file's folder.

[corpus]
path = "data/corpus.json"          # your corpus: a JSON array or JSON Lines of articles
min_year = 1970                    # a record dated before this year is skipped as bad …
max_year = 2100                    # … and so is one dated after this year

[state]
path = "data/state.db"             # SQLite state (articles, tags, subscribers, delivery ledger)
# Or, instead of path (remove it), a PostgreSQL database several hosts share, such as
# "postgresql://feeder@db.example.org:5432/feeder"; its password comes from $PGPASSWORD.
url = ""

[output]
dir = "out"                        # feeds, index.html, feeds.opml, newsletter previews
base_url = "http://localhost:8000/" # where `dir` is served: absolute links in feeds and mail
max_entries = 50                   # entries in each feed's document; older ones are archived
archive_size = 100                 # entries per archive page, feeds/archive/<feed>/<n>.atom
websub_hub = ""                    # a WebSub hub URL: every feed links it, polls ping it; "" = none

[taxonomy]
path = "taxonomy.toml"             # tags and the signals that decide them

[schedule]
timezone = "Asia/Shanghai"         # bare dates, week boundaries and the cron line use it
poll_seconds = 300                 # how often `feeder daemon` polls the corpus
watch = true                       # and within a second after the corpus file changes
newsletter_cron = "0 8 * * mon"    # when `feeder daemon` sends the weekly issue

[newsletter]
title = "上海科技周报"
from = "上海科技周报 <newsletter@example.org>"
unsubscribe = "mailto:newsletter@example.org?subject=unsubscribe"
templates = "templates"            # Jinja2 templates of the mail and the index page

[smtp]
host = "localhost"
port = 25
security = "none"                  # "starttls" | "ssl" | "none"
username = ""                      # the password only from the environment: FEEDER_SMTP_PASSWORD
timeout = 30                       # seconds
max_per_second = 5
connections = 4                    # SMTP sessions a send runs in parallel
claim_seconds = 600                # PostgreSQL: then a dead daemon's batch is taken over

[dkim]
# Sign every message (DKIM): set all three, or leave all three empty to send unsigned mail.
# `feeder newsletter dns` then prints the DNS records to publish (DKIM, SPF, DMARC).
domain = ""                        # d=: the From address's domain, e.g. "example.org"
selector = ""                      # names the key in DNS: <selector>._domainkey.<domain>
private_key = ""                   # PEM RSA key, 2048 bits: openssl genrsa -out dkim.pem 2048

# Custom feeds: each [[feeds]] table adds feeds/<name>.atom of the newest articles that match
# all of its filters. Only `name` is needed. The patterns are Python regular expressions,
# searched in the title and the first 10,000 characters of the text; avoid nested repeats
# such as (a+)+ (they can take exponential time), and use (?i) to ignore case.
# [[feeds]]
# name = "ai"                      # feeds/ai.atom: lower-case letters, digits, '-' and '_'
# title = "人工智能"                # its label on the index page; default: the name
# tags = ["research", "industry"]  # any of these tags; empty or absent: every article
# include = '人工智能|大模型|\\bAI\\b' # only articles where this is found; optional
# exclude = '招聘'                 # no article where this is found; optional
"""

TAXONOMY_NAME = "taxonomy.toml"
TEMPLATES_NAME = "templates"


def scaffold(folder: Path) -> list[Path]:
    """Write feeder.toml, taxonomy.toml and templates/ into `folder` (made if missing).

    Returns the files written, each as `folder / name`. Raises ConfigError, writing
    nothing, if any of them (or a folder on the way to one) already exists: an operator's
    edited copy is never replaced.
    """
    files = _contents(folder)
    for target in files:
        _refuse_existing(folder, target)
    for target, data in files.items():
        _write_new(target, data)
    return list(files)


def _contents(folder: Path) -> dict[Path, bytes]:
    """Each file to write and its bytes, in the order they are written and reported."""
    files = {
        folder / DEFAULT_NAME: CONFIG_TEXT.encode("utf-8"),
        folder / TAXONOMY_NAME: DEFAULT_TAXONOMY.read_bytes(),
    }
    # The same globs as pyproject's package-data, so that a checkout (or an editable
    # install) copies exactly the set a wheel ships, and no editor or cache files.
    for source in sorted(DEFAULT_TEMPLATES.rglob("*.j2")):
        name = source.relative_to(DEFAULT_TEMPLATES)
        files[folder / TEMPLATES_NAME / name] = source.read_bytes()
    return files


def _refuse_existing(folder: Path, target: Path) -> None:
    # lexists: a dangling symlink is in the way too, and writing through it would land
    # somewhere the operator did not ask for.
    if os.path.lexists(target):
        raise ConfigError(f"{target} exists; init writes only new files")
    # A file where a folder must go (folder itself, templates/, partials/) would make the
    # write fail half-way through; refuse it up front instead.
    for parent in (target.parent, *target.parent.parents):
        if os.path.lexists(parent) and not parent.is_dir():
            raise ConfigError(f"{parent} exists; init writes only new files")
        if parent == folder:
            break


def _write_new(target: Path, data: bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # "x" rather than "w": a file that appeared since the check is still not replaced.
        with target.open("xb") as f:
            f.write(data)
    except FileExistsError:
        raise ConfigError(f"{target} exists; init writes only new files") from None
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from None
