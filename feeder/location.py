"""Where a state lives, a SQLite file or a PostgreSQL URL, and the rules such a URL keeps:
no password in it (the config and `state copy --to` both refuse one), none in any message."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError


def is_url(location: object) -> bool:
    """Whether a state location names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def refuse_password(url: str, name: str) -> None:
    """ConfigError if `url` holds a password: it belongs in $PGPASSWORD or ~/.pgpass, never in
    a file or a command line others may read. `name` says where the URL was given."""
    try:
        password = urlsplit(url).password
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL") from None
    if password is not None:
        raise ConfigError(f"{name} must not hold a password: give it in $PGPASSWORD or ~/.pgpass")


def safe_url(url: str) -> str:
    """The URL as messages show it: never with a password, should one have slipped in."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
