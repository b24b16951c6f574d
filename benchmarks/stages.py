"""Where a cold poll's CPU time goes: each stage of the ingest run one after the other in
this process, over the same records, timed with the process's CPU clock.

    python benchmarks/stages.py benchmarks/work/corpus-100000.json [--limit N]

The stages are those a worker and the writing process run during a cold poll: parse (the
reader with its limits, with the id), digest, normalise, classify, the row, IPC (pickling a
worker's batches and unpickling them, as the pipe carries them), SQLite (the rows written in
one transaction, as the poll writes them) and publish (building and writing the feeds).
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
TAXONOMY = ROOT / "feeder" / "taxonomy.toml"
STAGES = ("parse", "digest", "normalise", "classify", "row", "IPC", "SQLite", "publish")


class Clock:
    """CPU seconds by stage."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.process_time()
        try:
            yield
        finally:
            self.spent[name] = self.spent.get(name, 0.0) + time.process_time() - start


def stage_times(corpus: Path, limit: int | None = None) -> dict[str, float]:
    """CPU seconds of each stage over the corpus's records (the first `limit` of them)."""
    from feeder.app import open_feeder
    from feeder.classify import Classifier, load_taxonomy
    from feeder.config import parse_config
    from feeder.ingest import Record, read_records, to_article
    from feeder.ingest import records as reader  # where each record's digest is taken
    from feeder.ingest.workers import BATCH, Changed, PartItem, _pack, _unpack
    from feeder.model import WriteMode
    from feeder.storage import Storage, article_row, open_storage

    tz = ZoneInfo("Asia/Shanghai")
    clock = Clock()
    classifier = Classifier(load_taxonomy(TAXONOMY))
    real_digest = reader.digest

    def timed_digest(raw: dict) -> str:  # type: ignore[type-arg]
        with clock.stage("digest"):
            return real_digest(raw)

    def write(batch: list[Record], store: Storage) -> None:
        """One worker batch through every stage after the parse, each on its own clock."""
        with clock.stage("normalise"):
            articles = [to_article(record, tz) for record in batch]
        with clock.stage("classify"):
            verdicts = [classifier.classify(a.title, a.content, explain=False) for a in articles]
        with clock.stage("row"):
            rows = [
                article_row(article, record.digest, verdict)
                for record, article, verdict in zip(batch, articles, verdicts, strict=True)
            ]
        with clock.stage("IPC"):  # what a worker's pipe does: pack, pickle, unpickle, unpack
            items: list[PartItem] = [
                Changed(r.position, "new", row) for r, row in zip(batch, rows, strict=True)
            ]
            sent = ForkingPickler.dumps((_pack(items), 0, None))
            received = [item.row for item in _unpack(pickle.loads(sent)[0])]  # type: ignore[union-attr]
        with clock.stage("SQLite"):
            store.put_articles(received, now, [WriteMode.INSERT] * len(received))

    folder = Path(tempfile.mkdtemp(prefix="feeder-stages-"))
    config = parse_config(
        f'[corpus]\npath = "{corpus}"\n[state]\npath = "state.db"\n[output]\ndir = "out"\n'
        f'[taxonomy]\npath = "{TAXONOMY}"\n',
        folder,
    )
    now = datetime.now(UTC)
    reader.digest = timed_digest  # type: ignore[assignment]
    try:
        with open_storage(config.state.path, tz) as store:
            with clock.stage("SQLite"):
                store.db.execute("BEGIN IMMEDIATE")
            batch: list[Record] = []
            records = read_records(corpus)
            taken = 0
            while limit is None or taken < limit:
                with clock.stage("parse"):
                    item = next(records, None)
                if item is None:
                    break
                if isinstance(item, Record):
                    batch.append(item)
                    taken += 1
                    if len(batch) >= BATCH:
                        write(batch, store)
                        batch = []
            write(batch, store)
            with clock.stage("SQLite"):
                store.db.execute("COMMIT")
        with clock.stage("publish"), open_feeder(config) as feeder:
            feeder.build()
    finally:
        reader.digest = real_digest
        shutil.rmtree(folder)
    clock.spent["parse"] -= clock.spent.get("digest", 0.0)  # the reader calls digest()
    return {name: clock.spent.get(name, 0.0) for name in STAGES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="only the first N records")
    args = parser.parse_args()
    spent = stage_times(args.corpus, args.limit)
    for name, seconds in spent.items():
        print(f"{name:10} {seconds:6.2f} s")
    print(f"{'total':10} {sum(spent.values()):6.2f} s")


if __name__ == "__main__":
    sys.exit(main())
