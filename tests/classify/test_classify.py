"""The categoriser: its accuracy on labelled sets, its scoring rules, the taxonomy file, the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from feeder.classify import Classifier, Taxonomy, explain, load_taxonomy, parse_taxonomy
from feeder.classify.evaluate import Label, Report, evaluate, format_report, load_labels, score
from feeder.cli import main
from feeder.errors import ConfigError
from feeder.ingest.corpus import read_articles
from feeder.model import Article, Classification, Hit
from tests.conftest import DATA, ROOT, TAXONOMY

SEED = (ROOT / "data" / "corpus.json", DATA / "seed-labels.json")
HANDMADE = (DATA / "handmade-corpus.json", DATA / "handmade-labels.json")
# Other accounts' voices (labels/GUIDE.md): the taxonomy was tuned on the first set only; the
# holdout was labelled and committed before the classifier ever ran on it.
VOICES_TUNE = (DATA / "voices-tune-corpus.json", DATA / "voices-tune-labels.json")
VOICES_HOLDOUT = (DATA / "voices-holdout-corpus.json", DATA / "voices-holdout-labels.json")
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(TAXONOMY)


@pytest.fixture(scope="module")
def classifier(taxonomy: Taxonomy) -> Classifier:
    return Classifier(taxonomy)


@pytest.fixture(scope="module")
def whole_body(taxonomy: Taxonomy) -> Classifier:
    return Classifier(reading(taxonomy, 0))


def reading(taxonomy: Taxonomy, body_chars: int) -> Taxonomy:
    """The same taxonomy with another [scoring] body_chars."""
    scoring = dataclasses.replace(taxonomy.scoring, body_chars=body_chars)
    return dataclasses.replace(taxonomy, scoring=scoring)


def articles(path: Path) -> list[Article]:
    def fail(message: str) -> None:
        raise AssertionError(message)

    return list(read_articles(path, TZ, fail))


def by_id(path: Path) -> dict[str, Article]:
    return {a.id: a for a in articles(path)}


# -- Accuracy, scored as labels/GUIDE.md says ----------------------------------------------


def test_seed_corpus_meets_the_seed_targets(classifier: Classifier, taxonomy: Taxonomy) -> None:
    corpus, labels = SEED
    report = evaluate(
        classifier.classify_article,
        articles(corpus),
        load_labels(labels),
        [t.id for t in taxonomy.tags],
    )
    assert report.articles == 54
    assert report.primary_recall >= 0.95, report
    assert report.micro_f1 >= 0.90, report


def test_handmade_articles_meet_the_unseen_targets(
    classifier: Classifier, taxonomy: Taxonomy
) -> None:
    # Written and labelled before the taxonomy was tuned: the stand-in for unseen articles.
    corpus, labels = HANDMADE
    report = evaluate(
        classifier.classify_article,
        articles(corpus),
        load_labels(labels),
        [t.id for t in taxonomy.tags],
    )
    assert report.articles == len(json.loads(labels.read_text(encoding="utf-8")))
    assert report.primary_recall >= 0.92, report
    assert report.micro_f1 >= 0.90, report


def run(classifier: Classifier, taxonomy: Taxonomy, corpus: Path, labels: Path) -> Report:
    tags = [t.id for t in taxonomy.tags]
    return evaluate(classifier.classify_article, articles(corpus), load_labels(labels), tags)


def test_seed_keeps_its_primary_first(classifier: Classifier, taxonomy: Taxonomy) -> None:
    # 47 of 52 before who-speaks-decides (issue 18): that rule may not cost the seed a section.
    report = run(classifier, taxonomy, *SEED)
    assert report.primary_first_rate >= 0.90, format_report(report)


def test_other_voices_meet_the_guide_targets_untuned(
    classifier: Classifier, taxonomy: Taxonomy
) -> None:
    report = run(classifier, taxonomy, *VOICES_HOLDOUT)
    assert report.articles == 40
    assert report.primary_first_rate >= 0.90, format_report(report)
    assert report.primary_recall >= 0.95, format_report(report)
    assert report.micro_f1 >= 0.93, format_report(report)


def test_other_voices_tuning_set_meets_the_same_targets(
    classifier: Classifier, taxonomy: Taxonomy
) -> None:
    report = run(classifier, taxonomy, *VOICES_TUNE)
    assert report.primary_first_rate >= 0.90, format_report(report)
    assert report.primary_recall >= 0.95, format_report(report)
    assert report.micro_f1 >= 0.93, format_report(report)


@pytest.mark.parametrize("pair", [VOICES_TUNE, VOICES_HOLDOUT], ids=["tune", "holdout"])
def test_voices_sets_cover_the_hard_cases(pair: tuple[Path, Path]) -> None:
    corpus, labels_path = pair
    found = articles(corpus)
    labels = load_labels(labels_path)
    assert set(labels) == {a.id for a in found}
    english = [a for a in found if not re.search("[\u4e00-\u9fff]", a.title)]
    assert len(english) >= 5
    # official texts about an industry: policy first, industry at most allowed
    assert sum(lb.primary == "policy" and "industry" in lb.allowed for lb in labels.values()) >= 8
    for tag in ("policy", "research", "industry"):
        assert sum(label.primary == tag for label in labels.values()) >= 8


def test_handmade_set_covers_what_it_must() -> None:
    corpus, labels_path = HANDMADE
    found = articles(corpus)
    labels = load_labels(labels_path)
    assert len(found) >= 24
    assert set(labels) == {a.id for a in found}
    english = [a for a in found if not re.search("[\u4e00-\u9fff]", a.title)]
    assert len(english) >= 3
    assert sum(label.primary is None for label in labels.values()) >= 2
    for tag in ("policy", "research", "industry"):
        assert sum(label.primary == tag for label in labels.values()) >= 6


# -- Scoring rules ---------------------------------------------------------------------------


def test_an_article_with_no_signal_is_untagged(classifier: Classifier) -> None:
    verdict = classifier.classify("今天天气晴朗", "早上出门，路边的花开了。下午下了一场小雨。")
    assert verdict.tags == ()
    assert verdict.primary is None
    assert verdict.hits == ()
    assert verdict.scores == {"policy": 0.0, "research": 0.0, "industry": 0.0}


def test_empty_article_is_untagged(classifier: Classifier) -> None:
    assert classifier.classify("", "").tags == ()


def test_popular_science_and_museum_items_get_no_industry_tag(classifier: Classifier) -> None:
    corpus, labels_path = HANDMADE
    labels = load_labels(labels_path)
    museum = [a for a in articles(corpus) if labels[a.id].primary is None]
    assert museum
    for article in museum:
        assert "industry" not in classifier.classify_article(article).tags, article.title


def test_english_articles_are_classified(classifier: Classifier) -> None:
    call = classifier.classify(
        "Call for Proposals: 2026 Joint Research Program",
        "The Commission hereby announces the application guide. Applicants shall submit "
        "applications before the deadline. Eligibility: legal entities registered in Shanghai.",
    )
    assert call.primary == "policy"
    money = classifier.classify(
        "Robotics startup raises $50 million in Series B financing",
        "The company said investors led by a growth fund joined the round. Revenue doubled "
        "as orders from customers in Europe grew; the founder plans mass production.",
    )
    assert money.primary == "industry"
    paper = classifier.classify(
        "Researchers publish study in Nature",
        "A research team led by a professor at the university reported the discovery in a "
        "paper published in Nature. The experiments demonstrated a new mechanism.",
    )
    assert paper.primary == "research"


def test_latin_phrases_match_in_any_case(classifier: Classifier) -> None:
    lower = classifier.classify("call for proposals", "")
    upper = classifier.classify("CALL FOR PROPOSALS", "")
    assert lower.scores == upper.scores
    assert lower.scores["policy"] > 0
    assert [h.signal for h in upper.hits] == ["call for proposals"]


def test_latin_phrases_match_whole_words_only(classifier: Classifier) -> None:
    body = "cellular networks and naturally a sciences fair"
    assert not [h for h in classifier.classify("", body).hits if h.tag == "research"]
    hits = classifier.classify("", "published in Cell, 复旦团队Nature论文").hits
    assert {"cell", "nature"} <= {h.signal for h in hits}
    # Word edges are found among multi-byte characters and at either end of the text.
    assert not classifier.classify("", "上海cellular网络").hits
    assert {h.signal for h in classifier.classify("", "ipo完成后计划ceo").hits} == {"ipo", "ceo"}


def test_a_signal_inside_a_longer_listed_phrase_counts_once(classifier: Classifier) -> None:
    # "Science and Technology Commission" is a government body, not the journal Science;
    # "研究部署" is a policy phrase, not research.
    commission = classifier.classify("", "The Science and Technology Commission of Shanghai")
    assert "science" not in {h.signal for h in commission.hits}
    assert commission.scores["research"] == 0
    meeting = classifier.classify("", "会议研究部署了下一阶段工作。")
    assert {h.signal for h in meeting.hits} == {"研究部署"}
    assert meeting.scores["research"] == 0


def test_title_counts_more_than_body(classifier: Classifier, taxonomy: Taxonomy) -> None:
    in_title = classifier.classify("融资", "")
    in_body = classifier.classify("", "融资")
    assert in_title.scores["industry"] == pytest.approx(
        taxonomy.scoring.title_weight * in_body.scores["industry"]
    )
    assert in_title.scores["industry"] > in_body.scores["industry"]


def test_repeating_one_word_saturates(classifier: Classifier) -> None:
    once = classifier.classify("", "融资")
    spam = classifier.classify("", "融资" * 100)
    (hit,) = spam.hits
    assert hit.count == 100
    # 100 repeats are worth less than 3 separate mentions, not 100.
    assert hit.points < 3 * once.hits[0].points
    corpus, _ = HANDMADE
    real = classifier.classify_article(by_id(corpus)["h0013_1"])  # a financing round
    assert real.primary == "industry"
    assert spam.scores["industry"] < real.scores["industry"]


@pytest.mark.parametrize("reader", ["classifier", "whole_body"])
def test_long_and_short_texts_are_judged_on_one_scale(
    reader: str, request: pytest.FixtureRequest
) -> None:
    classifier = request.getfixturevalue(reader)
    corpus, _ = HANDMADE
    notice = by_id(corpus)["h0004_1"]  # a 270-character notice
    short = classifier.classify("", notice.content)
    long_text = "\n\n".join([notice.content] * 40)  # the same text, 10,000+ characters
    assert len(long_text) > 10_000
    long = classifier.classify("", long_text)
    assert long.tags == short.tags
    for tag, value in short.scores.items():
        if value:
            assert 0.6 < long.scores[tag] / value < 1.5, tag


@pytest.mark.parametrize("reader", ["classifier", "whole_body"])
def test_a_short_notice_padded_to_10000_characters_keeps_its_tag(
    reader: str, request: pytest.FixtureRequest
) -> None:
    classifier = request.getfixturevalue(reader)
    corpus, _ = HANDMADE
    notice = by_id(corpus)["h0028_1"]  # a 190-character notice
    padding = "\n\n" + "今天天气晴朗，早上出门，路边的花开了。" * 600
    padded = classifier.classify(notice.title, notice.content + padding)
    assert len(notice.content + padding) > 10_000
    assert padded.primary == classifier.classify_article(notice).primary == "policy"


def test_only_the_opening_of_a_long_body_is_read(
    taxonomy: Taxonomy, whole_body: Classifier
) -> None:
    cut = Classifier(reading(taxonomy, 100))
    body = "今天天气晴朗。" * 20 + "融资"  # the signal stands at character 140
    assert cut.classify("", body).hits == ()
    assert [h.signal for h in whole_body.classify("", body).hits] == ["融资"]
    # What was read is scaled by its own length: the verdict is the opening's own.
    corpus, _ = SEED
    longest = max(articles(corpus), key=lambda a: len(a.content))
    read = taxonomy.scoring.body_chars
    assert 0 < read < len(longest.content)
    assert Classifier(taxonomy).classify_article(longest) == whole_body.classify(
        longest.title, longest.content[:read]
    )


def test_a_lone_surrogate_does_not_stop_classification(classifier: Classifier) -> None:
    # The corpus reader drops them, but classify() is also called on other text.
    verdict = classifier.classify("\ud800", "完成\udfff融资")
    assert [h.signal for h in verdict.hits] == ["融资"]


def test_hits_explain_the_scores(classifier: Classifier) -> None:
    corpus, _ = SEED
    for article in articles(corpus):
        verdict = classifier.classify_article(article)
        for tag, value in verdict.scores.items():
            total = sum(h.points for h in verdict.hits if h.tag == tag)
            assert total == pytest.approx(value), (article.id, tag)
        assert {h.where for h in verdict.hits} <= {"title", "body"}
        assert all(h.count >= 1 and h.points > 0 for h in verdict.hits)


WORDS = ["特此通知", "融资", "论文", "企业", "研究团队", "十五五", "Nature", "订单", "天气"]


@settings(max_examples=200, deadline=None)
@given(
    title=st.lists(st.sampled_from(WORDS), max_size=3).map("".join),
    body=st.lists(st.sampled_from([*WORDS, "。", "\n"]), max_size=60).map("".join),
)
def test_tags_are_ranked_by_score_and_pass_the_thresholds(title: str, body: str) -> None:
    taxonomy = load_taxonomy(TAXONOMY)
    verdict = Classifier(taxonomy).classify(title, body)
    s, rules = verdict.scores, taxonomy.scoring
    assert len(verdict.tags) <= min(3, rules.max_tags)
    assert set(s) == {t.id for t in taxonomy.tags}
    if verdict.tags:
        assert s[verdict.tags[0]] == max(s.values())
        assert all(s[t] >= rules.min_score for t in verdict.tags)
        assert all(s[t] >= rules.secondary_ratio * s[verdict.tags[0]] for t in verdict.tags)
        assert [s[t] for t in verdict.tags] == sorted((s[t] for t in verdict.tags), reverse=True)
    else:
        assert max(s.values()) < rules.min_score


# -- The taxonomy file -------------------------------------------------------------------------

SMALL = """
[scoring]
title_weight = 3.0
saturation = 2.0
reference_length = 1000
length_exponent = 0.5
min_score = 1.0
secondary_ratio = 0.4
max_tags = 3

