"""Configuration and usage mistakes: every command answers with one line naming the problem
and exit status 1 (2 for a bad command line, as click does), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from feeder.cli import main
from feeder.newsletter.smtp import PASSWORD_ENV
from tests.conftest import ROOT, NewsState, Site
from tests.newsletter.test_mailer import W05, write_config

COMMANDS = {
    "poll": ["poll"],
    "build": ["build"],
    "status": ["status"],
    "classify": ["classify"],
    "daemon": ["daemon"],
    "render": ["newsletter", "render", "--week", W05],
    "send": ["newsletter", "send", "--week", W05],
    "subscribe": ["subscribers", "add", "ann@example.org"],
}

# (what is wrong in feeder.toml, what the one error line must say)
BAD_CONFIGS = {
    "syntax": ('[corpus\npath = "data/corpus.json"\n', "invalid TOML"),
    "unknown key": ('[output]\ncolour = "red"\n', "unknown key output.colour"),
    "unknown section": ('[smtpp]\nhost = "mail"\n', "unknown section [smtpp]"),
    "wrong type": ('[schedule]\npoll_seconds = "often"\n', "schedule.poll_seconds must be"),
    "cron": (
        '[schedule]\nnewsletter_cron = "0 8 * * funday"\n',
        "schedule.newsletter_cron: bad crontab line '0 8 * * funday'",
    ),
    "timezone": (
        '[schedule]\ntimezone = "Mars/Olympus_Mons"\n',
        "schedule.timezone: unknown timezone 'Mars/Olympus_Mons'",
    ),
    "bad value": ('[smtp]\nsecurity = "tls"\n', "smtp.security must be one of"),
}


def one_line(result: Result, status: int = 1) -> str:
    """The single `Error: …` line of a failed command, after checking it failed cleanly."""
    assert result.exit_code == status, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    if status == 1:
        assert lines == errors, result.stderr  # nothing but the one line
    assert result.stdout == "" or status == 2
    return errors[0]


@pytest.mark.parametrize("mistake", BAD_CONFIGS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_config_is_one_line_for_every_command(
    tmp_path: Path, command: str, mistake: str
) -> None:
    text, says = BAD_CONFIGS[mistake]
    config = tmp_path / "feeder.toml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), *COMMANDS[command]])
    line = one_line(result)
    assert line.startswith(f"Error: {config}"), line  # which file
    assert says in line, line  # and what is wrong in it
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_config_file_is_one_line(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere.toml"
    result = CliRunner().invoke(main, ["--config", str(missing), *COMMANDS[command]])
    assert one_line(result) == f"Error: {missing}: config file not found"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["poll", "--frobnicate"], "No such option '--frobnicate'"),
        (["newsletter", "send", "--week", "2026-5"], "Invalid value for '--week'"),
        (["newsletter", "render", "--week", "2026-W60"], "Invalid value for '--week'"),
        (["subscribers", "add"], "Missing argument 'EMAIL'"),
        (["pol"], "No such command 'pol'"),
        (["serve", "--port", "70000"], "Invalid value for '--port'"),
    ],
)
def test_bad_usage_exits_2_naming_the_mistake(tmp_path: Path, args: list[str], says: str) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text("", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert says in one_line(result, status=2)


@pytest.mark.parametrize(
    "args",
    [
        ("newsletter", "render", "--week", "9999-W52"),
        ("newsletter", "send", "--week", "0001-W01", "--dry-run"),
        ("newsletter", "render", "--week", "1899-W52"),
    ],
)
def test_a_week_outside_the_supported_years_is_a_usage_error(site: Site, args: tuple) -> None:
    result = CliRunner().invoke(main, ["--config", str(site.config_path), *args])
    assert result.exit_code == 2, result.stderr
    assert "feeder handles the years 1900–2999" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "" and not site.state.exists()


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text(BAD_CONFIGS["cron"][0], encoding="utf-8")
    for args in (["poll"], ["daemon"], ["newsletter", "send"]):
        result = subprocess.run(
            [sys.executable, "-m", "feeder", "--config", str(config), *args],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_fractional_smtp_settings_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text("[smtp]\ntimeout = 0.5\nmax_per_second = 0.2\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "status", "--json"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def login_config(news: NewsState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state with subscribers and a W05 issue to send, and a config with a username."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    news.subscribe("ann@example.org")
    config = write_config(news, tmp_path, 2525)
    with config.open("a", encoding="utf-8") as f:
        f.write('username = "feeder"\nsecurity = "starttls"\n')  # [smtp] is the last table
    news.store.close()
    return config


def send_and_start(config: Path) -> list[str]:
    """The error line of `newsletter send`, then of `daemon` (in a child: were the config
    accepted, it would run until stopped)."""
    args = ["--config", str(config), "newsletter", "send", "--week", W05]
    send = one_line(CliRunner().invoke(main, args))
    daemon = subprocess.run(
        [sys.executable, "-m", "feeder", "--config", str(config), "daemon"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )
    assert daemon.returncode == 1 and daemon.stderr.count("\n") == 1, daemon.stderr
    return [send, daemon.stderr.rstrip("\n")]


def test_sending_with_a_username_and_no_password_is_one_line(login_config: Path) -> None:
    expected = f"Error: smtp.username is set but ${PASSWORD_ENV} is empty; export the password"
    assert send_and_start(login_config) == [expected, expected]


def test_a_password_is_never_sent_unencrypted(
    login_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-pw")
    text = login_config.read_text(encoding="utf-8").replace('"starttls"', '"none"')
    login_config.write_text(text, encoding="utf-8")
    for line in send_and_start(login_config):
        assert "refusing to send the SMTP password unencrypted" in line
        assert "s3cret-pw" not in line


# Values that passed the type check but would overflow deep inside a library, or reach an
# href: each is one line naming the key.
OUT_OF_RANGE = {
    "max_entries beyond 64 bits": (
        "[output]\nmax_entries = 9223372036854775807\n",
        "output.max_entries must be between 1 and 10000",
    ),
    "max_entries zero": ("[output]\nmax_entries = 0\n", "output.max_entries must be between"),
    "poll_seconds as a float": ("[schedule]\npoll_seconds = 1e20\n", "schedule.poll_seconds"),
    "poll_seconds huge": (
        "[schedule]\npoll_seconds = 100000000000\n",
        "schedule.poll_seconds must be between 1 and 604800",
    ),
    "timeout infinite": ("[smtp]\ntimeout = inf\n", "smtp.timeout must be between"),
    "timeout nan": ("[smtp]\ntimeout = nan\n", "smtp.timeout must be between"),
    "timeout beyond a float": (  # was a traceback: OverflowError from float()
        f"[smtp]\ntimeout = 1{'0' * 400}\n",
        "smtp.timeout must be between 0.1 and 3600, not inf",
    ),
    "rate zero": ("[smtp]\nmax_per_second = 0\n", "smtp.max_per_second must be between"),
    "port": ("[smtp]\nport = 70000\n", "smtp.port must be between 1 and 65535"),
    "years": ("[corpus]\nmin_year = 2050\nmax_year = 2000\n", "corpus.min_year must not be"),
    "year": ("[corpus]\nmax_year = 99999\n", "corpus.max_year must be between 1900 and 2999"),
    "javascript unsubscribe": (
        '[newsletter]\nunsubscribe = "javascript:alert(1)"\n',
        "newsletter.unsubscribe must be a https or http or mailto URL",
    ),
    "data unsubscribe": (
        '[newsletter]\nunsubscribe = "data:text/html,x"\n',
        "newsletter.unsubscribe must be",
    ),
    "mailto with no address": ('[newsletter]\nunsubscribe = "mailto:"\n', "newsletter.unsubscribe"),
    "base_url ftp": ('[output]\nbase_url = "ftp://example.org/"\n', "output.base_url must be"),
    "base_url no host": ('[output]\nbase_url = "https:///feeds/"\n', "output.base_url must be"),
}


@pytest.mark.parametrize("mistake", OUT_OF_RANGE)
def test_every_number_has_a_range_and_every_url_a_scheme(tmp_path: Path, mistake: str) -> None:
    text, says = OUT_OF_RANGE[mistake]
    config = tmp_path / "feeder.toml"
    config.write_text(text, encoding="utf-8")
    line = one_line(CliRunner().invoke(main, ["--config", str(config), "poll"]))
    assert line.startswith(f"Error: {config}: ") and says in line, line


@pytest.mark.parametrize(
    "text",
    [
        '[newsletter]\nunsubscribe = "https://example.org/unsubscribe"\n',
        '[newsletter]\nunsubscribe = "mailto:list@example.org?subject=unsubscribe"\n',
        "[output]\nmax_entries = 10000\n[schedule]\npoll_seconds = 604800\n",
        "[smtp]\ntimeout = 0.5\nmax_per_second = 0.01\n",
        "[corpus]\nmin_year = 2000\nmax_year = 2000\n",
    ],
)
def test_values_at_the_edges_of_their_ranges_are_accepted(tmp_path: Path, text: str) -> None:
    config = tmp_path / "feeder.toml"
    config.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "status"])
    assert result.exit_code == 0, result.output
