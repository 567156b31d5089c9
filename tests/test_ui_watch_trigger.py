"""The page-open trigger of the watch-state exchange (PlexSync.js, issue 18) in headless Chromium.

Opening a Stash page asks Stash to run *Sync watch state*, at most once every 10 minutes per
browser (localStorage), and only while watch_state is on, so plays made in Plex are in Stash by
the time the user is back. The browser setup is test_ui_button.py's: a small HTTP server on
127.0.0.1 plays Stash under a sub-path (``<base href="/stash/">``), serves PlexSync.js and records every GraphQL request; a harness in
the page seeds localStorage, navigates and reloads, and writes what it saw into a ``<pre>``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from stash import queries
from tests.helpers import http_server
from tests.test_ui_button import SCRIPT, assert_request_valid, run_page, stash_schema

STAMP_KEY = "plexsync.watchState.requestedAt"
TRIGGER_MARK = "// 2. Watch state: plays made in Plex reach Stash"

# Any Stash page (the scene list here: no scene button). The harness runs before PlexSync.js:
# it seeds the browser's stamp (?stamp=minutes ago, negative = in the future), sends Stash's
# navigation events, and on ?reload=1 opens the page again in the same browser.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><base href="/stash/"><title>Stash</title></head>
<body>
<pre id="harness-log">[]</pre>
<script>
(function () {
  const events = [];
  const logEl = document.getElementById("harness-log");
  function record(entry) { events.push(entry); logEl.textContent = JSON.stringify(events); }
  const warn = console.warn.bind(console);
  console.warn = (...args) => { record({ console: "warn", text: args.join(" ") }); warn(...args); };
  const target = new EventTarget();
  window.PluginApi = { Event: { addEventListener: (t, fn) => target.addEventListener(t, fn) } };
  const params = new URLSearchParams(location.search);
  const KEY = "__STAMP_KEY__";
  if (params.has("stamp")) {
    localStorage.setItem(KEY, String(Date.now() - Number(params.get("stamp")) * 60000));
  }
  if (params.has("nostorage")) {
    Object.defineProperty(window, "localStorage", { get() { throw new Error("denied"); } });
  }
  record({ loaded: location.search });
  const navigate = (path) => target.dispatchEvent(new CustomEvent("stash:location",
    { detail: { data: { location: { pathname: path } } } }));
  setTimeout(() => { navigate("/performers"); navigate("/scenes/7"); }, 500);
  setTimeout(() => {
    let stamp = null;
    try { stamp = localStorage.getItem(KEY); } catch (_) { stamp = "unavailable"; }
    record({ stamp });
    if (params.get("reload") === "1") { location.replace(location.pathname + "?reloaded=1"); }
  }, 1500);
})();
</script>
<script src="plugin/PlexSync/javascript"></script>
</body></html>
""".replace("__STAMP_KEY__", STAMP_KEY)


@dataclass
class Stash:
    """The GraphQL endpoint: PlexSync's settings, a job id for every task, every request kept."""

    settings: dict = field(default_factory=lambda: {"plex_url": "http://plex:32400", "watch_state": "both"})
    script: bytes = b""
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict) -> tuple[int, dict]:
        query = body.get("query") or ""
        if "configuration" in query:
            return 200, {"data": {"configuration": {"plugins": {"PlexSync": self.settings}}}}
        if "runPluginTask" in query:
            return 200, {"data": {"runPluginTask": "12"}}
        return 400, {"errors": [{"message": "unexpected document"}]}

    def posts(self, word: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if word in (r["body"].get("query") or "")]


def make_handler(stash: Stash) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, ctype: str, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/stash/plugin/PlexSync/javascript":
                self._send(200, "text/javascript", stash.script)
            elif path.startswith("/stash/"):
                self._send(200, "text/html; charset=utf-8", PAGE.encode())
            else:
                self._send(404, "text/plain", b"not here")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw)
            with stash.lock:
                stash.requests.append({"path": self.path, "body": body, "at": time.time()})
            if self.path != "/stash/graphql":
                self._send(404, "text/plain", b"wrong path")
                return
            status, reply = stash.answer(body)
            self._send(status, "application/json", json.dumps(reply).encode())

    return Handler


@pytest.fixture
def stash() -> Iterator[tuple[Stash, str]]:
    fake = Stash(script=SCRIPT.read_bytes())
    with http_server(make_handler(fake)) as base:
        yield fake, base


