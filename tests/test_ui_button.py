"""The scene page's PlexSync controls (PlexSync.js) in real headless Chromium: the *Sync to Plex*
icon button and the *Open in Plex* link in Stash's scene toolbar, Stash's own toasts.

The page is the Stash UI stand-in (tests/standins/stash_ui.py: real React, react-bootstrap,
Bootstrap and Font Awesome at Stash's versions, the scene toolbar's structure, class names and
sizes). Here it is served under a sub-path with ``<base href="/stash/">`` (Stash behind a
reverse proxy) by a small scripted GraphQL endpoint that records every request and can fail on
purpose; tests/test_ui_scene_page_e2e.py runs the same page against FakeStash and the real
plugin. The GraphQL documents in PlexSync.js are validated against Stash's real schema too.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.browser import HARNESS, WIDTHS, console_errors, run_page, steps, toasts
from tests.standins import stash_ui

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "PlexSync.js"
SCHEMA_DIR = REPO.parent / "shared" / "stash-schema"

# Markup that would run if any message reached innerHTML: it sets the title and adds a marker.
XSS = "<img src=x onerror=\"document.title='pwned';document.body.dataset.pwned='1'\">"
LINK_42 = "https://app.plex.tv/desktop/#!/server/0123456789abcdef0123456789abcdef01234567/details?key=%2Flibrary%2Fmetadata%2F4242"
NOT_SYNCED = {"url": None, "state": "not_synced", "detail": None, "synced_at": None, "no_link": "not synced yet"}
SYNCED_42 = {"url": LINK_42, "state": "synced", "detail": None, "synced_at": 1767225600.0}
ICON_SYNC, ICON_FAILED, ICON_OPEN = "arrows-rotate", "triangle-exclamation", "arrow-up-right-from-square"
GREEN, RED = "rgb(15, 153, 96)", "rgb(219, 55, 55)"


@dataclass
class ScriptedStash:
    """Stash's GraphQL endpoint as a script: what each call answers, and what it received."""

    mutation: str = "ok"  # runPluginTask: ok | gql_error | http_500 | network
    job_states: list[tuple[str, str | None]] = field(
        default_factory=lambda: [("RUNNING", None), ("FINISHED", None)]
    )
    # runPluginOperation per scene: the answers in turn (the last one repeats); a string is a
    # GraphQL error with that message.
    statuses: dict[str, list[dict | str]] = field(default_factory=dict)
    harness: str = ""
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, word: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if word in r["body"].get("query", ""))

    def answer_graphql(self, body: dict) -> tuple[int, bytes] | None:
        """Returns (status, JSON bytes), or None to drop the connection unanswered."""
        query = body.get("query") or ""
        if "runPluginOperation" in query:
            args = body["variables"]["args"]
            answers = self.statuses.get(str(args.get("scene_id")), [NOT_SYNCED])
            calls = sum(1 for r in self.requests if "runPluginOperation" in r["body"].get("query", "")
                        and r["body"]["variables"]["args"].get("scene_id") == args.get("scene_id"))
            answer = answers[min(calls, len(answers)) - 1]
            if isinstance(answer, str):
                return 200, json.dumps({"errors": [{"message": answer}], "data": None}).encode()
            output = {"scene_id": str(args.get("scene_id")), **answer}
            return 200, json.dumps({"data": {"runPluginOperation": output}}).encode()
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
            polls = self._count("findJob")
            status, error = self.job_states[min(polls, len(self.job_states)) - 1]
            job = {"id": body["variables"]["id"], "status": status, "progress": None, "error": error}
            return 200, json.dumps({"data": {"findJob": job}}).encode()
        return 400, json.dumps({"errors": [{"message": "unexpected document"}]}).encode()


