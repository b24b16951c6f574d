"""Make a deterministic synthetic corpus of N articles in the seed's schema.

    python benchmarks/make_corpus.py 100000 benchmarks/work/corpus.json [--jsonl]

Each article is built from one of the bundled sample's articles (so lengths follow the
sample's distribution), with a unique id, a date spread over five years, and its
paragraphs rotated so that no two texts are identical. The same N gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "corpus.json"
FIRST_DAY = date(2021, 1, 1)
DAYS = 5 * 365


def articles(n: int, seed: int = 2026, start: int = 0) -> Iterator[dict[str, str]]:
    """The records numbered start … start+n-1 (the same numbers always give the same records)."""
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    for i in range(start, start + n):
        rng = random.Random(seed * 1_000_003 + i)
        base = sample[rng.randrange(len(sample))]
        paragraphs = (base["finalContent"] or "").split("\r\r")
        turn = rng.randrange(len(paragraphs)) if paragraphs else 0
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        yield {
            "文章标识符aid": f"{9_000_000_000 + i}_1",
            "标题title": f"{base['标题title']}（{i}）",
            "链接url": f"http://mp.weixin.qq.com/s?__biz=MzA3Mzg1NzkxMQ==&mid={i}&idx=1",
            "时间time": f"{day.year}/{day.month}/{day.day}",
            "公众号名称": base["公众号名称"],
            "finalContent": "\r\r".join(paragraphs[turn:] + paragraphs[:turn]),
        }


def write(n: int, out: Path, jsonl: bool, start: int = 0, append: bool = False) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a" if append else "w", encoding="utf-8") as f:
        if jsonl:
            for record in articles(n, start=start):
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        f.write("[")
        for k, record in enumerate(articles(n, start=start)):
            f.write(("," if k else "") + json.dumps(record, ensure_ascii=False))
        f.write("]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, help="how many articles")
    parser.add_argument("out", type=Path, help="the file to write")
    parser.add_argument("--jsonl", action="store_true", help="JSON Lines instead of an array")
    args = parser.parse_args()
    write(args.n, args.out, args.jsonl)


if __name__ == "__main__":
    main()
