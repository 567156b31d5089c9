"""Headless Chromium for the scene-page tests: load a page of the Stash UI stand-in
(tests/standins/stash_ui.py), let a harness script act on it, read back what it recorded.

Chromium runs with a virtual-time budget and dumps the DOM at the end; the harness writes its
records into ``<pre id="harness-log">`` as JSON. Virtual time runs timers fast but stands still
while a request is open, so a page that polls a job waits for the real job when the test holds a
request open (FakeStash's ``wait-jobs``). ``HARNESS`` holds the helpers every harness script
starts with: the controls PlexSync put in the toolbar, their geometry, and every toast shown.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.standins import stash_ui

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTHS = (1920, 1280, 800)  # Stash's two-column scene page, its narrowest, and the stacked one

HARNESS = r"""
const H = window.StashStandin;
const rec = H.record;
function box(node) {
  if (!node) return null;
  const r = node.getBoundingClientRect();
  return { top: Math.round(r.top), bottom: Math.round(r.bottom), left: Math.round(r.left),
           right: Math.round(r.right), width: Math.round(r.width), height: Math.round(r.height) };
}
function controls() {
  return Array.from(document.querySelectorAll(".plexsync-sync")).map((span) => {
    const button = span.querySelector("button");
    const svg = span.querySelector("svg");
    const group = span.closest(".scene-toolbar-group");
    return { scene: span.dataset.sceneId || null, state: span.dataset.state || null,
             title: button ? button.title : null, text: span.textContent,
             icon: svg ? svg.getAttribute("data-icon") : null,
             color: svg ? getComputedStyle(svg).color : null,
             spin: !!svg && svg.classList.contains("fa-spin"),
             inLastGroup: !!group && group === group.parentElement.lastElementChild,
             kept: span.dataset.harnessMark === "1" };
  });
}
function links() {
  return Array.from(document.querySelectorAll(".plexsync-open a")).map((a) => {
    const svg = a.querySelector("svg");
    return { scene: a.closest(".plexsync-open").dataset.sceneId, href: a.getAttribute("href"),
             target: a.target, rel: a.rel, title: a.title, text: a.textContent,
             icon: svg ? svg.getAttribute("data-icon") : null };
  });
}
function geometry() {
  const toolbar = document.querySelector(".scene-toolbar");
  const groups = Array.from(document.querySelectorAll(".scene-toolbar-group"));
  return {
    window: window.innerWidth,
    toolbar: box(toolbar),
    toolbarPadding: toolbar ? parseFloat(getComputedStyle(toolbar).paddingTop) + parseFloat(getComputedStyle(toolbar).paddingBottom) : 0,
    groups: groups.map((g) => ({ box: box(g), scroll: g.scrollWidth, client: g.clientWidth })),
    organized: box(document.querySelector(".organized-button")),
    operations: box(document.querySelector("#operation-menu")),
    playCount: box(document.querySelector(".count-button")),
    sync: box(document.querySelector(".plexsync-sync button")),
    open: box(document.querySelector(".plexsync-open a")),
  };
}
function whenTrue(check, then, label) {
  const started = Date.now();
  (function poll() {
    if (check()) then();
    else if (Date.now() - started < 20000) setTimeout(poll, 25);
    else rec({ timeout: label || String(check) });
  })();
}
new MutationObserver((mutations) => {
  for (const m of mutations) {
    for (const node of m.addedNodes) {
      if (node.nodeType !== 1 || !node.classList.contains("toast")) continue;
      const span = node.querySelector(".toast-header .mr-auto");
      rec({ toast: (span || node).textContent,
            variant: ["success", "danger", "warning"].find((v) => node.classList.contains(v)) || null,
            height: box(node).height, inContainer: !!node.closest(".toast-container"),
            elements: (span || node).querySelectorAll("*").length });
    }
  }
}).observe(document.body, { childList: true, subtree: true });
"""


class _LogExtractor(HTMLParser):
    """Pulls the text of <pre id="harness-log"> out of the dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self._inside = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre" and ("id", "harness-log") in attrs:
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.text += data


def require_browser() -> None:
    """Skip, saying what to install, when Chromium or the UI stand-in's packages are missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"headless Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    missing = stash_ui.missing_packages()
    if missing:
        pytest.skip(missing)


def run_page(url: str, tmp_path: Path, *, width: int = 1920, height: int = 1080,
             budget_ms: int = 20000) -> tuple[str, list[dict]]:
    """Loads url in headless Chromium; returns the dumped DOM and the harness records."""
    require_browser()
    profile = tmp_path / f"chromium-profile-{width}"
    profile.mkdir(exist_ok=True)
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", f"--window-size={width},{height}",
        f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", "--dump-dom", url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    dom = proc.stdout
    assert "<html" in dom, f"Chromium dumped no DOM (rc={proc.returncode}): {proc.stderr[-2000:]}"
    parser = _LogExtractor()
    parser.feed(dom)
    return dom, json.loads(parser.text or "[]")


def toasts(events: list[dict]) -> list[dict]:
    return [e for e in events if "toast" in e]


def steps(events: list[dict]) -> dict[str, dict]:
    """Records that name a step, by step."""
    return {e["step"]: e for e in events if "step" in e}


def console_errors(events: list[dict]) -> list[str]:
    """console.error calls (React's warnings among them) and uncaught errors on the page."""
    return [e["text"] for e in events if e.get("console") in ("error", "uncaught")]
