"""Rewrite the README's pictures, docs/images/*.png, from what `make run` wrote into out/.

    make run && .venv/bin/python docs/screenshots.py

Needs what the browser tests need (Playwright from the test extra; Debian's Chromium and a
CJK font), and launches Chromium as they do. Each picture is the top of the page at a
fixed size, so that a longer corpus does not make it larger.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (after the path is set)

OUT = ROOT / "out"
# picture: (page in out/, viewport width, height)
SHOTS = {
    "index.png": ("index.html", 1000, 760),
    "newsletter.png": ("newsletter/2026-W06.html", 375, 760),
}


def main() -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for picture, (page_path, width, height) in SHOTS.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.goto((OUT / page_path).as_uri(), wait_until="load")
            page.screenshot(path=str(ROOT / "docs" / "images" / picture))
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