def make_handler(fake: ScriptedStash) -> type[BaseHTTPRequestHandler]:
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
            reply = None
            if path.startswith("/stash/"):  # the proxy strips its prefix
                reply = stash_ui.serve(path[len("/stash"):], plugin_dir=REPO, plugin_id="PlexSync",
                                       base_href="/stash/", harness=fake.harness)
            if reply is None:
                self._send(404, "text/plain", b"not here")
                return
            status, ctype, data = reply
            self._send(status, ctype, data, cookie=ctype.startswith("text/html"))

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            with fake.lock:
                fake.requests.append({"path": self.path, "body": body,
                                      "content_type": self.headers.get("Content-Type"),
                                      "cookie": self.headers.get("Cookie")})
            if self.path != "/stash/graphql":
                self._send(404, "text/plain", b"wrong path")
                return
            answer = fake.answer_graphql(body)
            if answer is None:
                self.close_connection = True
                return
            status, data = answer
            self._send(status, "application/json" if data.startswith(b"{") else "text/plain", data)

    return Handler


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedStash, str]]:
    fake = ScriptedStash()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def posts(fake: ScriptedStash, name: str) -> list[dict]:
    return [r for r in fake.requests if name in r["body"].get("query", "")]


def assert_no_injected_markup(dom: str) -> None:
    assert "<title>pwned</title>" not in dom
    assert 'data-pwned="1"' not in dom
    assert "<img" not in dom, "a message became markup"


# A click once the button is there; records the button after the last toast.
CLICK = HARNESS + r"""
whenTrue(() => controls().length === 1, () => {
  rec({ step: "before", controls: controls() });
  document.querySelector(".plexsync-sync button").click();
  rec({ step: "clicked", controls: controls() });
  setTimeout(() => rec({ step: "after", controls: controls(), links: links() }), 12000);
});
"""


@pytest.mark.browser
def test_click_queues_the_task_and_reports_in_stash_toasts(scripted, tmp_path):
    fake, base = scripted
    fake.harness = CLICK
    fake.statuses["42"] = [NOT_SYNCED, SYNCED_42]  # bound by this sync
    dom, events = run_page(f"{base}/stash/scenes/42", tmp_path)

    (run,) = posts(fake, "runPluginTask")
    assert run["path"] == "/stash/graphql"  # <base href> honoured, not /graphql
    assert run["content_type"] == "application/json"
    assert run["cookie"] and "session=page-session" in run["cookie"]  # same-origin credentials
    assert run["body"]["variables"] == {
        "plugin_id": "PlexSync", "task_name": "Re-sync scenes",
        "description": "Sync scene 42 to Plex", "args_map": {"scene_id": "42"},
    }
    polls = posts(fake, "findJob")
    assert len(polls) == 2  # RUNNING, then FINISHED: polling stops at the end state
    assert all(p["body"]["variables"] == {"id": "7"} for p in polls)
    # Asked on page open, and again after the job to learn whether the sync worked.
    asked = [p["body"]["variables"] for p in posts(fake, "runPluginOperation")]
    assert asked == [{"plugin_id": "PlexSync", "args": {"mode": "scene_status", "scene_id": "42"}}] * 2

    shown = toasts(events)
    assert [(t["variant"], t["toast"]) for t in shown] == [
        ("success", "PlexSync: scene 42 queued (job 7)"),
        ("success", "PlexSync: scene 42 synced to Plex"),
    ]
    for toast in shown:  # Stash's own toast: its container, one line high
        assert toast["inContainer"] and toast["height"] < 60, toast
    at = steps(events)
    assert at["before"]["controls"][0]["state"] == "idle"
    assert at["before"]["controls"][0]["text"] == ""  # an icon, no label
    assert at["clicked"]["controls"][0]["state"] == "busy"
    after = at["after"]["controls"][0]
    assert (after["state"], after["icon"], after["color"]) == ("synced", ICON_SYNC, GREEN)
    assert after["title"].startswith("Synced to Plex on ")
    assert at["after"]["links"][0]["href"] == LINK_42  # the link appears once the scene is bound
    assert console_errors(events) == []
    if SCHEMA_DIR.is_dir():  # the variables the page really sent coerce against the schema
        for request in posts(fake, "runPlugin") + polls:
            assert_request_valid(request["body"])


