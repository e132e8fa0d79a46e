"""The headless-browser helper (tests/browser.py) the report's screenshot test stands on: what a
missing browser means in each mode, and that its blank-page check tells a blank page from a drawn
one (the smoke report itself is checked in tests/test_workflow_smoke.py)."""

from __future__ import annotations

import pytest

from . import browser


def test_a_missing_browser_skips_or_fails_by_mode(monkeypatch):
    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    monkeypatch.setenv("SFTMIX_TEST_BROWSER", "require")
    with pytest.raises(pytest.fail.Exception, match="SFTMIX_TEST_BROWSER=require but no headless browser"):
        browser.chromium_or_skip()
    monkeypatch.setenv("SFTMIX_TEST_BROWSER", "auto")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        browser.chromium_or_skip()
    monkeypatch.setenv("SFTMIX_TEST_BROWSER", "sometimes")
    with pytest.raises(ValueError, match="SFTMIX_TEST_BROWSER"):
        browser.browser_mode()


def test_screenshots_tell_a_blank_page_from_a_drawn_one(tmp_path):
    binary = browser.chromium_or_skip()
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body style='background:#fff'></body></html>")
    drawn = tmp_path / "drawn.html"
    drawn.write_text("<html><body style='margin:0'>" + "".join(
        f"<div style='height:20px;background:{c}'>sftmix {i}</div>" for i, c in
        enumerate(["#000", "#fff", "#c33", "#3c3"] * 10)) + "</body></html>")
    with browser.Chromium(binary, 640, 400) as b:
        b.open(blank.as_uri())
        size, spread = browser.screenshot_spread(b.screenshot())
        assert size == (640, 400) and spread < 1
        b.open(drawn.as_uri())
        b.settle()
        size, spread = browser.screenshot_spread(b.screenshot())
        assert size == (640, 400) and spread > 10
        assert "sftmix 39" in b.text()
        _, band = browser.screenshot_spread(b.screenshot(), (300, 0, 640, 20))  # one flat colour band
        assert band < 1
