"""The scene-page "Sync to Plex" button (PlexSync.js), exercised in real headless Chromium.

A small HTTP server on 127.0.0.1 plays Stash: it serves a scene page under a sub-path with
`<base href="/stash/">` (Stash behind a reverse proxy), a stand-in for the bits of
`window.PluginApi` the script uses, the real PlexSync.js, and a `/stash/graphql` endpoint that
records every request. A harness script in the page clicks the button and writes what it saw
(toasts, buttons) into a `<pre>` as JSON; Chromium's `--dump-dom` after a virtual-time budget
hands that page back to the test. The GraphQL documents in PlexSync.js are also validated
against Stash's real schema, so a renamed field fails here rather than in a user's browser.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "PlexSync.js"
SCHEMA_DIR = REPO.parent / "shared" / "stash-schema"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# Markup that would run if any message reached innerHTML: it sets the title and adds a marker.
XSS = "<img src=x onerror=\"document.title='pwned';document.body.dataset.pwned='1'\">"

# The page stands in for Stash's scene page. The toolbar groups appear only after a delay, the
# way React renders them after the scene query, so the script must wait for them.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><base href="/stash/"><title>Stash</title></head>
<body>
<div id="root"><div class="scene-toolbar" id="toolbar"></div></div>
<pre id="harness-log">[]</pre>
<script>
(function () {
  const events = [];
  const logEl = document.getElementById("harness-log");
  function record(entry) { events.push(entry); logEl.textContent = JSON.stringify(events); }
  window.__record = record;

  const target = new EventTarget();
  window.PluginApi = {
    Event: {
      addEventListener: (type, fn) => target.addEventListener(type, fn),
      removeEventListener: (type, fn) => target.removeEventListener(type, fn),
    },
  };
  // What Stash's router does on navigation: the pathname it reports is router-relative.
  window.__navigate = function (routerPath) {
    history.pushState({}, "", "/stash" + routerPath);
    target.dispatchEvent(new CustomEvent("stash:location",
      { detail: { data: { location: { pathname: routerPath } } } }));
  };
  window.__renderToolbar = function () {
    const bar = document.getElementById("toolbar");
    bar.textContent = "";
    for (const label of ["rating", "operations"]) {
      const group = document.createElement("span");
      group.className = "scene-toolbar-group";
      group.dataset.group = label;
      bar.appendChild(group);
    }
  };
  window.__clearToolbar = function () { document.getElementById("toolbar").textContent = ""; };
  window.__buttons = function () {
    return Array.from(document.querySelectorAll(".plexsync-sync")).map((el) => ({
      scene: el.dataset.sceneId,
      group: el.parentElement && el.parentElement.dataset.group,
      label: el.textContent,
      kept: el.dataset.harnessMark === "1",
    }));
  };

  // Every toast the script shows, even ones that fade before the DOM is dumped.
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      for (const node of m.addedNodes) {
        if (node.nodeType === 1 && node.classList.contains("plexsync-toast")) {
          record({ toast: node.textContent, kind: node.dataset.kind,
                   elements: node.querySelectorAll("*").length });
        }
      }
    }
  }).observe(document.body, { childList: true, subtree: true });

  setTimeout(window.__renderToolbar, 200);

  const params = new URLSearchParams(location.search);
  if (params.get("autoclick") === "1") {
    let clicked = false;
    const tryClick = () => {
      const button = document.querySelector(".plexsync-sync button");
      if (button && !clicked) {
        clicked = true;
        record({ clicked: button.closest(".plexsync-sync").dataset.sceneId });
        button.click();
      }
    };
    new MutationObserver(tryClick).observe(document.body, { childList: true, subtree: true });
  }
  if (params.get("scenario") === "nav") {
    const steps = [
      [600, () => record({ step: "loaded", buttons: __buttons() })],
      [650, () => { document.querySelector(".plexsync-sync").dataset.harnessMark = "1"; }],
      [700, () => { __navigate("/scenes/42"); __navigate("/scenes/42"); }],
      [900, () => record({ step: "repeat", buttons: __buttons() })],
      [1000, () => { __clearToolbar(); __navigate("/scenes/43"); }],
      [1100, () => record({ step: "43-before-toolbar", buttons: __buttons() })],
      [1200, () => __renderToolbar()],
      [1400, () => record({ step: "43", buttons: __buttons() })],
      [1500, () => __navigate("/scenes/43/")],
      [1600, () => record({ step: "43-again", buttons: __buttons() })],
      [1700, () => { __clearToolbar(); __navigate("/scenes"); }],
      [1800, () => { __renderToolbar(); }],
      [1900, () => record({ step: "list", buttons: __buttons() })],
      [2000, () => { __clearToolbar(); __navigate("/scenes/46"); __navigate("/scenes/47"); }],
      [2200, () => __renderToolbar()],
      [2400, () => record({ step: "47", buttons: __buttons() })],
      [2500, () => { __navigate("/scenes/48"); __navigate("/scenes/49"); }],
      [2600, () => record({ step: "49", buttons: __buttons() })],
      [2700, () => { __navigate("/performers/3"); }],
      [2800, () => record({ step: "performer", buttons: __buttons() })],
    ];
    for (const [at, fn] of steps) setTimeout(fn, at);
  }
})();
</script>
<script src="plugin/PlexSync/javascript"></script>
</body></html>
"""