def watch_section() -> str:
    """Section 2 of PlexSync.js, the trigger (its documents are checked against the schema)."""
    source = SCRIPT.read_text(encoding="utf-8")
    start = source.index(TRIGGER_MARK)
    return source[start:source.index("// 3. Sync to Plex", start)]


def trigger_documents() -> dict[str, str]:
    return dict(re.findall(r"const ([A-Z_]+_QUERY) = `([^`]*)`;", watch_section()))


@pytest.mark.browser
def test_opening_stash_runs_the_task_once_per_ten_minutes_per_browser(stash, tmp_path: Path) -> None:
    fake, base = stash
    _, events = run_page(f"{base}/stash/scenes?reload=1", tmp_path)

    assert {"loaded": "?reloaded=1"} in events  # the same browser opened Stash again
    runs = fake.posts("runPluginTask")
    assert len(runs) == 1, fake.requests  # one page load, two navigations, a second page load
    run = runs[0]
    assert run["path"] == "/stash/graphql"  # <base href> honoured
    assert run["body"]["variables"]["task_name"] == queries.WATCH_TASK == "Sync watch state"
    assert run["body"]["variables"]["plugin_id"] == "PlexSync"
    assert len(fake.posts("configuration")) == 1  # the setting is read once, before the task
    assert fake.posts("configuration")[0]["at"] <= run["at"]
    stamps = [e["stamp"] for e in events if "stamp" in e]
    assert stamps and all(s is not None for s in stamps)
    assert_request_valid(run["body"])
    assert_request_valid(fake.posts("configuration")[0]["body"])


@pytest.mark.browser
@pytest.mark.parametrize(("minutes_ago", "runs"), [(9, 0), (11, 1), (-60, 1)])
def test_the_browser_stamp_decides(stash, tmp_path: Path, minutes_ago: int, runs: int) -> None:
    """Asked 9 minutes ago: nothing; 11 minutes ago: again; a stamp in the future (the clock was
    set back) does not block for ever."""
    fake, base = stash
    run_page(f"{base}/stash/scenes?stamp={minutes_ago}", tmp_path)
    assert len(fake.posts("runPluginTask")) == runs, fake.requests
    assert len(fake.posts("configuration")) == runs


@pytest.mark.browser
@pytest.mark.parametrize("settings", [{"watch_state": "off"}, {}, {"watch_state": "sideways"}])
def test_no_task_while_watch_state_is_off(stash, tmp_path: Path, settings: dict) -> None:
    fake, base = stash
    fake.settings = {"plex_url": "http://plex:32400", **settings}
    run_page(f"{base}/stash/scenes", tmp_path)
    assert len(fake.posts("configuration")) == 1
    assert fake.posts("runPluginTask") == []


@pytest.mark.browser
def test_plex_to_stash_also_runs_it(stash, tmp_path: Path) -> None:
    fake, base = stash
    fake.settings["watch_state"] = "plex_to_stash"
    run_page(f"{base}/stash/", tmp_path)
    assert len(fake.posts("runPluginTask")) == 1


@pytest.mark.browser
def test_without_local_storage_once_per_page(stash, tmp_path: Path) -> None:
    fake, base = stash
    _, events = run_page(f"{base}/stash/scenes?nostorage=1", tmp_path)
    assert {"stamp": "unavailable"} in events
    assert len(fake.posts("runPluginTask")) == 1  # not once per navigation


@pytest.mark.browser
def test_the_trigger_needs_no_react(stash, tmp_path: Path) -> None:
    """The page's PluginApi here has events but no React: the scene buttons are off (and say
    so), the trigger still runs, with the task document the button uses."""
    fake, base = stash
    _, events = run_page(f"{base}/stash/scenes", tmp_path)
    [task] = fake.posts("runPluginTask")
    assert task["body"]["variables"]["task_name"] == queries.WATCH_TASK
    assert_request_valid(task["body"])
    assert any("scene page buttons are off" in e.get("text", "") for e in events if e.get("console") == "warn"), events


def test_trigger_documents_match_stash_schema() -> None:
    from graphql import parse, validate

    docs = trigger_documents()
    assert set(docs) == {"WATCH_SETTING_QUERY"}
    assert validate(stash_schema(), parse(docs["WATCH_SETTING_QUERY"])) == []
    assert_request_valid({"query": docs["WATCH_SETTING_QUERY"], "variables": {"include": ["PlexSync"]}})
