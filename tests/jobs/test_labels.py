"""The correction loop: `feeder label` verdicts override the categoriser everywhere, survive
a retuned taxonomy and an edited article, export to a label file, are scored by
`eval --state`, and drive `taxonomy suggest`."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from feeder.app import open_feeder
from feeder.classify import Classifier, parse_taxonomy
from feeder.classify.correct import agrees, corrected
from feeder.classify.evaluate import format_report
from feeder.cli import main
from feeder.model import Classification, Correction, Hit
from feeder.newsletter.preview import current_issue
from feeder.newsletter.render import sections
from feeder.site import feed_path
from tests.conftest import DATA, Site, run_poll

WHEN = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)
WEEK = "2026-W10"  # 2 to 8 March 2026: where every voices-tune article is dated


def voices() -> list[dict[str, Any]]:
    records = json.loads((DATA / "voices-tune-corpus.json").read_text(encoding="utf-8"))
    assert isinstance(records, list)
    return records


def cli(site: Site, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(site.config_path), *args])


@pytest.fixture
def polled(make_site: Callable[..., Site]) -> Site:
    site = make_site(voices())
    run_poll(site.config, WHEN)
    return site


def stored_tags(site: Site, article_id: str) -> tuple[str, ...]:
    with open_feeder(site.config) as feeder:
        (entry,) = [e for e in feeder.storage.entries() if e.article.id == article_id]
    return entry.tags


def section_of(site: Site, article_id: str, chosen: set[str] | None = None) -> str | None:
    with open_feeder(site.config) as feeder:
        issue = current_issue(feeder.storage, WEEK, site.config.tz)
        shown = sections(issue, feeder.tags, site.config, chosen=chosen)
    return next((s.id for s in shown for item in s.items if item.id == article_id), None)


def in_feed(site: Site, name: str, title: str) -> bool:
    return title in (site.out / feed_path(name)).read_text(encoding="utf-8")


# -- The pure rule -------------------------------------------------------------------------


def test_a_verdict_replaces_the_tags_and_keeps_the_scores() -> None:
    verdict = Classification(("industry",), {"policy": 2.0, "industry": 9.0}, ())
    person = Correction("a", "policy", ("industry",), WHEN)
    assert corrected(verdict, person).tags == ("policy", "industry")
    assert corrected(verdict, person).scores == verdict.scores
    assert corrected(verdict, Correction("a", None, (), WHEN)).tags == ()
    assert corrected(verdict, None) is verdict


def test_agreeing_means_the_same_primary_and_the_same_tags() -> None:
    person = Correction("a", "policy", ("industry",), WHEN)
    hit = (Hit("policy", "通知", "title", 1, 9.0),)
    assert agrees(Classification(("policy", "industry"), {}, hit), person)
    assert not agrees(Classification(("industry", "policy")), person)  # wrong section
    assert not agrees(Classification(("policy",)), person)  # a tag missing
    assert agrees(Classification(()), Correction("a", None, (), WHEN))


# -- The override, everywhere, for good -----------------------------------------------------

ROBOTS = "vt024_1"  # 科创板迎来首家人形机器人企业 …: the categoriser says industry


def test_a_verdict_wins_over_a_retuned_taxonomy_and_an_edit(polled: Site) -> None:
    title = next(r["标题title"] for r in voices() if r["文章标识符aid"] == ROBOTS)
    assert stored_tags(polled, ROBOTS) == ("industry",)
    assert stored_tags(polled, "vt002_1") == ("policy",)  # a ministry's robot measures

    result = cli(polled, "label", ROBOTS, "--primary", "policy", "--also", "research")
    assert result.exit_code == 0, result.output
    # At once: stored, feeds rebuilt, newsletter section and a policy reader's edition
    assert stored_tags(polled, ROBOTS) == ("policy", "research")
    assert in_feed(polled, "policy", title) and in_feed(polled, "research", title)
    assert not in_feed(polled, "industry", title)
    assert section_of(polled, ROBOTS) == "policy"
    assert section_of(polled, ROBOTS, chosen={"industry"}) is None

    # Retune: robots become overwhelming industry evidence; the poll reclassifies all.
    taxonomy = polled.root / "data" / "taxonomy.toml"
    with taxonomy.open("a", encoding="utf-8") as file:
        file.write('\n[[tags.industry.words]]\nweight = 40\nterms = ["机器人"]\n')
    result = run_poll(polled.config, WHEN)
    assert result.reclassified == 40
    assert stored_tags(polled, "vt002_1") == ("policy", "industry")  # the retune took effect …
    assert stored_tags(polled, ROBOTS) == ("policy", "research")  # … but not over a person
    assert in_feed(polled, "policy", title) and not in_feed(polled, "industry", title)
    assert section_of(polled, ROBOTS) == "policy"

    # An edited article keeps its verdict.
    records = voices()
    for record in records:
        if record["文章标识符aid"] == ROBOTS:
            record["finalContent"] += "\r公司表示，将继续加大研发投入。"
    polled.write_corpus(records)
    assert run_poll(polled.config, WHEN).updated == 1
    assert stored_tags(polled, ROBOTS) == ("policy", "research")


def test_none_leaves_an_article_untagged_and_in_the_other_section(polled: Site) -> None:
    assert stored_tags(polled, "vt036_1") == ("industry",)  # a museum's rocket workshop
    result = cli(polled, "label", "vt036_1", "--none")
    assert result.exit_code == 0, result.output
    assert stored_tags(polled, "vt036_1") == ()
    assert section_of(polled, "vt036_1") == "other"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["label", "nope_1", "--primary", "policy"], "Error: no article 'nope_1' in the state"),
        (["label", ROBOTS, "--primary", "politics"], "Error: unknown tag 'politics'"),
        (["label", ROBOTS, "--primary", "policy", "--also", "x"], "Error: unknown tag 'x'"),
    ],
)
def test_an_unknown_article_or_tag_is_one_error_line(
    polled: Site, args: list[str], message: str
) -> None:
    result = cli(polled, *args)
    assert result.exit_code == 1
    assert result.output.startswith(message), result.output
    assert len(result.output.strip().splitlines()) == 1
    with open_feeder(polled.config) as feeder:
        assert feeder.storage.labels() == []


def test_label_and_build_refuse_a_missing_state_and_create_none(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(voices())
    for args in (["label", ROBOTS, "--primary", "policy"], ["build"]):
        result = cli(site, *args)
        assert result.exit_code == 1
        assert result.output.endswith("no state file (run `feeder poll` first)\n"), result.output
    assert not (site.root / "data" / "state.db").exists()


def test_label_needs_a_primary_or_none(polled: Site) -> None:
    assert cli(polled, "label", ROBOTS).exit_code == 2
    assert cli(polled, "label", ROBOTS, "--none", "--primary", "policy").exit_code == 2


def test_labelling_again_replaces_the_verdict(polled: Site) -> None:
    assert cli(polled, "label", ROBOTS, "--primary", "policy").exit_code == 0
    assert cli(polled, "label", ROBOTS, "--primary", "industry").exit_code == 0
    with open_feeder(polled.config) as feeder:
        (only,) = feeder.storage.labels()
    assert (only.primary, only.also) == ("industry", ())


# -- List, export, eval --state ---------------------------------------------------------------


def label_three(site: Site) -> None:
    for args in (
        [ROBOTS, "--primary", "policy"],  # the categoriser disagrees
        ["vt015_1", "--primary", "research"],  # it agrees
        ["vt036_1", "--none"],  # it gives industry
    ):
        result = cli(site, "label", *args)
        assert result.exit_code == 0, result.output


def test_labels_list_shows_each_verdict(polled: Site) -> None:
    label_three(polled)
    result = cli(polled, "labels", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [  # in id order
        ["vt015_1", "research"],
        [ROBOTS, "policy"],
        ["vt036_1", "-"],
    ]
    assert "科创板迎来首家人形机器人企业" in lines[1]


def test_export_then_eval_labels_reproduces_eval_state(polled: Site, tmp_path: Path) -> None:
    label_three(polled)
    exported = tmp_path / "mine.json"
    result = cli(polled, "labels", "export", str(exported))
    assert result.exit_code == 0, result.output
    labels = json.loads(exported.read_text(encoding="utf-8"))
    assert labels[ROBOTS] == {
        "title": "科创板迎来首家人形机器人企业 上市首日市值超500亿元",
        "primary": "policy",
        "also": [],
        "allowed": [],
    }
    assert labels["vt036_1"]["primary"] is None

    state = cli(polled, "eval", "--state")
    from_file = cli(polled, "eval", "--labels", str(exported))
    assert state.exit_code == 0 and from_file.exit_code == 0, state.output + from_file.output
    # The file's run also classifies the corpus's unlabelled articles and lists them last.
    assert from_file.output.startswith(state.output.rstrip("\n") + "\n\nnot in the label file")
    assert "articles scored: 3" in state.output
    assert re.search(r"primary first:\s+0\.500\s+\(1/2\)", state.output)
    with open_feeder(polled.config) as feeder:
        assert feeder.evaluate_state().mistakes[0].id == ROBOTS
    assert format_report  # the same formatter prints both


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_label_flow_runs_on_either_engine(
    make_site: Callable[..., Site], tmp_path: Path, backend: str
) -> None:
    # `feeder label` once asked whether a SQLite file existed, on a PostgreSQL state too,
    # and failed there with "no state yet".
    site = make_site(voices())
    run_poll(site.config, WHEN)
    label_three(site)
    assert stored_tags(site, ROBOTS) == ("policy",)
    listed = cli(site, "labels", "list")
    assert listed.exit_code == 0, listed.output
    assert [line.split("\t")[:2] for line in listed.output.splitlines()] == [
        ["vt015_1", "research"],
        [ROBOTS, "policy"],
        ["vt036_1", "-"],
    ]
    exported = tmp_path / "mine.json"
    result = cli(site, "labels", "export", str(exported))
    assert result.exit_code == 0, result.output
    assert json.loads(exported.read_text(encoding="utf-8"))[ROBOTS]["primary"] == "policy"
    state = cli(site, "eval", "--state")
    assert state.exit_code == 0, state.output
    assert "articles scored: 3" in state.output
    assert re.search(r"primary first:\s+0\.500\s+\(1/2\)", state.output)
    assert (backend == "sqlite") == (site.root / "data" / "state.db").exists()


def test_eval_needs_labels_or_state(polled: Site) -> None:
    assert cli(polled, "eval").exit_code == 2
    assert cli(polled, "eval", "--state", "--labels", "x.json").exit_code == 2


# -- taxonomy suggest ---------------------------------------------------------------------

SMALL = """
[scoring]
title_weight = 3.0
saturation = 2.0
reference_length = 1000
length_exponent = 0.5
min_score = 3.0
secondary_ratio = 0.40
max_tags = 3

