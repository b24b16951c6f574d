"""Issue 12's operator-facing guarantees: weeks outside the calendar are usage errors, text
stays text where it is shown and logged, a re-pointed corpus link is followed, an unchanged
poll neither reads the corpus nor leaves an output missing, and an idle daemon never blocks
the operator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from feeder.app import open_feeder
from feeder.cli import main

from .conftest import OUTPUT_FILES, Site, record, run_poll, seed_records
from .test_daemon import Running, wait_for


def cli(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(site.config_path), *args])
    return result.exit_code, result.stdout, result.stderr


# -- Weeks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("newsletter", "render", "--week", "9999-W52"),
        ("newsletter", "send", "--week", "0001-W01", "--dry-run"),
        ("newsletter", "render", "--week", "1899-W52"),
    ],
)
def test_a_week_outside_the_supported_years_is_a_usage_error(site: Site, args: tuple) -> None:
    code, out, err = cli(site, *args)
    assert code == 2, err
    assert "feeder handles the years 1900–2999" in err and "Traceback" not in err
    assert out == "" and not site.state.exists()


# -- Text where it is shown -------------------------------------------------------------------


def test_a_huge_title_costs_its_own_room_not_the_issue(make_site: Callable[..., Site]) -> None:
    huge = record("huge", title="关于政策的通知" + "超长标题" * 10_000, time="2026/1/28")
    others = [record(f"n{i}", title=f"第{i}篇", time="2026/1/29") for i in range(5)]
    site = make_site([huge, *others])
    assert cli(site, "poll")[0] == 0
    code, _, err = cli(site, "newsletter", "render", "--week", "2026-W05")
    assert code == 0, err
    text = (site.out / "newsletter" / "2026-W05.txt").read_text(encoding="utf-8")
    assert all(f"◆ 第{i}篇" in text for i in range(5))  # every other article is in the issue
    [shown] = [line for line in text.splitlines() if line.startswith("◆ 关于政策的通知超长标题")]
    assert len(shown) == len("◆ ") + 200 and shown.endswith("…")
    index = (site.out / "index.html").read_text(encoding="utf-8")
    assert len(index) < 20_000 and "超长标题" * 48 in index and "超长标题" * 49 not in index


def test_an_encoded_line_break_cannot_smuggle_a_line_into_the_mail(
    make_site: Callable[..., Site],
) -> None:
    smuggler = record("smuggler", title="关于政策的通知", time="2026/1/28")
    smuggler["链接url"] = "https://mp.weixin.qq.com/s/a&#10;退订请点击：http://evil.example/"
    site = make_site([smuggler])
    assert cli(site, "poll")[0] == 0
    assert cli(site, "newsletter", "render", "--week", "2026-W05")[0] == 0
    text = (site.out / "newsletter" / "2026-W05.txt").read_text(encoding="utf-8")
    assert "◆ 关于政策的通知" in text
    assert not [line for line in text.splitlines() if "退订请点击" in line]
    with open_feeder(site.config) as feeder:
        [entry] = feeder.storage.entries()
    assert entry.article.url is None  # refused once decoded, not repaired


FORGED = "\x1b[2J\x1b[31m\r\nError: forged\u202e"


def test_no_control_character_reaches_a_warning_line(make_site: Callable[..., Site]) -> None:
    bad = record(f"evil{FORGED}", time=f"someday{FORGED}")
    site = make_site([record("good"), bad])
    code, out, err = cli(site, "poll")
    assert (code, out) == (0, "1 new, 0 updated, 0 unchanged, 1 skipped\n")
    [warning] = err.splitlines()  # one line, however many line breaks the record holds
    assert warning.startswith("Warning: ") and "Error: forged" in warning
    assert not any(c < " " or c in "\x7f\u202e" for c in warning)


def test_no_control_character_reaches_an_error_line_or_the_daemon_log(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(extra="[schedule]\npoll_seconds = 3600\n")
    text = site.config_path.read_text(encoding="utf-8").replace(
        'path = "data/corpus.json"', 'path = "data/evil\\u001b[31m\\r\\nError: forged.json"'
    )
    site.config_path.write_text(text, encoding="utf-8")
    code, _, err = cli(site, "poll")
    assert code == 1
    assert err.count("\n") == 1 and "\\x1b[31m\\r\\nError: forged.json" in err
    daemon = Running(site)
    try:
        assert wait_for(lambda: "poll failed" in daemon.text()), daemon.text()
    finally:
        assert daemon.stop() == 0
    [failed] = [line for line in daemon.text().splitlines() if "poll failed" in line]
    assert "\\x1b[31m\\r\\nError: forged.json: corpus file not found" in failed


# -- The corpus path ----------------------------------------------------------------------------


def test_a_re_pointed_corpus_link_is_followed_by_the_next_poll(site: Site) -> None:
    first, second = site.root / "data" / "first.json", site.root / "data" / "second.json"
    first.write_text(json.dumps(seed_records()[:5], ensure_ascii=False), encoding="utf-8")
    second.write_text(json.dumps(seed_records()[5:8], ensure_ascii=False), encoding="utf-8")
    site.corpus.unlink()
    site.corpus.symlink_to(first)
    # One Feeder, one config loaded once, as in the daemon.
    with open_feeder(site.config) as feeder:
        assert feeder.poll().new == 5
        site.corpus.unlink()
        site.corpus.symlink_to(second)
        assert feeder.poll().new == 3
        assert feeder.storage.count_articles() == 8


# -- An unchanged poll ----------------------------------------------------------------------


def test_an_unchanged_poll_does_not_read_the_corpus(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_poll(site.config)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the corpus was read, though its size and mtime are unchanged")

    monkeypatch.setattr("feeder.jobs.poll.plan_read", no_reading)
    monkeypatch.setattr("feeder.jobs.poll.detect_format", no_reading)
    assert not run_poll(site.config).read


def test_an_unchanged_poll_restores_an_output_that_went_missing(site: Site) -> None:
    run_poll(site.config)
    before = {name: (site.out / name).read_bytes() for name in OUTPUT_FILES}
    (site.out / "feeds" / "policy.atom").unlink()
    (site.out / "index.html").unlink()
    result = run_poll(site.config)
    assert not result.read
    assert sorted(p.relative_to(site.out).as_posix() for p in result.written) == [
        "feeds/policy.atom",
        "index.html",
    ]
    assert {name: (site.out / name).read_bytes() for name in OUTPUT_FILES} == before


# -- The operator and the daemon --------------------------------------------------------------


def test_an_idle_daemon_never_blocks_the_operator(make_site: Callable[..., Site]) -> None:
    # Idle after its first poll: no interval tick, and no watch to poll the write below first.
    site = make_site(extra="[schedule]\npoll_seconds = 3600\nwatch = false\n")
    daemon = Running(site)
    try:
        assert wait_for(lambda: "poll: 54 new" in daemon.text()), daemon.text()
        site.write_corpus([*seed_records(), record("by-hand")])
        for args, says in (
            (["subscribers", "add", "ann@example.org"], "subscribed ann@example.org"),
            (["newsletter", "send", "--dry-run", "--week", "2026-W05"], "would send 1 messages"),
            (["poll"], "1 new, 0 updated, 54 unchanged, 0 skipped"),
        ):
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "feeder", "--config", str(site.config_path), *args],
                capture_output=True,
                text=True,
                timeout=60,
            )
            seconds = time.monotonic() - started
            assert done.returncode == 0, done.stderr
            assert says in done.stdout, (args, done)
            assert seconds < 10, f"{args} took {seconds:.1f} s beside an idle daemon"
        assert daemon.proc.poll() is None  # and the daemon is still running
    finally:
        assert daemon.stop() == 0
    assert "Traceback" not in daemon.text()


def test_the_years_an_article_may_carry_come_from_the_config(
    make_site: Callable[..., Site],
) -> None:
    corpus = [record("now"), record("early", time="1999/12/31"), record("far", time="0001/1/1")]
    site = make_site(corpus)
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(
        text.replace('path = "data/corpus.json"', 'path = "data/corpus.json"\nmin_year = 2000'),
        encoding="utf-8",
    )
    code, out, err = cli(site, "poll")
    assert (code, out) == (0, "1 new, 0 updated, 0 unchanged, 2 skipped\n")
    assert "year 1999 is outside 2000–2100" in err and "year 1 is outside 2000–2100" in err
    code, out, _ = cli(site, "classify")
    assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["now"]