@pytest.mark.browser
def test_a_finished_job_whose_sync_failed_is_reported_as_failed(scripted, tmp_path):
    """Stash finishes a plugin task's job even when the task returned an error: the plugin's
    database says what happened."""
    fake, base = scripted
    fake.harness = CLICK
    review = {**NOT_SYNCED, "state": "review", "detail": f"2 Plex items could be {XSS}"}
    fake.statuses["42"] = [NOT_SYNCED, review]
    dom, events = run_page(f"{base}/stash/scenes/42", tmp_path)

    assert [(t["variant"], t["toast"], t["elements"]) for t in toasts(events)] == [
        ("success", "PlexSync: scene 42 queued (job 7)", 0),
        ("danger", f"PlexSync: scene 42 failed: 2 Plex items could be {XSS}", 0),
    ]
    after = steps(events)["after"]["controls"][0]
    assert (after["state"], after["icon"], after["color"]) == ("failed", ICON_FAILED, RED)
    assert XSS in after["title"]
    assert steps(events)["after"]["links"] == []
    assert_no_injected_markup(dom)


@pytest.mark.browser
def test_graphql_error_is_shown_escaped(scripted, tmp_path):
    fake, base = scripted
    fake.harness = CLICK
    fake.mutation = "gql_error"
    dom, events = run_page(f"{base}/stash/scenes/42", tmp_path)

    (shown,) = toasts(events)
    assert (shown["variant"], shown["toast"], shown["elements"]) == (
        "danger", f"PlexSync: plugin task {XSS} not found", 0)
    assert_no_injected_markup(dom)
    assert html.escape(XSS, quote=False) in dom  # still on screen, as text
    assert posts(fake, "findJob") == []  # nothing to follow without a job id
    assert steps(events)["after"]["controls"][0]["state"] == "failed"


@pytest.mark.browser
def test_failed_job_reports_its_error_escaped(scripted, tmp_path):
    fake, base = scripted
    fake.harness = CLICK
    fake.job_states = [("READY", None), ("RUNNING", None), ("FAILED", f"Plex said {XSS}")]
    dom, events = run_page(f"{base}/stash/scenes/42", tmp_path)

    assert [(t["variant"], t["toast"], t["elements"]) for t in toasts(events)] == [
        ("success", "PlexSync: scene 42 queued (job 7)", 0),
        ("danger", f"PlexSync: scene 42 failed: Plex said {XSS}", 0),
    ]
    assert len(posts(fake, "findJob")) == 3
    assert_no_injected_markup(dom)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("mode", "expected"),
    [("http_500", "PlexSync: HTTP 500"), ("network", "PlexSync: cannot reach Stash")],
)
def test_transport_errors_produce_an_error_toast(scripted, tmp_path, mode, expected):
    fake, base = scripted
    fake.harness = CLICK
    fake.mutation = mode
    _dom, events = run_page(f"{base}/stash/scenes/42", tmp_path)

    (shown,) = toasts(events)
    assert shown["variant"] == "danger"
    assert shown["toast"].startswith(expected), shown["toast"]
    assert posts(fake, "findJob") == []