[tags.policy]
label = "政策"
description = "Governments."

[[tags.policy.words]]
weight = 3
terms = ["通知", "政府"]

[tags.industry]
label = "产业"
description = "Companies."

[[tags.industry.words]]
weight = 2
terms = ["企业", "公司"]
"""


def record(ident: str, title: str, body: str) -> dict[str, str]:
    return {
        "文章标识符aid": ident,
        "标题title": title,
        "链接url": f"https://example.org/{ident}",
        "时间time": "2026/3/4",
        "公众号名称": "测试",
        "finalContent": body,
    }


STANDARDS = [
    record("s1", "企业电池安全国家标准发布", "国家标准规定了企业电池产品的安全要求。"),
    record("s2", "企业充电桩国家标准实施", "新的国家标准要求企业按期完成充电桩改造。"),
    record("c1", "某公司完成融资", "这家企业的公司估值再创新高。"),
    record("c2", "企业新品上市", "公司发布新品，企业订单增长。"),
    record("p1", "政府发布通知", "政府发布通知，要求加强管理。"),
]


def test_suggest_proposes_an_edit_that_fixes_the_verdicts(
    make_site: Callable[..., Site],
) -> None:
    site = make_site(STANDARDS)
    taxonomy = site.root / "data" / "taxonomy.toml"
    taxonomy.write_text(SMALL, encoding="utf-8")
    run_poll(site.config, WHEN)
    assert stored_tags(site, "s1") == ("industry",)
    verdicts = {"s1": "policy", "s2": "policy", "c1": "industry", "c2": "industry"}
    for article_id, tag in verdicts.items():
        assert cli(site, "label", article_id, "--primary", tag, "--also", "industry").exit_code == 0

    result = CliRunner().invoke(main, ["--config", str(site.config_path), "taxonomy", "suggest"])
    assert result.exit_code == 0, result.output
    assert taxonomy.read_text(encoding="utf-8") == SMALL  # never edits the file
    diff = result.stdout
    assert diff.startswith("--- "), diff
    assert "+[[tags.policy.words]]" in diff
    assert "2 recorded verdicts the taxonomy gets wrong" in result.stderr

    # The diff applies cleanly with patch, and the patched taxonomy gets every verdict right.
    (site.root / "fix.diff").write_text(diff, encoding="utf-8")
    patched = site.root / "patched.toml"
    applied = subprocess.run(
        ["patch", "--batch", f"--output={patched}", str(taxonomy), str(site.root / "fix.diff")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    new_text = patched.read_text(encoding="utf-8")
    classifier = Classifier(parse_taxonomy(new_text))
    for item in STANDARDS[:4]:
        verdict = classifier.classify(item["标题title"], item["finalContent"])
        assert verdict.tags[0] == verdicts[item["文章标识符aid"]], (item, verdict)
