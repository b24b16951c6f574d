"""The config file: discovery, defaults, relative paths, and errors that name the key; each
key declared once, and the files and the page written from the declarations."""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from feeder import environment
from feeder.config import find_config, load_config, parse_config
from feeder.config.keys import Key
from feeder.config.reference import (
    copied_keys,
    init_file,
    markdown,
    repository_file,
    tables,
)
from feeder.errors import ConfigError
from tests.conftest import ROOT


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
    bundled = load_config(ROOT / "feeder.toml")
    assert replace(bundled, file=None) == parse_config("", ROOT)


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
        (f"[smtp]\nport = 1{'0' * 5000}\n", "invalid TOML"),  # was a traceback: int()'s limit
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


# -- Each key declared once, and written out from its declaration ---------------------------

REGENERATE = "stale: run `make docs` and review the diff"
ALL_KEYS = [key for _, _, keys in tables() for key in keys]
SECTION_KEYS = [key for key in ALL_KEYS if key.section != "feeds"]


def test_the_reference_page_is_what_the_declarations_write() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == markdown(), REGENERATE


def test_the_repository_config_is_what_the_declarations_write() -> None:
    assert (ROOT / "feeder.toml").read_text(encoding="utf-8") == repository_file(), REGENERATE


def test_the_reference_page_names_every_key_and_variable() -> None:
    page = markdown()
    for key in SECTION_KEYS:
        assert f"| `{key.dotted}` |" in page
    for key in ALL_KEYS:
        assert key.setting.doc.replace("|", "\\|") in page
    for variable in environment.VARIABLES:
        assert f"| `{variable.name}` | {variable.doc} |" in page
    assert "`output.websub_hub`" in page and "`state.url`" in page  # the two that had drifted


@pytest.mark.parametrize("written", [init_file, repository_file])
def test_the_written_files_spell_out_every_key(written: Any) -> None:
    text = written()
    raw = tomllib.loads(text)
    for key in SECTION_KEYS:
        if key.setting.init and written is repository_file:  # left to the built-in file
            assert f"\n# {key.name} = " in text.split(f"[{key.section}]")[1], key.dotted
        else:
            assert key.name in raw[key.section], key.dotted
    # The custom feeds are an example, commented out; uncommented, it is a valid feed.
    example = text[text.index("# [[feeds]]\n") :]
    assert [line[:2] for line in example.splitlines()] == ["# "] * 6
    (feed,) = parse_config(re.sub(r"(?m)^# ", "", example), ROOT).feeds
    assert [feed.name, feed.title, feed.tags] == ["ai", "人工智能", ("research", "industry")]
    assert feed.include is not None and feed.exclude is not None


def test_the_init_file_loads_to_the_defaults_it_claims(tmp_path: Path) -> None:
    file = tmp_path / "feeder.toml"
    file.write_text(init_file(), encoding="utf-8")
    config = load_config(file)
    defaults = parse_config("", tmp_path)
    for key in SECTION_KEYS:
        value = getattr(getattr(config, key.section), key.attr)
        if key.setting.init:  # it names the copy written beside it
            assert value == tmp_path / key.setting.init, key.dotted
        else:
            assert value == getattr(getattr(defaults, key.section), key.attr), key.dotted
    assert [key.dotted for key in copied_keys()] == ["taxonomy.path", "newsletter.templates"]
    assert "except taxonomy.path and newsletter.templates:" in " ".join(init_file().split())


def test_every_key_and_section_has_a_one_line_doc() -> None:
    assert len(SECTION_KEYS) == 30 and len(ALL_KEYS) == 35  # every key, and the five of a feed
    for key in ALL_KEYS:
        doc = key.setting.doc
        assert doc and "\n" not in doc and doc == doc.strip(), key.dotted
    for name, cls, _ in tables():
        # dataclass() writes a docstring of its own ("CorpusSection(path: ...)") if none is given.
        assert cls.__doc__ and not cls.__doc__.startswith(cls.__name__), name


# -- Each rule declared with a key is applied to it -----------------------------------------