@dataclass
class FakeStash:
    """Behaviour of the stand-in GraphQL endpoint, plus what it received."""

    mutation: str = "ok"  # ok | gql_error | http_500 | network
    job_states: list[tuple[str, str | None]] = field(
        default_factory=lambda: [("RUNNING", None), ("FINISHED", None)]
    )
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_graphql(self, body: dict) -> tuple[int, bytes] | None:
        """Returns (status, JSON bytes), or None to drop the connection unanswered."""
        query = body.get("query") or ""
        if "runPluginTask" in query:
            if self.mutation == "network":
                return None
            if self.mutation == "http_500":
                return 500, b"upstream exploded"
            if self.mutation == "gql_error":
                msg = f"plugin task {XSS} not found"
                return 422, json.dumps({"errors": [{"message": msg}], "data": None}).encode()
            return 200, json.dumps({"data": {"runPluginTask": "7"}}).encode()
        if "findJob" in query:
            with self.lock:
                polls = sum(1 for r in self.requests if "findJob" in r["body"].get("query", ""))
            status, error = self.job_states[min(polls, len(self.job_states)) - 1]
            job = {
                "id": body["variables"]["id"],
                "status": status,
                "progress": None,
                "error": error,
            }
            return 200, json.dumps({"data": {"findJob": job}}).encode()
        return 400, json.dumps({"errors": [{"message": "unexpected document"}]}).encode()


def make_handler(fake: FakeStash) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, ctype: str, data: bytes, cookie: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            if cookie:
                self.send_header("Set-Cookie", "session=page-session; Path=/stash/")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/stash/plugin/PlexSync/javascript":
                self._send(200, "text/javascript", SCRIPT.read_bytes())
            elif path.startswith("/stash/"):
                self._send(200, "text/html; charset=utf-8", PAGE.encode(), cookie=True)
            else:
                self._send(404, "text/plain", b"not here")

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            with fake.lock:
                fake.requests.append(
                    {
                        "path": self.path,
                        "body": body,
                        "content_type": self.headers.get("Content-Type"),
                        "cookie": self.headers.get("Cookie"),
                    }
                )
            if self.path != "/stash/graphql":
                self._send(404, "text/plain", b"wrong path")
                return
            answer = fake.answer_graphql(body)
            if answer is None:
                self.close_connection = True
                return
            status, data = answer
            ctype = "application/json" if data.startswith(b"{") else "text/plain"
            self._send(status, ctype, data)

    return Handler


@pytest.fixture
def fake_stash() -> Iterator[tuple[FakeStash, str]]:
    fake = FakeStash()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


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