MEASURE = HARNESS + r"""
whenTrue(() => controls().length === 1 && links().length === 1, () => {
  rec({ step: "measured", geometry: geometry(), controls: controls(), links: links() });
});
"""


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_the_controls_fit_the_toolbar_like_stashs_own_icons(scripted, tmp_path, width):
    """Icon buttons the size of Stash's organized button, on the toolbar's one line, inside it,
    before the ⋮ menu: at 1920 and 1280 px the toolbar is the 450 px column beside the player,
    where a text label wrapped onto three lines; at 800 px the page stacks."""
    fake, base = scripted
    fake.harness = MEASURE
    fake.statuses["42"] = [SYNCED_42]
    _dom, events = run_page(f"{base}/stash/scenes/42", tmp_path, width=width)

    measured = steps(events).get("measured")
    assert measured, events
    geo = measured["geometry"]
    assert geo["window"] == width
    organized, toolbar = geo["organized"], geo["toolbar"]
    own_tallest = max(geo["organized"]["height"], geo["operations"]["height"], geo["playCount"]["height"])
    assert toolbar["height"] - geo["toolbarPadding"] <= own_tallest + 1, geo  # still one line
    for name in ("sync", "open"):
        control = geo[name]
        assert abs(control["height"] - organized["height"]) <= 1, (name, geo)
        assert abs(control["top"] - organized["top"]) <= 1, (name, geo)
        assert control["width"] <= organized["width"] + 6, (name, geo)  # an icon, not a label
        assert toolbar["left"] <= control["left"] and control["right"] <= toolbar["right"], (name, geo)
        assert control["right"] <= geo["operations"]["left"], (name, geo)  # before the ⋮ menu
    assert all(g["scroll"] <= g["client"] for g in geo["groups"]), geo
    (sync,) = measured["controls"]
    assert (sync["text"], sync["icon"], sync["inLastGroup"]) == ("", ICON_SYNC, True)
    assert sync["state"] == "synced" and sync["title"].startswith("Synced to Plex on ")
    assert measured["links"] == [{"scene": "42", "href": LINK_42, "target": "_blank",
                                  "rel": "noopener noreferrer", "title": "Open in Plex (Plex Web, new tab)",
                                  "text": "", "icon": ICON_OPEN}]
    assert console_errors(events) == []


NAVIGATE = HARNESS + r"""
const one = (scene) => () => controls().length === 1 && controls()[0].scene === scene;
const snap = (step) => rec({ step, controls: controls(), links: links() });
const plan = [
  [() => one("42")() && links().length === 1, () => { snap("direct-url"); document.querySelector(".plexsync-sync").dataset.harnessMark = "1";
                      document.querySelector(".organized-button").click(); }],
  [() => document.querySelector(".organized-button.organized"), () => {
     snap("toolbar-rerendered"); H.navigate("/scenes/42"); H.navigate("/scenes/42"); }],
  [() => true, () => { snap("same-scene-again"); H.navigate("/scenes/43"); snap("43-loading"); }],
  [one("43"), () => { setTimeout(() => { snap("43"); H.navigate("/scenes"); }, 500); }],
  [() => document.querySelector(".standin-page"), () => { snap("list"); H.navigate("/scenes/44"); H.navigate("/scenes/45"); }],
  [one("45"), () => { setTimeout(() => { snap("45"); H.navigate("/performers/3"); }, 500); }],
  [() => document.querySelector(".standin-page"), () => { snap("performer"); history.back(); }],
  [one("45"), () => { setTimeout(() => snap("back"), 500); }],
];
(function next(i) {
  if (i >= plan.length) return;
  const [ready, act] = plan[i];
  whenTrue(ready, () => { act(); setTimeout(() => next(i + 1), 50); }, `step ${i}`);
})(0);
"""


@pytest.mark.browser
def test_navigation_and_rerenders_keep_exactly_one_button(scripted, tmp_path):
    fake, base = scripted
    fake.harness = NAVIGATE
    fake.statuses["42"] = [SYNCED_42]
    _dom, events = run_page(f"{base}/stash/scenes/42", tmp_path)

    at = steps(events)
    assert not [e for e in events if "timeout" in e], events

    def scenes(step: str) -> list[str]:
        return [c["scene"] for c in at[step]["controls"]]

    assert scenes("direct-url") == ["42"] and at["direct-url"]["links"][0]["href"] == LINK_42
    # React keeps the same button through a toolbar re-render and a repeated navigation.
    assert at["toolbar-rerendered"]["controls"][0]["kept"] is True
    assert at["same-scene-again"]["controls"][0]["kept"] is True
    assert len(at["43-loading"]["controls"]) == 1  # Stash shows the old scene until the new loads
    assert scenes("43") == ["43"] and at["43"]["controls"][0]["kept"] is False
    assert at["43"]["links"] == []  # 43 is not bound: no link, and 42's is gone
    assert scenes("list") == [] and at["list"]["links"] == []
    assert scenes("45") == ["45"]  # 44 was left before it loaded
    assert scenes("performer") == []
    assert scenes("back") == ["45"]
    asked = [p["body"]["variables"]["args"]["scene_id"] for p in posts(fake, "runPluginOperation")]
    assert asked == ["42", "43", "45", "45"]
    assert posts(fake, "runPluginTask") == []  # navigation alone never starts a sync
    assert console_errors(events) == []


