"""Reading and normalising the corpus: formats, dates, text, bad records, whole-file errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from feeder.errors import CorpusError
from feeder.ingest import Record, Skipped, arrays, digest, read_articles, read_records, scan
from feeder.ingest.normalise import clean_text, clean_url, find_credits, parse_time
from feeder.text import NOT_XML, web_url
from tests.conftest import SEED_CORPUS, record

TZ = ZoneInfo("Asia/Shanghai")


def write(tmp_path: Path, text: str, name: str = "corpus.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def items(path: Path) -> list[object]:
    return list(scan(path, TZ))


def test_seed_corpus_reads_all_54_articles() -> None:
    articles = list(read_articles(SEED_CORPUS, TZ))
    assert len(articles) == 54
    assert len({a.id for a in articles}) == 54
    first = articles[0]
    assert first.id == "2650224682_1"
    assert first.published == datetime(2026, 2, 5, tzinfo=TZ)
    assert first.account == "上海科技"
    assert first.url is not None and first.url.startswith("http://mp.weixin.qq.com/")
    # Two seed articles have no content; they are kept.
    assert sum(1 for a in articles if a.content == "") == 2


def test_array_and_json_lines_give_the_same_articles(tmp_path: Path) -> None:
    records = [record("a"), record("b", time="2026-02-06")]
    array = write(tmp_path, json.dumps(records, ensure_ascii=False), "c.json")
    lines = write(tmp_path, "".join(json.dumps(r) + "\n" for r in records), "c.data")
    assert list(read_articles(array, TZ)) == list(read_articles(lines, TZ))


def test_bare_date_means_midnight_in_the_configured_zone() -> None:
    moment = parse_time("2026/2/5", TZ)
    assert moment.utcoffset() == timedelta(hours=8)
    assert (moment.year, moment.month, moment.day, moment.hour) == (2026, 2, 5, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-05", datetime(2026, 2, 5, tzinfo=TZ)),
        ("2026-02-05 10:30", datetime(2026, 2, 5, 10, 30, tzinfo=TZ)),
        ("2026-02-05 10:30:15", datetime(2026, 2, 5, 10, 30, 15, tzinfo=TZ)),
        ("2026-02-05T02:30:00+00:00", datetime(2026, 2, 5, 10, 30, tzinfo=TZ)),
        ("2026-02-05T10:30:00Z", datetime(2026, 2, 5, 18, 30, tzinfo=TZ)),
    ],
)
def test_other_date_formats(text: str, expected: datetime) -> None:
    parsed = parse_time(text, TZ)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(hours=8)


def test_text_normalisation() -> None:
    raw = (
        "第一段&nbsp;第一行\r第一段第二行\r\r\r第二段 &amp;lt;b&amp;gt;\r\n"
        "结尾\x00\x07\ud800\ufffe\r↓分享\r↓点赞\r↓在看\r\r"
    )
    text = clean_text(raw)
    assert text == "第一段 第一行\n第一段第二行\n\n第二段 &lt;b&gt;\n结尾"


def test_footer_is_dropped_even_when_glued_to_the_last_line() -> None:
    assert clean_text("编辑：蓝悦↓分享\r↓点赞\r↓在看\r\r") == "编辑：蓝悦"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://mp.weixin.qq.com/s?a=1&b=2", True),
        ("https://example.org/x", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("ftp://example.org/", False),
        ("http:///no-host", False),
        ("", False),
    ],
)
def test_only_http_urls_survive(url: str, kept: bool) -> None:
    assert (clean_url(url) is not None) is kept


def _checked_url(url: str) -> str | None:
    """What web_url gave before its fast path: the checks, urlsplit() and quote() for all."""
    url = url.strip()
    if not url or len(url) > 2048 or NOT_XML.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe="!#$%&'()*+,-./:;=?@[]_~", errors="surrogatepass")


@example("http://", "\u212a.org/")  # a Kelvin sign is a "k" to a case-blind Unicode pattern
@example("https://", "example.org/\u017f")  # a long s is an "s" to one: quote() encodes it
@given(
    st.sampled_from(["http://", "HTTPS://", "hTtp://", "http\u017f://", "\u212aa://", ""]),
    st.text(alphabet="aZ09.-_~:/?#[]@!$&'()*+,;=% \t\\\"<>{}|^`中\xa0\u3000\u212a\u017f\u0130"),
)
def test_the_plain_url_fast_path_gives_what_the_full_check_gives(scheme: str, rest: str) -> None:
    assert web_url(scheme + rest) == _checked_url(scheme + rest)


def test_credits_are_found_in_the_closing_lines() -> None:
    credits = find_credits("正文\n来源：解放日报\n作者：顾杰 编辑：蓝悦")
    assert credits == {"来源": "解放日报", "作者": "顾杰", "编辑": "蓝悦"}
    assert find_credits("转载请注明来源企业及专家观点") == {}


def test_bad_records_are_skipped_and_named(tmp_path: Path) -> None:
    records = [
        record("good-1"),
        {"标题title": "no id"},
        record("no-title", title=""),
        record("bad-date", time="昨天"),
        {**record("wrong-type"), "finalContent": ["a", "list"]},
        "not an object",
        record("good-2"),
        {**record("no-content"), "finalContent": None},
    ]
    path = write(tmp_path, json.dumps(records, ensure_ascii=False))
    got = items(path)
    articles = [i.id for i in got if not isinstance(i, Skipped)]
    skipped = [i for i in got if isinstance(i, Skipped)]
    assert articles == ["good-1", "good-2", "no-content"]
    assert [(s.position, s.id) for s in skipped] == [
        (2, None),
        (3, "no-title"),
        (4, "bad-date"),
        (5, "wrong-type"),
        (6, None),
    ]
    assert "时间time" in skipped[2].reason and "昨天" in skipped[2].reason
    assert "finalContent" in skipped[3].reason
    assert "record 4 (id 'bad-date')" in skipped[2].describe(path)


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        ("", "empty", None),
        ("hello", "not a JSON array or JSON Lines", "(line 1, column 1)"),
        ('[{"a": 1},\n {"b": 2,\n "c": tru}]', "invalid JSON", "(line 3, column"),
        ('[{"文章标识符aid": "x",\n "标题title": "t', "truncated", "(line 2, column 15)"),
        ('{\n "文章标识符aid": "x"\n}\n', "single object", "(line 1, column 1)"),
    ],
)
def test_whole_file_errors_name_the_place(
    tmp_path: Path, text: str, message: str, where: str | None
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CorpusError) as raised:
        items(path)
    error = str(raised.value)
    assert error.startswith(f"{path}: ")
    assert message in error
    if where:
        assert where in error


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not found"):
        items(tmp_path / "nope.json")


def test_json_lines_stops_before_an_unfinished_last_line(tmp_path: Path) -> None:
    done = json.dumps(record("a")) + "\n"
    path = write(tmp_path, done + '{"文章标识符aid": "b", "标题')
    records = scan(path, TZ)
    got = []
    while True:
        try:
            got.append(next(records))
        except StopIteration as stop:
            tail = stop.value
            break
    assert [a.id for a in got] == ["a"]
    assert tail.incomplete and tail.offset == len(done.encode()) and tail.lines == 1


def test_json_lines_bad_line_is_skipped_with_its_line_number(tmp_path: Path) -> None:
    lines = [json.dumps(record("a")), "{broken", "", json.dumps(record("b"))]
    path = write(tmp_path, "\n".join(lines) + "\n")
    got = items(path)
    assert [getattr(i, "id", None) for i in got] == ["a", None, "b"]
    bad = got[1]
    assert isinstance(bad, Skipped) and bad.position == 2 and "invalid JSON" in bad.reason


def test_json_lines_resumes_from_an_offset(tmp_path: Path) -> None:
    first = json.dumps(record("a")) + "\n"
    path = write(tmp_path, first + json.dumps(record("b")) + "\n")
    got = list(scan(path, TZ, start=len(first.encode()), start_line=1))
    assert [a.id for a in got] == ["b"]


def test_memory_does_not_hold_the_whole_corpus(tmp_path: Path) -> None:
    # The array reader is a generator: the first article arrives before the file is read.
    records = [record(f"id-{i}", content="字" * 1000) for i in range(2000)]
    path = write(tmp_path, json.dumps(records, ensure_ascii=False))
    read = []
    articles = scan(path, TZ, progress=read.append)
    next(articles)
    assert sum(read) < path.stat().st_size / 10


@pytest.mark.parametrize("ascii_only", [False, True], ids=["utf-8", "escaped"])
def test_a_chunk_may_end_anywhere_in_a_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ascii_only: bool
) -> None:
    # The array reader decodes what it has read so far and reads on where a record is cut:
    # inside a string, an escape (\u5b57, a surrogate pair), a number or a literal.
    records: list[object] = [
        1234567,  # not a record, but it must not be read as 123 and 4567
        {**record("a", title='表情\U0001f600 \\ "引号"'), "n": -12.5e3, "b": [True, False, None]},
        {**record("b", content="字" * 50), "big": 12345678901234567890, "e": 1e-7, "o": {"k": []}},
        # A lone surrogate can only travel escaped ("\ud83d").
        {**record("c", title="\ud83d 半个表情" if ascii_only else "半个表情")},
    ]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(records, ensure_ascii=ascii_only, indent=1), encoding="utf-8")
    expected = [
        (n, r["文章标识符aid"], digest(r)) if isinstance(r, dict) else (n, None, "a number")
        for n, r in enumerate(records, 1)
    ]
    for chunk in (1, 2, 3, 5, 7, 64, arrays.CHUNK):
        monkeypatch.setattr(arrays, "CHUNK", chunk)
        reads: list[int] = []
        got = [
            (r.position, r.id, r.digest)
            if isinstance(r, Record)
            else (r.position, r.id, r.reason.rpartition(" but ")[2])
            for r in read_records(path, progress=reads.append)
        ]
        assert got == expected, chunk
        assert reads[0] == min(chunk, path.stat().st_size)  # the reader did read in chunks