def run_page(url: str, tmp_path: Path, budget_ms: int = 15000) -> tuple[str, list[dict]]:
    """Loads url in headless Chromium; returns the dumped DOM and the harness events."""
    if not chromium_available():
        pytest.skip(f"headless Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        url,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    dom = proc.stdout
    assert "<html" in dom, f"Chromium dumped no DOM (rc={proc.returncode}): {proc.stderr[-2000:]}"
    parser = _LogExtractor()
    parser.feed(dom)
    return dom, json.loads(parser.text)


def toasts(events: list[dict]) -> list[dict]:
    return [e for e in events if "toast" in e]


def graphql_posts(fake: FakeStash, name: str) -> list[dict]:
    return [r for r in fake.requests if name in r["body"].get("query", "")]


def assert_no_injected_markup(dom: str) -> None:
    assert "<title>pwned</title>" not in dom
    assert 'data-pwned="1"' not in dom
    assert "<img" not in dom, "a message became markup"


@pytest.mark.browser
def test_click_queues_task_with_scene_id_and_reports_synced(fake_stash, tmp_path):
    fake, base = fake_stash
    dom, events = run_page(f"{base}/stash/scenes/42?autoclick=1", tmp_path)

    assert {"clicked": "42"} in events
    runs = graphql_posts(fake, "runPluginTask")
    assert len(runs) == 1, fake.requests
    run = runs[0]
    assert run["path"] == "/stash/graphql"  # <base href> honoured, not /graphql
    assert run["content_type"] == "application/json"
    assert run["cookie"] and "session=page-session" in run["cookie"]  # same-origin credentials
    assert run["body"]["variables"] == {
        "plugin_id": "PlexSync",
        "task_name": "Re-sync scenes",
        "description": "Sync scene 42 to Plex",
        "args_map": {"scene_id": "42"},
    }
    assert re.search(r"runPluginTask\s*\(", run["body"]["query"])

    polls = graphql_posts(fake, "findJob")
    assert len(polls) == 2  # RUNNING, then FINISHED: polling stops at the end state
    assert all(p["body"]["variables"] == {"id": "7"} for p in polls)

    shown = [(t["kind"], t["toast"]) for t in toasts(events)]
    assert shown == [
        ("info", "PlexSync: Sync of scene 42 queued (job 7)."),
        ("success", "PlexSync: Synced scene 42 to Plex."),
    ]
    assert 'class="plexsync-sync"' in dom and "Sync to Plex" in dom

    if SCHEMA_DIR.is_dir():  # the variables the page really sent coerce against the schema
        for request in runs + polls:
            assert_request_valid(request["body"])


@pytest.mark.browser
def test_graphql_error_is_shown_escaped(fake_stash, tmp_path):
    fake, base = fake_stash
    fake.mutation = "gql_error"
    dom, events = run_page(f"{base}/stash/scenes/42?autoclick=1", tmp_path)

    shown = toasts(events)
    assert len(shown) == 1, events
    assert shown[0]["kind"] == "error"
    assert shown[0]["toast"] == f"PlexSync: Failed: plugin task {XSS} not found"
    assert shown[0]["elements"] == 0
    assert_no_injected_markup(dom)
    # Error toasts stay on screen, as escaped text.
    assert html.escape(XSS, quote=False) in dom
    assert graphql_posts(fake, "findJob") == []  # nothing to follow without a job id


@pytest.mark.browser
def test_failed_job_reports_its_error_escaped(fake_stash, tmp_path):
    fake, base = fake_stash
    fake.job_states = [("READY", None), ("RUNNING", None), ("FAILED", f"Plex said {XSS}")]
    dom, events = run_page(f"{base}/stash/scenes/42?autoclick=1", tmp_path)

    shown = [(t["kind"], t["toast"], t["elements"]) for t in toasts(events)]
    assert shown == [
        ("info", "PlexSync: Sync of scene 42 queued (job 7).", 0),
        ("error", f"PlexSync: Failed: Plex said {XSS}", 0),
    ]
    assert len(graphql_posts(fake, "findJob")) == 3
    assert_no_injected_markup(dom)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("http_500", "PlexSync: Failed: HTTP 500"),
        ("network", "PlexSync: Failed: cannot reach Stash"),
    ],
)
def test_transport_errors_produce_error_toast(fake_stash, tmp_path, mode, expected):
    fake, base = fake_stash
    fake.mutation = mode
    _dom, events = run_page(f"{base}/stash/scenes/42?autoclick=1", tmp_path)

    shown = toasts(events)
    assert len(shown) == 1, events
    assert shown[0]["kind"] == "error"
    assert shown[0]["toast"].startswith(expected), shown[0]["toast"]
    assert graphql_posts(fake, "findJob") == []


