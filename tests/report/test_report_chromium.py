"""The report in a real headless Chromium (Debian's ``chromium``): every section and image
renders, nothing is fetched from the network, no console errors; a screenshot is kept as a test
artifact in tests/artifacts/ (git-ignored). Skipped, with the install step, when Chromium is
missing: ``apt-get update && apt-get install -y chromium``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from segml.report import SECTIONS, write_report
from tests.report.chromium import INSTALL, Browser, find_chromium

pytestmark = pytest.mark.xdist_group("report")
ARTIFACTS = Path(os.environ.get("SEGML_TEST_ARTIFACTS", Path(__file__).parents[1] / "artifacts"))

_CHECK = """(() => ({
  sections: [...document.querySelectorAll('section')].map(s => ({
    id: s.id, available: s.dataset.available, height: s.getBoundingClientRect().height,
    title: s.querySelector('h2') ? s.querySelector('h2').textContent : ''})),
  images: [...document.images].map(i => ({
    alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
    shown: i.getBoundingClientRect().width})),
  scripts: document.scripts.length,
}))()"""


def test_report_renders_in_chromium(scored_store: Path, tmp_path: Path) -> None:
    binary = find_chromium()
    if binary is None:
        print(f"SKIPPED: Chromium is not installed; install it with: {INSTALL}")
        pytest.skip(f"Chromium not found; install it with: {INSTALL}")
    report = write_report(scored_store / "runs" / "scores", out=tmp_path / "report.html")
    browser = Browser(binary, tmp_path / "profile")
    try:
        browser.open(report.resolve().as_uri())
        page = browser.evaluate(_CHECK)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = browser.screenshot(ARTIFACTS / "report.png")
        errors, urls = browser.errors(), browser.requested_urls()
    finally:
        browser.close()
    print(f"report screenshot: {shot}")
    assert [s["id"] for s in page["sections"]] == list(SECTIONS)
    assert all(s["available"] == "true" and s["height"] > 50 for s in page["sections"]), page
    assert len(page["images"]) >= 12
    broken = [
        i
        for i in page["images"]
        if not (i["complete"] and i["width"] > 100 and i["height"] > 100 and i["shown"] > 100)
    ]
    assert not broken, json.dumps(broken)
    assert errors == []
    assert page["scripts"] == 0
    assert all(u.startswith(("file:", "data:")) for u in urls), urls
    assert shot.stat().st_size > 50_000