[tags.policy]
label = "政策"
description = "What governments decide."

[[tags.policy.words]]
weight = 2
terms = ["通知"]

[[tags.policy.patterns]]
name = "document number"
weight = 4
regex = '〔\\d{4}〕\\d+号'

[tags.research]
label = "科研"
description = "Science itself."

[[tags.research.words]]
weight = 2
terms = ["论文"]
"""


def test_the_bundled_taxonomy_defines_the_three_tags(taxonomy: Taxonomy) -> None:
    assert [(t.id, t.label) for t in taxonomy.tags] == [
        ("policy", "政策"),
        ("research", "科研"),
        ("industry", "产业"),
    ]
    assert all(t.description for t in taxonomy.tags)
    assert taxonomy.fingerprint == hashlib.sha256(TAXONOMY.read_bytes()).hexdigest()


def test_retuning_is_editing_the_file(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.toml"
    path.write_text(SMALL, encoding="utf-8")
    before = load_taxonomy(path)
    assert Classifier(before).classify("", "沪科〔2026〕18号").tags == ("policy",)
    assert Classifier(before).classify("", "天气很好").tags == ()
    path.write_text(SMALL + '\n[[tags.research.words]]\nweight = 3\nterms = ["天气"]\n')
    after = load_taxonomy(path)
    assert Classifier(after).classify("", "天气很好").tags == ("research",)
    assert after.fingerprint != before.fingerprint


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('label = "科研"\n', ""), r"taxonomy\.toml: tag 'research': missing label"),
        (
            ("'〔\\d{4}〕\\d+号'", "'〔(\\d{4}〕'"),
            r"tag 'policy': pattern 'document number': bad regex",
        ),
        (("weight = 4", 'weight = "high"'), r"tag 'policy': .*weight must be a positive number"),
        (("weight = 4", "weight = -1"), r"weight must be a positive number, not -1"),
        (
            ('terms = ["论文"]', 'terms = ["论文"]\nwieght = 2'),
            r"tag 'research': .*unknown key 'wieght'",
        ),
        (
            ("[tags.research]", "[tags.research]\ncolour = 1"),
            r"tag 'research': unknown key 'colour'",
        ),
        (("max_tags = 3", "max_tags = 3\nmin_scroe = 1"), r"\[scoring\]: unknown key 'min_scroe'"),
        (("min_score = 1.0\n", ""), r"\[scoring\] is missing min_score"),
        (("secondary_ratio = 0.4", "secondary_ratio = 4"), r"secondary_ratio must be"),
        (('terms = ["论文"]', 'terms = ["论文", "论文"]'), r"'论文' is listed twice"),
        (('terms = ["论文"]', "terms = []\n"), r"tag 'research': no words or patterns"),
        (("[tags.research]", "[tags.all]"), r"tag 'all': 'all' is reserved"),
        (("[tags.research]", "[tags.Research]"), r"tag 'Research': a tag id must be lower-case"),
        (("'〔\\d{4}〕\\d+号'", "'x*'"), r"matches the empty string"),
        (("[scoring]", "[scoring"), r"taxonomy\.toml: invalid TOML"),
        (("max_tags = 3", "max_tags = 3\nbody_chars = -1"), r"body_chars must be at least 0"),
        (("max_tags = 3", "max_tags = 3\nbody_chars = 2.5"), r"body_chars must be a whole"),
    ],
)
def test_an_invalid_taxonomy_names_the_file_tag_and_key(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in SMALL
    path = tmp_path / "taxonomy.toml"
    path.write_text(SMALL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_taxonomy(path)


def test_a_missing_taxonomy_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="taxonomy file not found"):
        load_taxonomy(tmp_path / "nowhere.toml")


def test_the_small_taxonomy_is_valid() -> None:
    # The parametrised cases above each break this one file; it must be valid unbroken.
    small = parse_taxonomy(SMALL)
    assert [t.id for t in small.tags] == ["policy", "research"]
    assert small.scoring.body_chars == 0  # optional: a file from before it reads whole bodies


# -- Scoring a run (labels/GUIDE.md) ------------------------------------------------------------


def test_score_follows_the_guide() -> None:
    labels = {
        "a": Label("policy", ("industry",), ()),
        "b": Label("research", (), ("industry",)),
        "c": Label(None, (), ("research",)),
        "d": Label("industry", (), ()),
    }
    predicted = {
        "a": ("industry", "policy"),  # primary found though not first: tp 2
        "b": ("research", "industry"),  # allowed industry: neither rewarded nor punished
        "c": ("research", "policy"),  # research allowed; policy is a false positive
        "d": (),  # industry missed
        "x": ("policy",),  # not labelled: not scored
    }
    report = score(predicted, labels, tags=["policy", "research", "industry"])
    assert report.articles == 4
    assert (report.primary_found, report.with_primary) == (2, 3)
    assert report.primary_recall == pytest.approx(2 / 3)
    assert report.primary_first == 1
    tp, fp, fn = 3, 1, 1
    assert report.micro_f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))
    rows = {t.tag: (t.true_positives, t.false_positives, t.false_negatives) for t in report.tags}
    assert rows == {"policy": (1, 1, 0), "research": (1, 0, 0), "industry": (1, 0, 1)}
    policy = next(t for t in report.tags if t.tag == "policy")
    assert (policy.precision, policy.recall) == (0.5, 1.0)
    assert [(m.id, m.missing, m.extra) for m in report.mistakes] == [
        ("c", (), ("policy",)),
        ("d", ("industry",), ()),
    ]
    assert report.unlabelled == ("x",)


def test_primary_first_counts_only_the_first_tag() -> None:
    labels = {
        "a": Label("policy", (), ("industry",)),
        "b": Label("policy", (), ("industry",)),
        "c": Label("research", (), ()),
        "d": Label("industry", (), ()),
        "e": Label(None, (), ()),
    }
    predicted = {
        "a": ("policy", "industry"),  # first: counted
        "b": ("industry", "policy"),  # found, but in the wrong section
        "c": ("research",),
        "d": (),  # not found, so not first either
        "e": ("research",),  # no primary: neither counted nor misplaced
    }
    report = score(predicted, labels, tags=["policy", "research", "industry"])
    assert (report.primary_first, report.primary_found, report.with_primary) == (2, 3, 4)
    assert report.primary_first_rate == 0.5
    assert report.primary_recall == 0.75
    # tp: a policy, b policy, c research = 3; fp: e research = 1; fn: d industry = 1
    assert report.micro_f1 == pytest.approx(6 / 8)
    assert [m.id for m in report.misplaced] == ["b", "d"]
    assert report.misplaced[0].predicted == ("industry", "policy")


def test_a_misplaced_article_names_the_signals_that_outvoted_its_primary() -> None:
    verdict = Classification(
        tags=("industry", "policy"),
        scores={"policy": 6.0, "research": 0.0, "industry": 13.0},
        hits=(
            Hit("policy", "若干措施", "body", 1, 3.0),
            Hit("policy", "国务院", "body", 1, 3.0),
            Hit("industry", "科创板", "title", 1, 12.0),
            Hit("industry", "企业", "body", 1, 1.0),
        ),
    )
    labels = {"a": Label("policy", (), ("industry",), "某某措施")}
    report = score({"a": verdict.tags}, labels, verdicts={"a": verdict})
    (wrong,) = report.misplaced
    assert [h.signal for h in wrong.outvoted_by] == ["科创板", "企业"]
    text = format_report(report)
    assert "primary first:   0.000  (0/1)" in text
    assert "primary not first (1):" in text
    assert "industry 13.0 > policy 6.0" in text
    assert "outvoted by: 科创板 [title] 12.0 · 企业 1.0" in text


# -- Who speaks and what kind of text: the voice rule ------------------------------------------


VOICED = """
[scoring]
title_weight = 1.0
saturation = 2.0
reference_length = 1000
length_exponent = 0.5
min_score = 3.0
secondary_ratio = 0.40
max_tags = 3

