"""Shared fixtures: a temporary feeder installation (config, corpus, state, outputs)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from feeder.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "data" / "corpus.json"
TAXONOMY = ROOT / "data" / "taxonomy.toml"


def seed_records() -> list[dict[str, Any]]:
    """The bundled 54 articles, as the raw records of the corpus file."""
    return json.loads(SEED_CORPUS.read_text(encoding="utf-8"))


def record(ident: str, title: str = "标题", time: str = "2026/2/5", content: str = "正文") -> dict:
    """One raw corpus record in the seed schema."""
    return {
        "文章标识符aid": ident,
        "标题title": title,
        "链接url": f"http://mp.weixin.qq.com/s?id={ident}",
        "时间time": time,
        "公众号名称": "上海科技",
        "finalContent": content,
    }


@dataclass
class Site:
    """A temporary installation: its folder, config file and corpus."""

    root: Path
    config_path: Path
    corpus: Path

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def state(self) -> Path:
        return self.root / "data" / "state.db"

    def write_corpus(self, records: Sequence[Any]) -> None:
        self.corpus.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")

    def write_jsonl(self, records: Sequence[Any]) -> None:
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        self.corpus.write_text("".join(lines), encoding="utf-8")


@pytest.fixture
def make_site(tmp_path: Path) -> Callable[..., Site]:
    """Build a site: `make_site(records)`; `extra` is appended to its feeder.toml."""

    def make(records: Sequence[Any] | None = None, extra: str = "") -> Site:
        (tmp_path / "data").mkdir(exist_ok=True)
        shutil.copy(TAXONOMY, tmp_path / "data" / "taxonomy.toml")
        config_path = tmp_path / "feeder.toml"
        config_path.write_text(
            '[corpus]\npath = "data/corpus.json"\n'
            '[output]\nbase_url = "http://127.0.0.1:8000/"\n' + extra,
            encoding="utf-8",
        )
        site = Site(tmp_path, config_path, tmp_path / "data" / "corpus.json")
        site.write_corpus(seed_records() if records is None else records)
        return site

    return make


@pytest.fixture
def site(make_site: Callable[..., Site]) -> Site:
    """A site with the bundled 54-article corpus."""
    return make_site()
