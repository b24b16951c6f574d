"""feeder as an installed tool: `feeder init` starts a folder without overwriting anything,
and a wheel installed into a fresh venv runs init, poll and render outside the repository,
and without the postgresql extra names it when a PostgreSQL state is configured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from feeder.cli import main
from feeder.config import DEFAULT_TAXONOMY, DEFAULT_TEMPLATES, Config, load_config, parse_config
from tests.conftest import ROOT, SEED_CORPUS
from tests.test_cli_errors import one_line

FIRST_POLL = "54 new, 0 updated, 0 unchanged, 0 skipped"
LATEST_WEEK = "2026-W06"  # the seed corpus's newest week


def packaged_files() -> dict[str, bytes]:
    """What init copies, by path relative to the folder: the taxonomy and every template."""
    files = {"taxonomy.toml": DEFAULT_TAXONOMY.read_bytes()}
    for path in DEFAULT_TEMPLATES.rglob("*.j2"):
        files[f"templates/{path.relative_to(DEFAULT_TEMPLATES).as_posix()}"] = path.read_bytes()
    return files


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: its bytes and mtime (ns)."""
    return {
        path.relative_to(folder).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def init(*args: str) -> list[str]:
    result = CliRunner().invoke(main, ["init", *args])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout.splitlines()


# -- feeder init ---------------------------------------------------------------------------


def test_init_writes_a_config_and_copies_of_the_taxonomy_and_templates(tmp_path: Path) -> None:
    site = tmp_path / "new" / "site"  # missing, parents too

    lines = init(str(site))

    copies = packaged_files()
    assert {"templates/index.html.j2", "templates/partials/words.j2"} <= copies.keys()
    assert lines[:-1] == [f"wrote {site / name}" for name in ["feeder.toml", *sorted(copies)]]
    assert lines[-1].startswith("next: ")
    assert str(site / "data" / "corpus.json") in lines[-1]
    assert lines[-1].endswith(f"then run `feeder poll` in {site}")
    written = {name: data for name, (data, _) in snapshot(site).items()}
    assert written.pop("feeder.toml").startswith(b"# feeder's configuration")
    assert written == copies


def test_the_written_config_loads_names_the_copies_and_spells_out_every_default(
    tmp_path: Path,
) -> None:
    init(str(tmp_path))
    file = tmp_path / "feeder.toml"

    config = load_config(file)

    assert config.taxonomy.path == tmp_path.resolve() / "taxonomy.toml"
    assert config.newsletter.templates == tmp_path.resolve() / "templates"
    # Everything else is the built-in default, so the comments' promise holds.
    defaults = parse_config("", tmp_path)
    assert config.corpus.path == tmp_path.resolve() / "data" / "corpus.json"
    assert (
        replace(
            config,
            file=None,
            taxonomy=defaults.taxonomy,
            newsletter=replace(config.newsletter, templates=defaults.newsletter.templates),
        )
        == defaults
    )
    # Every section and key is spelled out, not left to the defaults; the custom feeds,
    # none by default, are a commented-out example.
    raw = tomllib.loads(file.read_text(encoding="utf-8"))
    skip = ("file", "feeds")
    sections = {f.name: getattr(config, f.name) for f in fields(Config) if f.name not in skip}
    assert raw.keys() == sections.keys()
    for name, section in sections.items():
        assert raw[name].keys() == {f.name.rstrip("_") for f in fields(section)}, name


def test_a_poll_uses_the_copies(tmp_path: Path) -> None:
    init(str(tmp_path))
    (tmp_path / "data").mkdir()
    shutil.copy(SEED_CORPUS, tmp_path / "data" / "corpus.json")
    index = tmp_path / "templates" / "index.html.j2"
    index.write_text(
        index.read_text(encoding="utf-8").replace("<h1>{{ title }}</h1>", "<h1>我的站点</h1>"),
        encoding="utf-8",
    )

    result = CliRunner().invoke(main, ["--config", str(tmp_path / "feeder.toml"), "poll"])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{FIRST_POLL}\n"
    assert "<h1>我的站点</h1>" in (tmp_path / "out" / "index.html").read_text(encoding="utf-8")


def test_init_again_refuses_and_changes_nothing(tmp_path: Path) -> None:
    init(str(tmp_path))
    config = tmp_path / "feeder.toml"
    config.write_text("[corpus]\npath = 'mine.json'\n", encoding="utf-8")  # the operator's edit
    # Old mtimes, so that a rewrite with the same bytes would still show.
    for path in tmp_path.rglob("*"):
        os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = snapshot(tmp_path)

    result = CliRunner().invoke(main, ["init", str(tmp_path)])

    assert one_line(result) == f"Error: {config} exists; init writes only new files"
    assert snapshot(tmp_path) == before


def test_one_existing_file_of_the_set_stops_the_whole_set(tmp_path: Path) -> None:
    mine = tmp_path / "templates" / "partials" / "words.j2"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine", encoding="utf-8")

    result = CliRunner().invoke(main, ["init", str(tmp_path)])

    assert one_line(result) == f"Error: {mine} exists; init writes only new files"
    assert snapshot(tmp_path).keys() == {"templates/partials/words.j2"}
    assert mine.read_text(encoding="utf-8") == "mine"


def test_a_file_where_a_folder_must_go_stops_the_whole_set(tmp_path: Path) -> None:
    (tmp_path / "templates").write_text("not a folder", encoding="utf-8")

    result = CliRunner().invoke(main, ["init", str(tmp_path)])

    assert one_line(result) == f"Error: {tmp_path / 'templates'} exists; init writes only new files"
    assert snapshot(tmp_path).keys() == {"templates"}


def test_init_defaults_to_the_current_folder_and_needs_no_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEEDER_CONFIG", str(tmp_path / "missing.toml"))

    lines = init()

    assert lines[0] == "wrote feeder.toml"
    assert lines[-1].startswith("next: put your corpus at data/corpus.json")
    assert lines[-1].endswith("then run `feeder poll`")
    assert load_config(tmp_path / "feeder.toml").taxonomy.path == tmp_path / "taxonomy.toml"


# -- The wheel, installed into a fresh venv --------------------------------------------------


def clean_env() -> dict[str, str]:
    """The environment without this session's feeder settings or paths."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FEEDER_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }


def run(args: Sequence[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a process that must succeed, without this session's feeder settings or paths."""
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def build_wheel(work: Path) -> Path:
    # From a clean copy of the sources, not the checkout: setuptools builds in ./build and
    # never empties build/lib, so a module deleted since the last build would ship; and the
    # build would write build/ and *.egg-info into a tree people are working in.
    source = work / "source"
    shutil.copytree(
        ROOT / "feeder", source / "feeder", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    out = work / "wheel"
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)]
    # Without build isolation it takes a second, but only if this venv has the backend that
    # pyproject requires; --check-build-dependencies makes pip say so at once instead of
    # failing half-way. Else pip fetches the backend into an isolated environment.
    fast = subprocess.run(
        [*pip, "--no-build-isolation", "--check-build-dependencies"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if fast.returncode != 0:
        run(pip)
    (wheel,) = out.glob("feeder-*.whl")
    return wheel


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_venv_runs_in_an_empty_folder(tmp_path: Path) -> None:
    started = time.monotonic()
    wheel = build_wheel(tmp_path / "build")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel])
    feeder = venv / "bin" / "feeder"
    installed = time.monotonic()

    # A folder that is not the repository and holds nothing yet.
    site = tmp_path / "site"
    site.mkdir()
    where = run([venv / "bin" / "python", "-c", "import feeder; print(feeder.__file__)"], site)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not the checkout

    init = run([feeder, "init"], site).stdout.splitlines()
    assert init[0] == "wrote feeder.toml" and init[-1].startswith("next: "), init
    assert (site / "taxonomy.toml").is_file() and (site / "templates" / "partials").is_dir()
    (site / "data").mkdir()
    shutil.copy(SEED_CORPUS, site / "data" / "corpus.json")
    assert run([feeder, "poll"], site).stdout == f"{FIRST_POLL}\n"
    rendered = run([feeder, "newsletter", "render", "--latest"], site).stdout.splitlines()
    previews = site.resolve() / "out" / "newsletter"
    assert rendered == [f"wrote {previews / LATEST_WEEK}.{ext}" for ext in ("html", "txt", "eml")]
    assert all((previews / f"{LATEST_WEEK}.{ext}").is_file() for ext in ("html", "txt", "eml"))

    # A folder with nothing but a config naming a corpus kept elsewhere: the taxonomy and
    # the templates can only come from inside the installed package.
    corpus = tmp_path / "elsewhere" / "corpus.json"
    corpus.parent.mkdir()
    shutil.copy(SEED_CORPUS, corpus)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "feeder.toml").write_text(f"[corpus]\npath = {json.dumps(str(corpus))}\n", "utf-8")
    assert run([feeder, "poll"], bare).stdout == f"{FIRST_POLL}\n"
    assert "<h1>" in (bare / "out" / "index.html").read_text(encoding="utf-8")
    assert sorted(path.name for path in bare.iterdir()) == ["data", "feeder.toml", "out"]

    # Without the postgresql extra there is no driver, and a PostgreSQL state says which
    # extra to install, in one line.
    url = "postgresql://feeder@127.0.0.1:1/feeder"
    (site / "pg.toml").write_text(f'[state]\nurl = "{url}"\n', "utf-8")
    no_driver = subprocess.run(
        [venv / "bin" / "python", "-c", "import psycopg"],
        env=clean_env(),
        capture_output=True,
        timeout=60,
    )
    assert no_driver.returncode == 1 and b"No module named 'psycopg'" in no_driver.stderr
    status = subprocess.run(
        [feeder, "--config", "pg.toml", "status"],
        cwd=site,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    says = "PostgreSQL's driver is not installed: pip install 'feeder[postgresql]'"
    assert (status.returncode, status.stderr) == (1, f"Error: {url}: {says}\n")

    # Shown with -rP or on failure: how long the install takes on this machine.
    print(
        f"wheel built and installed in {installed - started:.1f} s, "
        f"whole test {time.monotonic() - started:.1f} s"
    )
