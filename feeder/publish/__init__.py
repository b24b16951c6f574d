"""Publishing: Atom feeds, the OPML list and the index page, built from the state's entries."""

from .build import account_name, build_site, publish
from .feeds import entry_id

__all__ = ["account_name", "build_site", "entry_id", "publish"]
