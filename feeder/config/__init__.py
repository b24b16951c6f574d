"""The TOML configuration: every key declared once (sections.py), read and checked
(loading.py), and written out as a commented file and as docs/configuration.md
(reference.py)."""

from .loading import DEFAULT_NAME, find_config, load_config, parse_config
from .sections import (
    DEFAULT_TAXONOMY,
    DEFAULT_TEMPLATES,
    PACKAGED,
    Config,
    CorpusSection,
    DkimSection,
    FeedDef,
    NewsletterSection,
    OutputSection,
    ScheduleSection,
    SmtpSection,
    StateSection,
    TaxonomySection,
)

__all__ = [
    "DEFAULT_NAME",
    "DEFAULT_TAXONOMY",
    "DEFAULT_TEMPLATES",
    "PACKAGED",
    "Config",
    "CorpusSection",
    "DkimSection",
    "FeedDef",
    "NewsletterSection",
    "OutputSection",
    "ScheduleSection",
    "SmtpSection",
    "StateSection",
    "TaxonomySection",
    "find_config",
    "load_config",
    "parse_config",
]
