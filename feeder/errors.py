"""The exception tree the library raises; the CLI turns each into one `Error: …` line,
the web pages into a 4xx or 5xx page."""

from enum import StrEnum


class FeederError(Exception):
    """Base of every error feeder reports to the user instead of a traceback."""


class ConfigError(FeederError):
    """The configuration file (or the taxonomy it names) is missing or invalid."""


class CorpusError(FeederError):
    """The corpus file cannot be read as a whole (missing, not JSON, truncated, wrong shape)."""


class StateError(FeederError):
    """The state database cannot be opened, upgraded or written."""


class OutputError(FeederError):
    """An output file (feed, page, newsletter) cannot be written."""


class MailError(FeederError):
    """Mail could not be sent, or a subscriber address is invalid."""


class LoginRefused(MailError):
    """The SMTP server refused smtp.username and the password: every later run would be
    refused the same way until they change, and repeated failed logins get accounts locked."""


class LockedError(FeederError):
    """Another feeder process holds the lock on this state."""


class InputError(FeederError):
    """What a person typed cannot be used (a choice of sections, say); the message says why."""


class AddressError(InputError, MailError):
    """Not a usable email address."""


class TokenProblem(StrEnum):
    """Why a signed link was refused."""

    BAD = "bad"  # not ours: tampered with, made for another page, or not a token at all
    EXPIRED = "expired"  # a confirmation past its days, or older than the address's last change
    UNKNOWN = "unknown"  # ours, but the subscriber it names is gone (erased)


class TokenError(FeederError):
    """A signed link that opens nothing; nothing was changed."""

    def __init__(self, problem: TokenProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
