"""The documentation holds: every test a guarantee names exists, and every test file a page
names; every relative link in the README and docs/ leads somewhere; and the generated pages
are what their generators write."""

from __future__ import annotations

import re
from pathlib import Path

from feeder.cli import reference

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `tests/test_x.py::test_y` (or `tests/folder/test_x.py::test_y`) names a file and a test;
# `::test_z` after it, another test in it.
CITATION = re.compile(r"`(tests/(?:\w+/)*test_\w+\.py)::(test_\w+)`|`::(test_\w+)`")
# Anything in code that looks like a citation, read by CITATION or not.
LIKE_A_CITATION = re.compile(r"`[^`\n]*::test_[^`\n]*`")
# A path to a file of the tests, in prose or in code.
TEST_PATH = re.compile(r"\btests/[\w/.-]*\.py\b")
FENCED = re.compile(r"^```.*?^```", re.M | re.S)
# [text](target) and ![alt](target), and <img src="target">; inline code is removed first.
LINK = re.compile(r"\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")


def cited_tests(text: str) -> list[tuple[str, str]]:
    cited, current = [], ""
    for path, name, same_file in CITATION.findall(text):
        current = path or current
        cited.append((current, name or same_file))
    return cited


def test_every_test_a_guarantee_cites_exists() -> None:
    assert len(cited_tests((ROOT / "docs" / "guarantees.md").read_text("utf-8"))) > 50
    texts = {page.name: page.read_text("utf-8") for page in PAGES}
    # A citation CITATION cannot read would go unchecked: each one must be read.
    unread = [
        f"{name}: {span}"
        for name, text in texts.items()
        for span in LIKE_A_CITATION.findall(text)
        if not CITATION.fullmatch(span)
    ]
    assert unread == []
    cited = [test for text in texts.values() for test in cited_tests(text)]
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not (ROOT / path).is_file()
        or not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)
    ]
    assert missing == []


def test_every_test_file_the_docs_name_exists() -> None:
    # The tests' folders mirror the package's: a file that moves must take its mentions along.
    named = {path for page in PAGES for path in TEST_PATH.findall(page.read_text("utf-8"))}
    assert len(named) > 20
    assert sorted(path for path in named if not (ROOT / path).is_file()) == []


def prose(page: Path) -> str:
    """The page without its code: a `[x](y)` in a code block or span is no link."""
    return re.sub(r"`[^`\n]*`", "", FENCED.sub("", page.read_text(encoding="utf-8")))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces
    to hyphens, and -1, -2 … after a repeated one."""
    found, count = set(), dict[str, int]()
    for heading in re.findall(r"^#+ (.+)$", FENCED.sub("", page.read_text("utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(f"{slug}-{count[slug]}" if slug in count else slug)
        count[slug] = count.get(slug, 0) + 1
    return found


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    broken, checked = [], 0
    for page in PAGES:
        for target in (a or b for a, b in LINK.findall(prose(page))):
            if re.match(r"[a-z]+:", target):  # https:, mailto:: not ours to check
                continue
            path, _, anchor = target.partition("#")
            found = (page.parent / path).resolve() if path else page
            checked += 1
            if not found.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and found.suffix == ".md" and anchor not in anchors(found):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert checked > 40  # the README's links to docs/ alone are more
    assert broken == []


def test_the_cli_reference_is_what_the_help_texts_make() -> None:
    # After changing a --help, `make docs` rewrites docs/cli.md; review its diff.
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == reference.render()
