"""The report's table pages (sftmix.report.table_page): a Markdown report file rendered as the HTML
page Snakemake's report shows inline. Parsed back with the standard library's HTML parser, so the
assertions are on what a browser gets, not on the renderer's strings."""

from __future__ import annotations

from html.parser import HTMLParser

from sftmix.report import markdown_table, table_page, write_markdown_report


class _Page(HTMLParser):
    """Tables (rows of (tag, class, style, text) cells), the other elements' text, the title."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[tuple[str, str, str, str]]]] = []
        self.elements: list[tuple[str, str]] = []  # (tag, text) of headings, list items, strong, a, code
        self.links: list[str] = []
        self._cell: list | None = None
        self._open: list[list] = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("th", "td"):
            self._cell = [tag, a.get("class") or "", a.get("style") or "", ""]
        if tag in ("h1", "h2", "h3", "li", "strong", "a", "code", "title", "p"):
            self._open.append([tag, ""])
        if tag == "a":
            self.links.append(a["href"])

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self.tables[-1][-1].append(tuple(self._cell))
            self._cell = None
        if self._open and self._open[-1][0] == tag:
            self.elements.append(tuple(self._open.pop()))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[3] += data
        for o in self._open:
            o[1] += data


TABLE = """\
### Mixtures

| method | size | nll_macro | delta | verdict | acc |
|---|---|---|---|---|--:|
| random | 40 | 4.7421 | -0.0667 | worse | 0.1523 ± 0.0467 n.s. |
| eecpo | 40 | 4.6755 | – | reference | 0.50 |
| uniform | 40 | 4.7002 | nan | indistinguishable | 0.25 |
"""


def test_a_markdown_table_becomes_an_html_table_with_its_cells_and_number_columns_aligned():
    page = _Page(table_page(TABLE, "tables"))
    (table,) = page.tables
    assert [[c[3] for c in row] for row in table] == [
        ["method", "size", "nll_macro", "delta", "verdict", "acc"],
        ["random", "40", "4.7421", "-0.0667", "worse", "0.1523 ± 0.0467 n.s."],
        ["eecpo", "40", "4.6755", "–", "reference", "0.50"],
        ["uniform", "40", "4.7002", "nan", "indistinguishable", "0.25"]]
    assert [row[0][0] for row in table] == ["th", "td", "td", "td"]
    # columns of numbers (nan counts, a dash is no value) right-aligned, header included; text
    # columns not; the column the Markdown aligns itself keeps its alignment
    for row in table:
        assert [c[1] for c in row[:5]] == ["", "num", "num", "num", ""], row
        assert row[5][1] == "" and "text-align: right" in row[5][2]
    assert ("h3", "Mixtures") in page.elements


def test_the_page_is_a_rendering_of_the_table_writer_and_mixed_columns_stay_text():
    rows = [{"experiment": "a", "nll": 1.23456, "note": "3 seeds"}, {"experiment": "b", "nll": float("nan"), "note": "x"}]
    page = _Page(table_page(markdown_table(rows, ["experiment", "nll", "note"], title="T"), "t"))
    (table,) = page.tables
    assert [[c[3] for c in row] for row in table] == [["experiment", "nll", "note"], ["a", "1.2346", "3 seeds"],
                                                      ["b", "nan", "x"]]
    assert [c[1] for c in table[1]] == ["", "num", ""]


def test_headings_lists_emphasis_links_and_code_are_rendered():
    text = ("# IterIT: tiny\n\nEvery method trains the **same** steps; see [the paper](https://arxiv.org/abs/2401.00001)"
            " and `run_verdict`.\n\n## Claims\n\n- first claim: **not shown by this run**\n- second\n")
    page = _Page(table_page(text, "IterIT"))
    el = page.elements
    assert ("h1", "IterIT: tiny") in el and ("h2", "Claims") in el
    assert ("strong", "same") in el and ("strong", "not shown by this run") in el
    assert ("li", "first claim: not shown by this run") in el and ("li", "second") in el
    assert ("a", "the paper") in el and page.links == ["https://arxiv.org/abs/2401.00001"]
    assert ("code", "run_verdict") in el and ("title", "IterIT") in el
    assert not page.tables and "**" not in table_page(text, "IterIT")


def test_markup_in_the_text_is_shown_as_text_and_escaped_once():
    text = "| cell | value |\n|---|---|\n| <script>alert(1)</script> | p < 0.05 & a > b |\n"
    out = table_page(text, "A & <B>")
    page = _Page(out)
    assert [c[3] for c in page.tables[0][1]] == ["<script>alert(1)</script>", "p < 0.05 & a > b"]
    assert "<script>" not in out and "&amp;lt;" not in out and "&amp;amp;" not in out
    assert ("title", "A & <B>") in page.elements


def test_the_same_text_gives_the_same_bytes_and_the_files_hold_text_and_rendering(tmp_path):
    assert table_page(TABLE, "t") == table_page(TABLE, "t")
    assert table_page(TABLE, "t") != table_page(TABLE.replace("4.7421", "4.7422"), "t")
    text = "## Model tiny\n\n" + TABLE
    write_markdown_report(text, tmp_path / "tables.md", tmp_path / "tables.html")
    assert (tmp_path / "tables.md").read_text(encoding="utf-8") == text
    assert (tmp_path / "tables.html").read_text(encoding="utf-8") == table_page(text, "Model tiny")
    write_markdown_report(TABLE.split("\n\n", 1)[1], tmp_path / "quality.md", tmp_path / "quality.html")
    assert ("title", "quality") in _Page((tmp_path / "quality.html").read_text(encoding="utf-8")).elements
