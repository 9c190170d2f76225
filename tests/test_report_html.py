"""index.html: self-contained (fast checks) and rendered by a real browser (slow).

The browser tests run Debian's `chromium` headless: they take a screenshot of
the page and dump the DOM after load with a probe (decoded images; tables
wider than their box; a click on a header sorting its table), and print the
page to PDF, whose text (poppler's pdftotext) must hold every column shown.
"""

from __future__ import annotations

import base64
import re
from html import escape
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ablate.report.build import build_report
from ablate.cli.report import write_folder
from ablate.report.present import cells
from ablate.store.provenance import VERSION, git_commit
from helpers.report import norm_act_runs, write_sweep

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TAB_BLUE = np.array([31, 119, 180])  # matplotlib's first colour: only the plots use it


class Page(HTMLParser):
    """Tags and attributes of interest, from the standard library's parser."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict] = []
        self.tables = 0
        self.links: list[str] = []
        self.best_rows = 0
        self.scripts = 0
        self.script_sources: list[str] = []
        self.headers: list[list[str]] = []  # each table's column headers
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        self.tables += tag == "table"
        self.scripts += tag == "script"
        if tag == "script" and attrs.get("src"):
            self.script_sources.append(attrs["src"])
        if tag == "table":
            self.headers.append([])
        self._in_th = tag == "th"
        self.best_rows += tag == "tr" and attrs.get("class") == "best"
        self.links += [v for k, v in attrs.items() if k in ("href", "src") and v and not v.startswith("data:")]

    def handle_endtag(self, tag):
        self._in_th = self._in_th and tag != "th"

    def handle_data(self, data):
        if self._in_th:
            self.headers[-1].append(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("html")
    runs = norm_act_runs()
    for run in runs:  # a level to escape, in every cell of it: the norm × act interaction stays estimable
        run.levels["act"] = "relu<&>" if run.levels["act"] == "relu" else run.levels["act"]
        if run.levels["norm"] == "batch" and run.levels["act"] == "tanh":  # an interaction, for its plot
            run.curve = [acc - 0.08 for acc in run.curve]
    sweep = write_sweep(root / "results", "norm-vs-act", runs, keys=["norm", "act", "seed"], target=None)
    write_folder(build_report([sweep], by="norm,act"), root / "report")
    # The marginal tables too, in a second page: one section per factor.
    write_folder(build_report([sweep]), root / "marginal")
    return root


def test_page_is_self_contained(site):
    out = site / "report"
    html = (out / "index.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    # Nothing to fetch: the one script (sorting) is inline.
    assert page.links == [] and page.scripts == 1 and page.script_sources == []
    plots = sorted(out.glob("plots/*.png"))
    assert len(page.images) == len(plots) == 5  # curves, intervals, heat map, gap, the norm × act interaction
    embedded = [base64.b64decode(img["src"].removeprefix("data:image/png;base64,")) for img in page.images]
    assert sorted(embedded) == sorted(p.read_bytes() for p in plots)
    assert all(img["alt"] for img in page.images)


def test_page_has_the_tables_escaped(site):
    html = (site / "report" / "index.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    # The importance table; the combination's essential columns and, folded, its other two; its grid.
    assert page.tables == 5 and page.best_rows == 3
    assert "relu&lt;&amp;&gt;" in html and "relu<&>" not in html
    assert 'class="partial"' in html  # one run is still queued
    assert "no target_acc set and no data.target default recorded" in html
    marginal = Page()
    marginal.feed((site / "marginal" / "index.html").read_text(encoding="utf-8"))
    assert marginal.tables == 1 + 2 * 3 and marginal.best_rows == 2 * 3 and len(marginal.images) == 4  # no heat map


def test_page_opens_with_which_factor_matters_most(site):
    report = build_report([site / "results" / "norm-vs-act"])
    html = (site / "marginal" / "index.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    head = html.index('<h2 id="importance">Which factor matters most</h2>')
    assert head < html.index('<h2 id="table-norm">')  # the headline first, as in report.md
    assert escape(report.importance.line()) in html
    assert page.headers[0] == ["effect", "df", "F", "p", "η²", "partial η² [95 %]", "ω²"]
    assert any(f"<li>{escape(note)}</li>" in html for note in report.importance.notes if note.startswith("assumptions"))


def test_tables_show_the_essential_columns_and_fold_the_rest(site):
    report = build_report([site / "results" / "norm-vs-act"])
    html = (site / "marginal" / "index.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    for i, section in enumerate(report.sections):
        shown, *folded = page.headers[1 + 3 * i: 4 + 3 * i]
        assert shown == ["rank", section.title, "done", "test acc", "Δ test acc", "p (Holm)"]
        every = list(cells(report, section).columns)
        assert sorted(set(shown).union(*folded)) == sorted(every)  # no column lost, only folded away
        assert all(h[:2] == ["rank", section.title] for h in folded)
    assert html.count('<details class="more">') == len(report.sections)
    assert html.count('<table class="sortable">') == 1 + 3 * len(report.sections)


def test_footer_says_how_the_page_was_made(site):
    html = (site / "report" / "index.html").read_text(encoding="utf-8")
    footer = html[html.index("<footer>"):]
    assert re.search(r"command <code>ablate report .*norm-vs-act</code>", footer), footer
    assert re.search(r"date <code>\d{4}-\d\d-\d\d \d\d:\d\d UTC</code>", footer)
    assert f"ablate <code>{VERSION}</code>" in footer
    assert f"commit <code>{git_commit() or 'none'}</code>" in footer


def chromium(*args: str, tmp: Path, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install -y chromium)")
def test_browser_renders_page_and_images(site, tmp_path):
    from PIL import Image

    page = site / "report" / "index.html"
    shot = tmp_path / "shot.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri(), tmp=tmp_path)
    assert shot.exists(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (2000, 1200)
    not_white = (pixels < 240).any(axis=2).mean()
    assert not_white > 0.02, "the screenshot is (nearly) blank"
    # Plot lines and markers in matplotlib's blue: the embedded images were decoded and drawn.
    blue = (np.abs(pixels - TAB_BLUE).max(axis=2) < 40).sum()
    assert blue > 500, f"only {blue} plot-coloured pixels: images did not render"

    # After load, every <img> must have decoded: a probe script in a copy of the page counts them.
    probe = tmp_path / "probe.html"
    script = ("<script>addEventListener('load', () => { const imgs = [...document.images];"
              " const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
              " document.body.setAttribute('data-images', ok + '/' + imgs.length); });</script>")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    dom = chromium("--dump-dom", "--virtual-time-budget=10000", probe.as_uri(), tmp=tmp_path).stdout
    found = re.search(r'data-images="(\d+)/(\d+)"', dom)
    assert found, dom[:500]
    assert found.group(1) == found.group(2) == "5"  # the four plots and the norm × act interaction


FIT_PROBE = """<script>addEventListener('load', () => {
  const open = t => !t.closest('details') || t.closest('details').open;
  const tables = [...document.querySelectorAll('table')].filter(open);
  const wide = tables.filter(t => t.closest('.scroll').scrollWidth > t.closest('.scroll').clientWidth + 1);
  const page = document.documentElement.scrollWidth > window.innerWidth;
  const th = [...document.querySelectorAll('#table-norm + .scroll th')].find(h => h.textContent === 'test acc');
  const order = () => th ? [...th.closest('table').tBodies[0].rows].map(r => r.cells[1].textContent).join(',') : '';
  const before = order(); if (th) th.click(); const after = order();
  document.body.setAttribute('data-fit', [tables.length, wide.length, page, before, after].join('|'));
});</script>"""

WIDTH = 1400  # px: a laptop's browser window


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install -y chromium)")
def test_at_1400px_no_table_scrolls_sorting_works_and_print_keeps_every_column(site, tmp_path):
    from PIL import Image

    for name in ("marginal", "report"):
        page = site / name / "index.html"
        shot = tmp_path / f"{name}.png"
        chromium(f"--screenshot={shot}", f"--window-size={WIDTH},1600", page.as_uri(), tmp=tmp_path)
        assert Image.open(shot).size == (WIDTH, 1600)
        probe = tmp_path / f"{name}-probe.html"
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", FIT_PROBE + "</body>"), encoding="utf-8")
        dom = chromium("--dump-dom", f"--window-size={WIDTH},1600", "--virtual-time-budget=10000", probe.as_uri(),
                       tmp=tmp_path).stdout
        found = re.search(r'data-fit="([^"]*)"', dom)
        assert found, dom[:500]
        shown, wide, page_scrolls, before, after = found.group(1).split("|")
        assert int(shown) >= 2 and wide == "0" and page_scrolls == "false", found.group(1)  # no scroll bar anywhere
        if name == "marginal":  # ranked best first; a click on 'test acc' sorts it ascending: worst first
            ranked = build_report([site / "results" / "norm-vs-act"]).sections[0].table["norm"].tolist()
            assert before.split(",") == ranked and after.split(",") == ranked[::-1], (before, after)
        # Printed: every column the page shows is on paper.
        if shutil.which("pdftotext"):
            pdf = tmp_path / f"{name}.pdf"
            chromium(f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri(), tmp=tmp_path)
            text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                                  check=True).stdout
            parsed = Page()
            parsed.feed(page.read_text(encoding="utf-8"))
            html = page.read_text(encoding="utf-8")
            # The tables outside <details>: the importance table, each section's first, the grid.
            visible = re.sub(r"<details.*?</details>", "", html, flags=re.S)
            shown_page = Page()
            shown_page.feed(visible)
            for headers in shown_page.headers:
                for header in headers:
                    assert header.replace("²", "2") in text.replace("²", "2"), (name, header)
            assert "<0.001" in text and "p (Holm)" in text
