"""The README's guarantees name the tests that prove them: every test it names must exist,
or a rename silently leaves a guarantee unproved."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `tests/test_x.py::test_y` names a file and a test; `::test_z` after it, another test in it.
CITATION = re.compile(r"`(tests/test_\w+\.py)::(test_\w+)`|`::(test_\w+)`")


def cited_tests(text: str) -> list[tuple[str, str]]:
    cited, current = [], ""
    for path, name, same_file in CITATION.findall(text):
        current = path or current
        cited.append((current, name or same_file))
    return cited


def test_every_test_the_readme_cites_exists() -> None:
    cited = cited_tests((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(cited) > 50  # the guarantees are there to check
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)
    ]
    assert missing == []