@pytest.mark.browser
def test_button_follows_navigation_without_duplicates(fake_stash, tmp_path):
    fake, base = fake_stash
    _dom, events = run_page(f"{base}/stash/scenes/42?scenario=nav", tmp_path)

    steps = {e["step"]: e["buttons"] for e in events if "step" in e}

    def one(scene: str, kept: bool = False) -> list[dict]:
        return [{"scene": scene, "group": "operations", "label": "Sync to Plex", "kept": kept}]

    assert steps["loaded"] == one("42")  # initial load, toolbar rendered late
    assert steps["repeat"] == one("42", kept=True)  # repeated events keep the same button
    assert steps["43-before-toolbar"] == []  # old scene's button gone at once
    assert steps["43"] == one("43")
    assert steps["43-again"] == one("43")
    assert steps["list"] == []  # not a scene page
    assert steps["47"] == one("47")  # a stale wait for 46 must not win
    assert steps["49"] == one("49")  # nor one that found the toolbar at once
    assert steps["performer"] == []
    # Navigation alone never calls Stash (the watch-state trigger at the end of PlexSync.js reads
    # its setting once per page: test_ui_watch_trigger.py covers it).
    assert [r for r in fake.requests if "PlexSyncWatch" not in r["body"].get("query", "")] == []


# --- GraphQL documents against Stash's real schema -------------------------------------------


def js_documents() -> dict[str, str]:
    """Every `const NAME = `...`;` GraphQL document in PlexSync.js."""
    source = SCRIPT.read_text(encoding="utf-8")
    found = re.findall(r"const ([A-Z_]+(?:MUTATION|QUERY)) = `([^`]*)`;", source)
    return dict(found)


def stash_schema():
    graphql = pytest.importorskip("graphql")
    if not SCHEMA_DIR.is_dir():
        pytest.skip(f"Stash schema not found at {SCHEMA_DIR}")
    sdl = "\n".join(p.read_text(encoding="utf-8") for p in sorted(SCHEMA_DIR.rglob("*.graphql")))
    return graphql.build_schema(sdl)


def assert_request_valid(body: dict) -> None:
    """The document validates and the variables coerce, as Stash's server would check them."""
    from graphql import OperationDefinitionNode, parse, validate
    from graphql.execution.values import get_variable_values

    schema = stash_schema()
    document = parse(body["query"])
    assert validate(schema, document) == []
    (operation,) = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    coerced = get_variable_values(schema, operation.variable_definitions, body["variables"])
    assert not isinstance(coerced, list), coerced  # a list means coercion errors


def test_js_graphql_documents_match_stash_schema():
    from graphql import parse, validate

    docs = js_documents()
    assert set(docs) == {"RUN_TASK_MUTATION", "FIND_JOB_QUERY"}
    schema = stash_schema()
    for name, text in docs.items():
        errors = validate(schema, parse(text))
        assert errors == [], f"{name}: {errors}"
    assert "args_map: $args_map" in docs["RUN_TASK_MUTATION"]
    assert "findJob(input:" in docs["FIND_JOB_QUERY"]


def test_js_variables_coerce_against_schema():
    """The variable shapes the script builds are accepted by the real argument types."""
    docs = js_documents()
    stash_schema()
    assert_request_valid(
        {
            "query": docs["RUN_TASK_MUTATION"],
            "variables": {
                "plugin_id": "PlexSync",
                "task_name": "Re-sync scenes",
                "description": "Sync scene 1 to Plex",
                "args_map": {"scene_id": "1"},
            },
        }
    )
    assert_request_valid({"query": docs["FIND_JOB_QUERY"], "variables": {"id": "7"}})


def test_schema_check_catches_a_wrong_field():
    """Guards the guard: a document using a field Stash lacks must fail validation."""
    from graphql import parse, validate

    schema = stash_schema()
    bad = js_documents()["FIND_JOB_QUERY"].replace("status", "state")
    assert validate(schema, parse(bad)) != []