[tags.policy]
label = "政策"
description = "d"
[tags.policy.voice]
weight = 3
lead_chars = 10
issuers = ["证监会", "ministry"]
kinds = ["措施", "measure(s)"]
[[tags.policy.words]]
weight = 1
terms = ["政策"]

[tags.industry]
label = "产业"
description = "d"
[[tags.industry.words]]
weight = 4
terms = ["上市", "company", "companies", "startup(s)"]
"""


def test_who_speaks_and_what_kind_places_the_tag_first() -> None:
    classifier = Classifier(parse_taxonomy(VOICED))
    verdict = classifier.classify("证监会发布支持企业上市的措施", "上市上市")
    # industry has more points, but a regulator's measures belong in the policy section
    assert verdict.scores["industry"] > verdict.scores["policy"] == 3.0
    assert verdict.tags == ("policy", "industry")
    assert Hit("policy", "voice: 证监会 + 措施", "title", 1, 3.0) in verdict.hits
    article = Article(
        "a", "证监会发布支持企业上市的措施", None, datetime(2026, 3, 4, tzinfo=TZ), "", ""
    )
    told = explain(article, verdict, classifier.taxonomy)
    assert "(policy first although it scored less: voice: 证监会 + 措施)" in told


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("证监会：企业上市", "上市"),  # an issuer but no kind of text
        ("企业上市措施", "上市"),  # a kind of text but nobody speaking
        ("企业上市", "这是一段很长的开头文字，然后证监会发布措施"),  # beyond lead_chars
    ],
)
def test_the_voice_needs_an_issuer_and_a_kind_in_the_heading(title: str, body: str) -> None:
    verdict = Classifier(parse_taxonomy(VOICED)).classify(title, body)
    assert verdict.tags == ("industry",)
    assert not any(h.signal.startswith("voice") for h in verdict.hits)


def test_english_voice_phrases_match_whole_words_and_plurals() -> None:
    classifier = Classifier(parse_taxonomy(VOICED))
    heard = classifier.classify("The Ministry issues new MEASURES for startups", "")
    assert heard.tags[0] == "policy"
    assert any(h.signal == "voice: ministry + measures" for h in heard.hits)
    # "ministryx" and "measurement" are other words: nothing is heard
    unheard = classifier.classify("Ministryx measurement for startups companies", "")
    assert unheard.tags == ("industry",)


def test_a_plural_marker_matches_both_forms_as_one_signal() -> None:
    classifier = Classifier(parse_taxonomy(VOICED))
    verdict = classifier.classify("", "a startup and two startups, not startupsx")
    (hit,) = [h for h in verdict.hits if h.tag == "industry"]
    assert (hit.signal, hit.count) == ("startup(s)", 2)


def test_a_plural_listed_twice_is_a_mistake() -> None:
    text = VOICED.replace('"startup(s)"', '"startup(s)", "startups"')
    with pytest.raises(ConfigError, match="'startups' is listed twice"):
        parse_taxonomy(text)


def test_a_voice_without_kinds_is_named() -> None:
    text = VOICED.replace('kinds = ["措施", "measure(s)"]', "kinds = []")
    with pytest.raises(ConfigError, match="tag 'policy': voice: kinds is empty"):
        parse_taxonomy(text)


# -- Commands ------------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    records = json.loads(HANDMADE[0].read_text(encoding="utf-8"))
    (tmp_path / "corpus.json").write_text(json.dumps(records[:6], ensure_ascii=False), "utf-8")
    (tmp_path / "taxonomy.toml").write_bytes(TAXONOMY.read_bytes())
    path = tmp_path / "feeder.toml"
    path.write_text(
        '[corpus]\npath = "corpus.json"\n[taxonomy]\npath = "taxonomy.toml"\n'
        '[state]\npath = "state.db"\n',
        encoding="utf-8",
    )
    return path


def test_classify_json_is_one_object_per_article(config_file: Path, classifier: Classifier) -> None:
    result = CliRunner().invoke(main, ["--config", str(config_file), "classify", "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    found = articles(config_file.parent / "corpus.json")
    assert [item["id"] for item in printed] == [a.id for a in found]
    for item, article in zip(printed, found, strict=True):
        assert set(item) == {"id", "title", "tags", "scores"}
        verdict = classifier.classify_article(article)
        assert item["title"] == article.title
        assert item["tags"] == list(verdict.tags)
        assert item["scores"] == {t: round(v, 3) for t, v in verdict.scores.items()}
    assert not (config_file.parent / "state.db").exists()  # classify touches no state


def test_classify_explain_names_the_deciding_signals(config_file: Path) -> None:
    result = CliRunner().invoke(main, ["--config", str(config_file), "classify", "--explain"])
    assert result.exit_code == 0, result.output
    block = result.output.split("\n\n")[0]  # the first article: a notice
    assert block.startswith("h0001_1  【通知】")
    assert "tags: policy 政策 (primary)" in block
    assert "【通知】 [title] 9.0" in block  # weight 3, once, times the title's weight 3
    assert "document number ×2" in block


def test_classify_with_a_broken_taxonomy_is_one_error_line(config_file: Path) -> None:
    (config_file.parent / "taxonomy.toml").write_text("[scoring]\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config_file), "classify"])
    assert result.exit_code == 1
    assert "Error:" in result.output and "taxonomy.toml" in result.output
    assert "Traceback" not in result.output


def test_eval_prints_the_scores_and_the_mistakes(config_file: Path, tmp_path: Path) -> None:
    labels = json.loads(HANDMADE[1].read_text(encoding="utf-8"))
    labels["h0001_1"] = {"primary": "research", "also": [], "allowed": []}  # deliberately wrong
    labels_file = tmp_path / "labels.json"
    labels_file.write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["--config", str(config_file), "eval", "--labels", str(labels_file)]
    )
    assert result.exit_code == 0, result.output
    assert "articles scored: 6" in result.output
    assert re.search(r"primary recall:\s+0\.833\s+\(5/6\)", result.output)
    assert re.search(r"^policy\s+0\.\d+\s+1\.000", result.output, re.M)
    assert "h0001_1" in result.output
    assert "predicted policy  expected research" in result.output


def test_without_explanation_the_verdict_is_the_same_and_has_no_hits() -> None:
    classifier = Classifier(load_taxonomy(TAXONOMY))
    for article in read_articles(ROOT / "data" / "corpus.json", ZoneInfo("Asia/Shanghai")):
        full = classifier.classify(article.title, article.content)
        bare = classifier.classify(article.title, article.content, explain=False)
        assert (bare.tags, bare.scores, bare.hits) == (full.tags, full.scores, ())