def key_text(key: Key, value: str) -> str:
    return f"[{key.section}]\n{key.name} = {value}\n"


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, ROOT)
    return str(raised.value)


@pytest.mark.parametrize("key", SECTION_KEYS, ids=lambda key: key.dotted)
def test_a_value_of_the_wrong_type_is_refused_naming_the_key(key: Key) -> None:
    assert refused(key_text(key, "[1]")) == f"{key.dotted} must be {key.kind.must}, not [1]"


RANGED = [key for key in SECTION_KEYS if key.setting.between]


@pytest.mark.parametrize("key", RANGED, ids=lambda key: key.dotted)
def test_every_number_keeps_to_its_range(key: Key) -> None:
    assert key.setting.between is not None
    least, most = key.setting.between
    step = 1 if key.kind.name == "whole number" else least / 2
    says = f"{key.dotted} must be between {least:g} and {most:g}"
    assert refused(key_text(key, repr(least - step))).startswith(says)
    assert refused(key_text(key, repr(most + step))).startswith(says)
    if key.dotted != "corpus.min_year":  # at its upper end it would be after max_year
        parse_config(key_text(key, repr(most)), ROOT)
    if key.dotted != "corpus.max_year":
        parse_config(key_text(key, repr(least)), ROOT)


def test_every_number_has_a_range() -> None:
    numbers = [key for key in SECTION_KEYS if key.kind.name in ("whole number", "number")]
    assert numbers == RANGED and len(RANGED) == 10


@pytest.mark.parametrize(
    "key", [key for key in SECTION_KEYS if key.setting.choices], ids=lambda key: key.dotted
)
def test_a_key_with_choices_takes_each_and_nothing_else(key: Key) -> None:
    for choice in key.setting.choices:
        parse_config(key_text(key, f'"{choice}"'), ROOT)
    choices = ", ".join(key.setting.choices)
    assert refused(key_text(key, '"tls"')) == f"{key.dotted} must be one of {choices}, not 'tls'"


URLS = [key for key in SECTION_KEYS if key.setting.schemes]


@pytest.mark.parametrize("key", URLS, ids=lambda key: key.dotted)
def test_a_url_key_takes_its_schemes_only(key: Key) -> None:
    for scheme in key.setting.schemes:
        url = "mailto:list@example.org" if scheme == "mailto" else f"{scheme}://example.org/"
        parse_config(key_text(key, f'"{url}"'), ROOT)
    says = f"{key.dotted} must be a {' or '.join(key.setting.schemes)} URL"
    for bad in ("ftp://example.org/", "javascript:alert(1)", "https:///no-host"):
        assert refused(key_text(key, f'"{bad}"')).startswith(says)
    if key.default:  # a URL it needs; empty turns off what the others do
        assert refused(key_text(key, '""')).startswith(says)
    else:
        parse_config(key_text(key, '""'), ROOT)
    assert [key.dotted for key in URLS] == [
        "output.base_url",
        "output.websub_hub",
        "newsletter.unsubscribe",
    ]


# -- Environment variables, read in one place -----------------------------------------------

# Still read where they were, until the modules being moved now are rewired to
# feeder.environment (FEEDER_SECRET in the facade, FEEDER_SERVE_CONFIG in the web server).


def test_only_feeder_environment_reads_the_environment() -> None:
    readers = set()
    for path in sorted((ROOT / "feeder").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
            if name in ("environ", "getenv", "putenv", "environb"):
                readers.add(path.relative_to(ROOT).as_posix())
    assert readers == {"feeder/environment.py"}


def test_an_environment_variable_is_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [variable.name for variable in environment.VARIABLES]
    assert len(set(names)) == len(names) == 5 and all(n.startswith("FEEDER_") for n in names)
    for variable in environment.VARIABLES:
        monkeypatch.delenv(variable.name, raising=False)
        assert variable.read() is None
        monkeypatch.setenv(variable.name, "")
        assert variable.read() is None  # empty is unset, for every one of them
        variable.export("set")
        assert variable.read() == "set"
