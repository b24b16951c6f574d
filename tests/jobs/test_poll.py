"""The poll pipeline and its CLI: counts, idempotence, edits, bad input that loses nothing,
a re-pointed corpus link, and an unchanged poll that reads nothing but restores a lost output."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from feeder.app import open_feeder
from feeder.cli import main
from feeder.errors import CorpusError
from feeder.ingest.plan import corpus_unchanged, decide
from feeder.jobs.poll import POLL_KEY
from feeder.model import Change, PollRecord
from feeder.storage import open_storage
from tests.conftest import OUTPUT_FILES, Site, dump_tables, record, run_poll, seed_records


@pytest.fixture
def backend(both_backends: str) -> str:
    """Every test here that opens a state runs on SQLite and on PostgreSQL."""
    return both_backends


NOW = datetime(2026, 2, 6, 8, 0, tzinfo=UTC)


def poll(site: Site, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(site.config_path), "poll", *args])
    return result.exit_code, result.stdout, result.stderr


def dump(site: Site) -> list[tuple[object, ...]]:
    """Every row of every table, to compare whole states; but the note of the last poll
    attempt, which a failed poll writes on purpose (for /metrics), after rolling back."""
    rows = [(t, *row) for t, table in dump_tables(site.state).items() for row in table]
    return sorted((r for r in rows if r[:2] != ("meta", ("key", POLL_KEY))), key=repr)


def outputs(site: Site) -> dict[str, bytes]:
    files = (p for p in site.out.rglob("*") if p.is_file())
    return {str(p.relative_to(site.out)): p.read_bytes() for p in files}


def bump_mtime(site: Site) -> None:
    stat = site.corpus.stat()
    os.utime(site.corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_decisions() -> None:
    assert decide(None, "h") is Change.NEW
    assert decide("h", "h") is Change.UNCHANGED
    assert decide("h", "g") is Change.UPDATED
    last = PollRecord(NOW, "/c.json", 10, 99, 0, 0, 0, 0)
    assert corpus_unchanged(last, "/c.json", 10, 99)  # type: ignore[arg-type]
    assert not corpus_unchanged(last, "/c.json", 11, 99)  # type: ignore[arg-type]
    assert not corpus_unchanged(None, "/c.json", 10, 99)  # type: ignore[arg-type]


def test_first_poll_ingests_the_seed_corpus_then_says_unchanged(site: Site) -> None:
    code, out, err = poll(site)
    assert code == 0, err
    assert out == "54 new, 0 updated, 0 unchanged, 0 skipped\n"
    with open_storage(site.state, site.config.tz) as store:
        assert store.count_articles() == 54
        assert sum(store.tag_counts().values()) >= 54
    code, out, _ = poll(site)
    assert (code, out) == (0, "unchanged\n")


def test_polling_twice_leaves_state_and_outputs_identical(site: Site) -> None:
    run_poll(site.config, now=NOW)
    state, files = dump(site), outputs(site)
    site.write_corpus(seed_records()[::-1])  # other bytes, the same articles
    result = run_poll(site.config, now=NOW)
    assert (result.read, result.new, result.updated, result.unchanged) == (True, 0, 0, 54)
    assert result.written == ()
    assert outputs(site) == files
    # Only the poll log differs: it records the new size, mtime and checksum.
    assert [r for r in dump(site) if r[0] != "polls"] == [r for r in state if r[0] != "polls"]


def test_the_same_bytes_with_a_new_mtime_are_not_parsed_again(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_poll(site.config, now=NOW)
    state = dump(site)
    bump_mtime(site)
    monkeypatch.setattr("feeder.jobs.poll.ingest", None)  # reading it would now fail loudly
    assert not run_poll(site.config, now=NOW).read
    polls = [r for r in dump(site) if r[0] == "polls"]
    assert [r for r in state if r[0] == "polls"] != polls  # the new mtime is remembered
    assert [r for r in dump(site) if r[0] != "polls"] == [r for r in state if r[0] != "polls"]
    assert poll(site)[1] == "unchanged\n"  # and the next poll stops at the mtime


def test_an_edit_counts_as_updated_and_an_addition_as_new(site: Site) -> None:
    run_poll(site.config, now=NOW)
    records = seed_records()
    records[0]["finalContent"] += "\r补充一段。"
    records.append(record("new-1", title="新文章"))
    site.write_corpus(records)
    code, out, err = poll(site)
    assert code == 0, err
    assert out == "1 new, 1 updated, 53 unchanged, 0 skipped\n"
    with open_storage(site.state, site.config.tz) as store:
        by_id = {e.article.id: e for e in store.entries()}
    edited = by_id[records[0]["文章标识符aid"]]
    assert edited.article.content.endswith("补充一段。")
    assert edited.updated > edited.article.published


def test_force_reprocesses_an_unchanged_corpus(site: Site) -> None:
    run_poll(site.config, now=NOW)
    code, out, _ = poll(site, "--force")
    assert (code, out) == (0, "0 new, 0 updated, 54 unchanged, 0 skipped\n")


def test_bad_records_are_skipped_and_the_rest_ingested(make_site: Callable[..., Site]) -> None:
    bad = [{"标题title": "no id"}, record("b", time="someday")]
    site = make_site([record("a"), *bad, record("c")])
    code, out, err = poll(site)
    assert code == 0
    assert out == "2 new, 0 updated, 0 unchanged, 2 skipped\n"
    assert "record 2 skipped" in err and "record 3 (id 'b') skipped" in err
    assert "Traceback" not in err


def test_duplicate_ids_last_wins_with_a_warning(make_site: Callable[..., Site]) -> None:
    site = make_site([record("a", title="第一版"), record("a", title="第二版")])
    code, out, err = poll(site)
    assert (code, out) == (0, "1 new, 0 updated, 0 unchanged, 0 skipped\n")
    assert "'a' appears more than once" in err
    with open_storage(site.state, site.config.tz) as store:
        assert [e.article.title for e in store.entries()] == ["第二版"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"文章标识符aid": "x", "标题', "truncated"),
        ("not json at all", "not a JSON array or JSON Lines"),
        ('{\n "a": [1, 2]\n}\n', "single object"),
    ],
)
def test_a_broken_corpus_changes_nothing(site: Site, content: str, message: str) -> None:
    run_poll(site.config, now=NOW)
    state, files = dump(site), outputs(site)
    site.corpus.write_text(content, encoding="utf-8")
    code, out, err = poll(site)
    assert code == 1
    assert out == ""
    assert err.startswith(f"Error: {site.corpus}: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert dump(site) == state
    assert outputs(site) == files
    # Once the file is whole again, the next poll goes through.
    site.write_corpus([*seed_records(), record("late")])
    assert poll(site)[1] == "1 new, 0 updated, 54 unchanged, 0 skipped\n"


def test_missing_corpus_is_one_error_line(site: Site) -> None:
    site.corpus.unlink()
    code, _out, err = poll(site)
    assert code == 1 and err == f"Error: {site.corpus}: corpus file not found\n"
    with pytest.raises(CorpusError):
        run_poll(site.config)


def test_articles_that_disappear_stay(site: Site) -> None:
    run_poll(site.config, now=NOW)
    site.write_corpus(seed_records()[:10])
    result = run_poll(site.config, now=NOW)
    assert (result.new, result.updated, result.unchanged) == (0, 0, 10)
    with open_storage(site.state, site.config.tz) as store:
        assert store.count_articles() == 54


def test_json_lines_corpus(make_site: Callable[..., Site]) -> None:
    site = make_site()
    site.write_jsonl(seed_records())
    assert poll(site)[1] == "54 new, 0 updated, 0 unchanged, 0 skipped\n"


def test_a_retuned_taxonomy_reclassifies_stored_articles(site: Site) -> None:
    run_poll(site.config, now=NOW)
    taxonomy = site.root / "data" / "taxonomy.toml"
    taxonomy.write_text(taxonomy.read_text(encoding="utf-8") + "\n# retuned\n", encoding="utf-8")
    result = run_poll(site.config, now=NOW)
    assert result.read
    assert result.reclassified == 54


def test_status_reports_the_last_poll(site: Site) -> None:
    run_poll(site.config, now=NOW)
    result = CliRunner().invoke(main, ["--config", str(site.config_path), "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["articles"] == 54
    assert report["last_poll"]["new"] == 54
    assert report["corpus"] == str(site.corpus)


def test_bad_config_is_one_error_line(site: Site) -> None:
    site.config_path.write_text("[output]\nmax_entrys = 5\n", encoding="utf-8")
    code, _, err = poll(site)
    assert code == 1
    assert err == (
        f"Error: {site.config_path}: unknown key output.max_entrys "
        "(known in [output]: dir, base_url, max_entries, archive_size, websub_hub)\n"
    )


def test_what_make_run_does_previews_the_newest_week(site: Site) -> None:
    assert poll(site)[0] == 0
    result = CliRunner().invoke(
        main, ["--config", str(site.config_path), "newsletter", "render", "--latest"]
    )
    assert result.exit_code == 0, result.output
    html = (site.out / "newsletter" / "2026-W06.html").read_text(encoding="utf-8")
    assert "AI的下一个前沿阵地是什么" in html  # the newest article, 2026/2/5
    again = CliRunner().invoke(
        main, ["--config", str(site.config_path), "newsletter", "render", "--latest"]
    )
    assert again.output == "2026-W06: up to date\n"


def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(site: Site) -> None:
    command = [sys.executable, "-m", "feeder", "--config", str(site.config_path), "poll"]
    piped = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert piped.stdout == "54 new, 0 updated, 0 unchanged, 0 skipped\n"
    assert "Reading corpus" not in piped.stderr

    site.write_corpus([*seed_records(), record("one-more")])
    leader, follower = pty.openpty()
    child = subprocess.Popen(command, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the child exits
            break
        if not chunk:
            break
        seen += chunk
    assert child.wait(timeout=60) == 0
    text = seen.decode("utf-8", "replace")
    assert "Reading corpus" in text
    assert "1 new, 0 updated, 54 unchanged, 0 skipped" in text


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
