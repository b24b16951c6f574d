"""The config file: discovery, defaults, relative paths, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeder.config import find_config, load_config
from feeder.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeder.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[corpus]\npath = "in/c.json"\n'))
    assert config.corpus.path == tmp_path / "in" / "c.json"
    assert config.state.path == tmp_path / "data" / "state.db"
    assert config.output.dir == tmp_path / "out"
    assert config.output.max_entries == 50
    assert config.schedule.timezone == "Asia/Shanghai"
    assert config.schedule.poll_seconds == 300
    assert config.schedule.newsletter_cron == "0 8 * * mon"
    assert config.smtp.port == 25 and config.smtp.security == "none"


def test_bundled_config_is_valid_and_equal_to_the_defaults() -> None:
    root = Path(__file__).resolve().parent.parent
    bundled = load_config(root / "feeder.toml")
    default = load_config(None)
    assert bundled.corpus == default.corpus
    assert bundled.output == default.output
    assert bundled.schedule == default.schedule
    assert bundled.newsletter == default.newsletter
    assert bundled.smtp == default.smtp


def test_base_url_gets_a_trailing_slash(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[output]\nbase_url = "https://x.org/feeds"\n'))
    assert config.output.base_url == "https://x.org/feeds/"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[corpsu]\npath = 'x'\n", "unknown section [corpsu]"),
        ("[corpus]\npaht = 'x'\n", "unknown key corpus.paht"),
        ("[output]\nmax_entries = 'ten'\n", "output.max_entries must be a whole number"),
        ("[output]\nmax_entries = 0\n", "output.max_entries"),
        ("[schedule]\ntimezone = 'Mars/Olympus'\n", "schedule.timezone"),
        ("[schedule]\nnewsletter_cron = '0 8 * *'\n", "schedule.newsletter_cron"),
        ("[schedule]\nnewsletter_cron = '0 25 * * mon'\n", "schedule.newsletter_cron"),
        ("[smtp]\nsecurity = 'tls'\n", "smtp.security"),
        ("[smtp]\nport = true\n", "smtp.port"),
        ("[output]\nbase_url = 'ftp://x'\n", "output.base_url"),
        ("[corpus\npath = 'x'\n", "invalid TOML"),
    ],
)
def test_errors_name_the_problem(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(path) in str(raised.value)
    assert named in str(raised.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "none.toml")


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FEEDER_CONFIG", raising=False)
    assert find_config(None) is None
    write(tmp_path, "")
    assert find_config(None) == Path("feeder.toml")
    monkeypatch.setenv("FEEDER_CONFIG", "/etc/env.toml")
    assert find_config(None) == Path("/etc/env.toml")
    assert find_config("given.toml") == Path("given.toml")
