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


TOY_TABLES = {"first": "# First table\n\nSome **bold** text.\n\n| method | size | nll | note |\n|---|---|---|---|\n"
                       "| random | 40 | 4.7421 | p < 0.05 & more |\n| eecpo | 40 | nan | reference |\n",
              "second": "## Second table\n\n| experiment | acc |\n|---|--:|\n| mix_uniform_40 | 0.3125 |\n"}
TOY_SNAKEFILE = """
rule table:
    output:
        markdown="out/{name}.md",
        html=report("out/{name}.html", category="Tables", caption="caption.rst"),
    shell:
        "false"  # never run: the test writes the outputs
"""


@pytest.fixture(scope="module")
def toy_report(tmp_path_factory):
    """The ``snakemake --report report.zip`` of a one-rule workflow with two table pages, unpacked.
    The pages are written by sftmix.report.write_markdown_report, as the workflow's report rules
    write theirs, and the report is built over them without a run (a second Snakemake start-up the
    test does not need; the report only warns that the job metadata is missing)."""
    import subprocess
    import sys
    import zipfile

    from sftmix.report import write_markdown_report

    from .smk import guarded_env

    wd = tmp_path_factory.mktemp("toy_report")
    (wd / "Snakefile").write_text(TOY_SNAKEFILE)
    (wd / "caption.rst").write_text("A toy table.\n")
    (wd / "out").mkdir()
    for name, text in TOY_TABLES.items():
        write_markdown_report(text, wd / f"out/{name}.md", wd / f"out/{name}.html")
    targets = [f"out/{name}.html" for name in TOY_TABLES]
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--report", "report.zip", *targets], cwd=wd,
                          env=guarded_env(wd), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    zipfile.ZipFile(wd / "report.zip").extractall(wd / "unzipped")
    return wd


def test_a_table_page_opens_inline_and_its_text_is_read_from_the_iframe(toy_report):
    """An HTML result opened as its view button opens it: the report shows it in an iframe whose
    document the report's own scripts cannot read (file:// origins); the helper reads the frame's
    rendered text over the protocol, the right page after another, and the iframe's area on the
    screenshot is drawn."""
    binary = browser.chromium_or_skip()
    with browser.Chromium(binary, 1600, 1000) as b:
        report = browser.ReportPage(b, toy_report / "unzipped/report/report.html")
        paths = {p.rsplit("/", 1)[-1]: p for p in report.results()}
        assert set(paths) == {"first.html", "second.html"}
        report.show_category("Tables")
        for name in ("first", "second", "first"):  # each opens a new iframe: its own text is read
            shown = report.show_result(paths[f"{name}.html"])
            text = report.page_text(shown)
            cells = [line.split("\t") for line in text.splitlines() if "\t" in line]
            if name == "first":
                assert text.startswith("First table\n") and "Some bold text." in text and "**" not in text
                assert cells == [["method", "size", "nll", "note"], ["random", "40", "4.7421", "p < 0.05 & more"],
                                 ["eecpo", "40", "nan", "reference"]]
            else:
                assert cells == [["experiment", "acc"], ["mix_uniform_40", "0.3125"]] and "First" not in text
            left, top, right, bottom = shown["box"]
            assert right - left >= 600 and bottom - top >= 600, shown
            _, spread = browser.screenshot_spread(b.screenshot(), (left, top, right, min(bottom, top + 200)))
            assert spread > 10, f"{name}: the table's area looks blank (pixel sd {spread:.1f})"
