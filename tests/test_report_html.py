"""index.html: self-contained (fast checks) and rendered by a real browser (slow).

The browser test runs Debian's `chromium` headless: it takes a screenshot of
the page and dumps the DOM after load with a probe that counts decoded images.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ablate.report.build import build_report
from ablate.cli.report import write_folder
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

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        self.tables += tag == "table"
        self.scripts += tag == "script"
        self.best_rows += tag == "tr" and attrs.get("class") == "best"
        self.links += [v for k, v in attrs.items() if k in ("href", "src") and v and not v.startswith("data:")]


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
    assert page.links == [] and page.scripts == 0  # nothing to fetch, nothing to run
    plots = sorted(out.glob("plots/*.png"))
    assert len(page.images) == len(plots) == 5  # curves, intervals, heat map, gap, the norm × act interaction
    embedded = [base64.b64decode(img["src"].removeprefix("data:image/png;base64,")) for img in page.images]
    assert sorted(embedded) == sorted(p.read_bytes() for p in plots)
    assert all(img["alt"] for img in page.images)


def test_page_has_the_tables_escaped(site):
    html = (site / "report" / "index.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    assert page.tables == 2 and page.best_rows == 1  # the combination table and its grid
    assert "relu&lt;&amp;&gt;" in html and "relu<&>" not in html
    assert 'class="partial"' in html  # one run is still queued
    assert "default: no target_acc was set" in html
    marginal = Page()
    marginal.feed((site / "marginal" / "index.html").read_text(encoding="utf-8"))
    assert marginal.tables == 2 and marginal.best_rows == 2 and len(marginal.images) == 4  # no heat map


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