OPEN_STATE = HARNESS + r"""
whenTrue(() => controls().length === 1 && controls()[0].state !== "idle", () => {
  setTimeout(() => rec({ step: "open", controls: controls(), links: links() }), 300);
});
"""


@pytest.mark.browser
def test_page_open_shows_the_scenes_state_and_only_plex_web_links(scripted, tmp_path):
    fake, base = scripted
    fake.harness = OPEN_STATE
    fake.statuses["42"] = [{**NOT_SYNCED, "url": "javascript:alert(1)", "state": "failed",
                            "detail": "not found in Plex"}]
    _dom, events = run_page(f"{base}/stash/scenes/42", tmp_path)

    opened = steps(events)["open"]
    (control,) = opened["controls"]
    assert (control["state"], control["icon"], control["color"]) == ("failed", ICON_FAILED, RED)
    assert control["title"] == "Sync to Plex failed: not found in Plex. Click to try again."
    assert opened["links"] == []  # never a link that is not Plex Web's


@pytest.mark.browser
def test_a_plugin_that_cannot_answer_leaves_the_button_usable(scripted, tmp_path):
    fake, base = scripted
    fake.harness = CLICK
    fake.statuses["42"] = ["plugin PlexSync is disabled", SYNCED_42]
    _dom, events = run_page(f"{base}/stash/scenes/42", tmp_path)

    assert steps(events)["before"]["controls"][0]["state"] == "idle"
    assert [t["toast"] for t in toasts(events)][-1] == "PlexSync: scene 42 synced to Plex"
    assert any("plugin PlexSync is disabled" in e.get("text", "") for e in events if e.get("console") == "warn")


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
    assert set(docs) == {"RUN_TASK_MUTATION", "RUN_OPERATION_MUTATION", "FIND_JOB_QUERY", "WATCH_SETTING_QUERY"}
    schema = stash_schema()
    for name, text in docs.items():
        errors = validate(schema, parse(text))
        assert errors == [], f"{name}: {errors}"
    assert "args_map: $args_map" in docs["RUN_TASK_MUTATION"]
    assert "runPluginOperation(plugin_id: $plugin_id, args: $args)" in docs["RUN_OPERATION_MUTATION"]
    assert "findJob(input:" in docs["FIND_JOB_QUERY"]


def test_js_variables_coerce_against_schema():
    """The variable shapes the script builds are accepted by the real argument types."""
    docs = js_documents()
    stash_schema()
    assert_request_valid({"query": docs["RUN_TASK_MUTATION"], "variables": {
        "plugin_id": "PlexSync", "task_name": "Re-sync scenes", "description": "Sync scene 1 to Plex",
        "args_map": {"scene_id": "1"}}})
    assert_request_valid({"query": docs["RUN_OPERATION_MUTATION"], "variables": {
        "plugin_id": "PlexSync", "args": {"mode": "scene_status", "scene_id": "1"}}})
    assert_request_valid({"query": docs["FIND_JOB_QUERY"], "variables": {"id": "7"}})


def test_schema_check_catches_a_wrong_field():
    """Guards the guard: a document using a field Stash lacks must fail validation."""
    from graphql import parse, validate

    schema = stash_schema()
    bad = js_documents()["FIND_JOB_QUERY"].replace("status", "state")
    assert validate(schema, parse(bad)) != []
