"""The Stash stand-in's own behaviour: if these drift from Stash, every plugin test lies.

A throwaway probe plugin (written into tmp_path) records what it was given, so nothing here
depends on PlexSync.py.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
import venv
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.standins.fake_stash import (
    DEFAULT_SCENE_IMAGE,
    FakeStash,
    StashGraphQLError,
    cover_data_url,
    default_cover,
    default_performer_image,
    format_stash_time,
)
from tests.standins.plugin_runner import (
    MAX_STDERR_LINE_BYTES,
    ManifestError,
    PluginRun,
    assert_stdout_contract,
    go_json,
    hook_context,
    load_manifest,
    parse_plugin_output,
    parse_stderr,
    yml_files,
)

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 11, 7, 7, 53, tzinfo=timezone.utc).timestamp()
HOOK_SLEEP = 0.2

PROBE_YML = """\
name: Probe Plugin
description: Records what Stash hands a plugin
version: 0.1.0
exec:
  - python
  - "{pluginDir}/probe.py"
interface: raw
errLog: warning
hooks:
  - name: Probe hook
    description: every trigger PlexSync uses
    triggeredBy:
      - Scene.Create.Post
      - Scene.Update.Post
      - Scene.Destroy.Post
      - Performer.Update.Post
      - Studio.Update.Post
      - Tag.Update.Post
      - Group.Update.Post
      - Movie.Update.Post
    defaultArgs:
      mode: sleep
      seconds: "HOOK_SLEEP"
tasks:
  - name: Echo
    description: echo the args
    defaultArgs:
      mode: echo
      flavour: vanilla
      dry_run: true
  - name: Sleep
    description: hold the queue
    defaultArgs:
      mode: sleep
      seconds: "0.3"
  - name: Logs
    description: write every log level
    defaultArgs:
      mode: logs
  - name: With exec args
    description: execArgs are appended
    execArgs:
      - --flag
      - "{pluginDir}/extra"
    defaultArgs:
      mode: echo
""".replace("HOOK_SLEEP", str(HOOK_SLEEP))

PROBE_PY = r"""
import hashlib, importlib.util, json, os, sys, time, urllib.request

raw = sys.stdin.buffer.read()
doc = json.loads(raw)
conn = doc["server_connection"]
args = doc.get("args") or {}
seen = os.path.join(conn["PluginDir"], "seen")
os.makedirs(seen, exist_ok=True)
name = "%d-%d" % (time.time_ns(), os.getpid())
with open(os.path.join(seen, name), "wb") as fh:
    fh.write(raw)
info = {"cwd": os.getcwd(), "pythonpath": os.environ.get("PYTHONPATH", ""), "argv": sys.argv[1:],
        "stdin_file": name, "executable": sys.executable, "prefix": sys.prefix}


def gql(query, variables=None):
    host = "127.0.0.1" if conn["Host"] in ("0.0.0.0", "") else conn["Host"]
    url = "%s://%s:%s/graphql" % (conn["Scheme"], host, conn["Port"])
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    headers = {"Content-Type": "application/json",
               "Cookie": "session=" + conn["SessionCookie"]["Value"]}
    with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=30) as resp:
        return json.load(resp)


hc = args.get("hookContext") or {}
if hc.get("type") == "Scene.Create.Post":
    # What a plugin sees of the cover from its Create hook.
    found = gql("query($id: ID!) { findScene(id: $id) { paths { screenshot } } }", {"id": str(hc["id"])})
    shot = urllib.request.Request(found["data"]["findScene"]["paths"]["screenshot"],
                                  headers={"Cookie": "session=" + conn["SessionCookie"]["Value"]})
    with urllib.request.urlopen(shot, timeout=30) as resp:
        info["cover_md5"] = hashlib.md5(resp.read()).hexdigest()
if args.get("find"):
    info["found"] = importlib.util.find_spec(args["find"]) is not None
if isinstance(hc.get("input"), dict) and hc["input"].get("title") == "loop":
    gql("mutation($i: SceneUpdateInput!) { sceneUpdate(input: $i) { id } }",
        {"i": {"id": str(hc["id"]), "title": "loop"}})
mode = args.get("mode", "echo")
if mode == "sleep":
    time.sleep(float(args.get("seconds", "0.2")))
elif mode == "logs":
    sys.stderr.write("\x01t\x02 trace msg \n\x01d\x02debug msg\r\n\x01i\x02info msg\n\n"
                     "\x01w\x02warn msg\n\x01e\x02error msg\n\x01p\x020.25\n\x01p\x021\n"
                     "plain line\n\x01x\x02unknown level\n\x01i\x02\n")
    sys.stderr.flush()
elif mode == "gql":
    info["reply"] = gql(args["query"], args.get("variables"))
elif mode == "gql_many":
    info["replies"] = [gql(query) for query in args["queries"]]
elif mode == "fail_exit":
    sys.stdout.write("partial")
    sys.exit(3)
elif mode == "fail_error":
    print(json.dumps({"output": None, "error": "boom"}))
    sys.exit(0)
elif mode == "garbage":
    print("hello")
print(json.dumps({"output": {"mode": mode, "info": info}, "error": None}))
"""


class FakeClock:
    """A settable clock so updated_at values are exact."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_probe_plugin(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "probePlugin.yml").write_text(PROBE_YML, encoding="utf-8")
    (folder / "probe.py").write_text(PROBE_PY, encoding="utf-8")
    return folder


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    return write_probe_plugin(tmp_path / "plugins" / "probe")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def stash(probe_dir: Path, tmp_path: Path, clock: FakeClock) -> Iterator[FakeStash]:
    with FakeStash(
        probe_dir, clock=clock, stash_dir=tmp_path / "stash-home", process_timeout=60
    ) as fake:
        yield fake


def _stash_at(probe_dir: Path, tmp_path: Path, clock: FakeClock, offset: int) -> FakeStash:
    return FakeStash(
        probe_dir, clock=clock, tz_offset_minutes=offset, stash_dir=tmp_path / f"home{offset}"
    )


def _found(object_id: str | None) -> str:
    """The id of a performer, tag, studio or group the test created (so it must be found)."""
    assert object_id is not None
    return object_id


def _context(run: PluginRun) -> dict[str, Any]:
    """A hook run's hookContext: every hook run is given one."""
    context = run.hook_context
    assert context is not None, f"{run.kind} {run.name!r} has no hookContext"
    return context


def _ids(reply: dict) -> list[str]:
    assert "errors" not in reply, reply
    return [s["id"] for s in reply["data"]["findScenes"]["scenes"]]


SINCE = """
query($since: String!) {
  findScenes(scene_filter: {updated_at: {value: $since, modifier: GREATER_THAN}},
             filter: {per_page: -1, sort: "updated_at", direction: ASC}) { count scenes { id updated_at } }
}
"""


# ----------------------------------------------------------------------------- HTTP and auth


def test_graphql_and_screenshots_need_the_session_cookie(stash: FakeStash) -> None:
    scene_id = stash.add_scene("A", ["/v/a.mp4"])
    query = "query($id: ID!) { findScene(id: $id) { id paths { screenshot } } }"
    assert stash.graphql_http(query, {"id": scene_id}, cookie=None)[0] == 401
    assert stash.graphql_http(query, {"id": scene_id}, cookie="forged")[0] == 401
    status, reply = stash.graphql_http(query, {"id": scene_id})
    assert status == 200
    url = reply["data"]["findScene"]["paths"]["screenshot"]
    # The base URL is the request's own Host, with no apikey appended.
    assert url.startswith(f"http://127.0.0.1:{stash.port}/scene/{scene_id}/screenshot?t=")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(url, timeout=10)
    assert denied.value.code == 401
    request = urllib.request.Request(url, headers={"Cookie": f"session={stash.session_value}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == stash.cover(scene_id)


def test_cover_change_changes_bytes_and_screenshot_stamp(
    stash: FakeStash, clock: FakeClock
) -> None:
    scene_id = stash.add_scene("A", ["/v/a.mp4"])
    other = stash.add_scene("B", ["/v/b.mp4"])
    before_url = stash.scene(scene_id)["paths"]["screenshot"]
    before = stash.cover(scene_id)
    assert before.startswith(b"\x89PNG") and before != stash.cover(other)
    clock.advance(5)
    stash.set_cover(scene_id, b"\xff\xd8new-cover")
    assert stash.cover(scene_id) == b"\xff\xd8new-cover"
    after_url = stash.scene(scene_id)["paths"]["screenshot"]
    assert after_url != before_url and after_url.endswith(f"t={int(T0) + 5}")
    # Through the UI path: cover_image as a data URL, which also fires the hook.
    stash.update_scene(scene_id, cover_image=cover_data_url(b"\x89PNGuploaded"))
    assert stash.cover(scene_id) == b"\x89PNGuploaded"
    assert [_context(r)["inputFields"] for r in stash.hook_runs()] == [["id", "cover_image"]]


# ----------------------------------------------------------------------------- timestamps


def test_updated_at_is_rfc3339_in_the_server_zone() -> None:
    assert format_stash_time(T0 + 0.9, 0) == "2026-01-11T07:07:53Z"
    assert format_stash_time(T0, 660) == "2026-01-11T18:07:53+11:00"
    assert format_stash_time(T0, -300) == "2026-01-11T02:07:53-05:00"
    assert format_stash_time(T0, 330) == "2026-01-11T12:37:53+05:30"


def test_every_edit_bumps_updated_at_but_plays_do_not(stash: FakeStash, clock: FakeClock) -> None:
    scene_id = stash.add_scene("A", ["/v/a.mp4"])
    assert stash.scene(scene_id)["updated_at"] == "2026-01-11T07:07:53Z"
    clock.advance(60)
    stash.update_scene(scene_id, title="B")
    assert stash.scene(scene_id)["updated_at"] == "2026-01-11T07:08:53Z"
    clock.advance(60)
    assert stash.silent_update(scene_id, tags=["Auto"]) == "2026-01-11T07:09:53Z"
    assert [t["name"] for t in stash.scene(scene_id)["tags"]] == ["Auto"]
    clock.advance(60)
    assert stash.add_play(scene_id) == 1
    assert stash.scene(scene_id)["updated_at"] == "2026-01-11T07:09:53Z"
    assert stash.scene(scene_id)["play_count"] == 1
    # Only the sceneUpdate fired a hook; Auto Tag and plays never do.
    assert len(stash.hook_runs()) == 1


def test_updated_at_filter_is_a_string_comparison_across_zones(
    probe_dir: Path, tmp_path: Path, clock: FakeClock
) -> None:
    """A UTC cursor against a +11:00 server includes older scenes; against -05:00 it misses edits."""
    with _stash_at(probe_dir, tmp_path, clock, 660) as east:
        clock.now = T0 - 7 * 60  # 07:00:53Z, stored as 18:00:53+11:00
        early = east.add_scene("early")
        clock.now = T0 + 5 * 3600  # 12:07:53Z, stored as 23:07:53+11:00
        late = east.add_scene("late")
        assert east.scene(early)["updated_at"] == "2026-01-11T18:00:53+11:00"
        # 10:00Z is after "early" happened, yet the string "…T18…" > "…T10…": Stash returns it.
        assert _ids(east.graphql(SINCE, {"since": "2026-01-11T10:00:00Z"})) == [early, late]
        # 19:00Z is after both edits; "…T23:07:53+11:00" still sorts after it, "…T18…" does not.
        assert _ids(east.graphql(SINCE, {"since": "2026-01-11T19:00:00Z"})) == [late]
        # A cursor Stash produced itself is exact; GREATER_THAN excludes the cursor's own scene.
        assert _ids(east.graphql(SINCE, {"since": east.scene(early)["updated_at"]})) == [late]
        # Same wall-clock digits with "Z": '+' (0x2B) sorts before 'Z' (0x5A), so no match.
        assert _ids(east.graphql(SINCE, {"since": "2026-01-11T23:07:53Z"})) == []
        assert _ids(east.graphql(SINCE, {"since": "2026-01-11T23:07:52Z"})) == [late]
    with _stash_at(probe_dir, tmp_path, clock, -300) as west:
        clock.now = T0 + 5 * 3600  # 12:07:53Z, stored as 07:07:53-05:00
        edited = west.add_scene("edited")
        assert west.scene(edited)["updated_at"] == "2026-01-11T07:07:53-05:00"
        # 10:00Z is before the edit, but "…T07…" < "…T10…": Stash misses it.
        assert _ids(west.graphql(SINCE, {"since": "2026-01-11T10:00:00Z"})) == []
        assert _ids(west.graphql(SINCE, {"since": "2026-01-11T07:00:00-05:00"})) == [edited]


def test_other_timestamp_modifiers(stash: FakeStash, clock: FakeClock) -> None:
    first = stash.add_scene("a")
    clock.advance(10)
    second = stash.add_scene("b")
    stamp = stash.scene(first)["updated_at"]
    query = """query($c: TimestampCriterionInput) {
      findScenes(scene_filter: {updated_at: $c}, filter: {sort: "id"}) { scenes { id } } }"""
    assert _ids(stash.graphql(query, {"c": {"value": stamp, "modifier": "EQUALS"}})) == [first]
    assert _ids(stash.graphql(query, {"c": {"value": stamp, "modifier": "LESS_THAN"}})) == []
    later = stash.scene(second)["updated_at"]
    between = {"value": stamp, "value2": later, "modifier": "BETWEEN"}
    assert _ids(stash.graphql(query, {"c": between})) == [first, second]


# ----------------------------------------------------------------------------- findScenes


def test_paging_follows_stash_rules(stash: FakeStash, clock: FakeClock) -> None:
    ids = []
    for n in range(30):
        ids.append(stash.add_scene(f"Scene {n}"))
        clock.advance(1)
    query = """query($f: FindFilterType) { findScenes(filter: $f) { count scenes { id } } }"""

    def page(**find: object) -> list[str]:
        reply = stash.graphql(query, {"f": {"sort": "id", **find}})
        assert reply["data"]["findScenes"]["count"] == 30
        return [s["id"] for s in reply["data"]["findScenes"]["scenes"]]

    assert page() == ids[:25]  # per_page defaults to 25
    assert page(page=2) == ids[25:]
    assert page(page=0) == ids[:25] and page(page=-4) == ids[:25]  # pages below 1 mean 1
    assert page(per_page=-1) == ids
    assert page(per_page=-1, page=3) == ids  # "all" ignores the page
    assert page(per_page=7, page=5) == ids[28:]
    assert page(per_page=10, page=4) == []
    assert page(per_page=10, direction="DESC")[:2] == [ids[29], ids[28]]


def test_sorting_uses_natural_title_tiebreak(stash: FakeStash, clock: FakeClock) -> None:
    # Same second: the updated_at sort ties and Stash's title tiebreak (always ASC) decides.
    c10 = stash.add_scene("clip 10")
    c9 = stash.add_scene("Clip 9")
    a = stash.add_scene("a")
    clock.advance(1)
    z = stash.add_scene("zzz")
    query = """query($s: String, $d: SortDirectionEnum) {
      findScenes(filter: {sort: $s, direction: $d, per_page: -1}) { scenes { id } } }"""
    assert _ids(stash.graphql(query, {"s": "updated_at", "d": "ASC"})) == [a, c9, c10, z]
    assert _ids(stash.graphql(query, {"s": "updated_at", "d": "DESC"})) == [z, a, c9, c10]
    assert _ids(stash.graphql(query, {"s": "title", "d": "ASC"})) == [a, c9, c10, z]
    assert _ids(stash.graphql(query, {"s": "id", "d": "DESC"})) == [z, a, c9, c10]
    assert "errors" in stash.graphql(query, {"s": "no_such_sort"})


def test_relation_filters(stash: FakeStash) -> None:
    one = stash.add_scene("one", performers=["Ann", "Bob"], tags=["x"], studio="S1")
    two = stash.add_scene("two", performers=["Bob"], tags=["x", "y"], studio="S2")
    three = stash.add_scene("three")
    ann, bob = stash.find_performer("Ann"), stash.find_performer("Bob")
    x, y = stash.find_tag("x"), stash.find_tag("y")
    s2 = stash.find_studio("S2")
    query = """query($f: SceneFilterType) {
      findScenes(scene_filter: $f, filter: {sort: "id", per_page: -1}) { count scenes { id } } }"""

    def ids(criteria: dict) -> list[str]:
        return _ids(stash.graphql(query, {"f": criteria}))

    assert ids({"performers": {"value": [ann], "modifier": "INCLUDES"}}) == [one]
    assert ids({"performers": {"value": [ann, bob], "modifier": "INCLUDES"}}) == [one, two]
    assert ids({"performers": {"value": [ann, bob], "modifier": "INCLUDES_ALL"}}) == [one]
    assert ids({"performers": {"value": [bob], "modifier": "EXCLUDES"}}) == [three]
    assert ids({"tags": {"value": [y], "modifier": "INCLUDES", "depth": 0}}) == [two]
    assert ids({"tags": {"value": [x], "modifier": "INCLUDES", "excludes": [y]}}) == [one]
    assert ids({"studios": {"value": [s2], "modifier": "INCLUDES"}}) == [two]
    assert ids({"studios": {"modifier": "IS_NULL"}}) == [three]
    reply = stash.graphql('{ findScenes(ids: ["2", "3"]) { count } }')
    assert reply["data"]["findScenes"]["count"] == 2


def test_scene_fields_shape(stash: FakeStash) -> None:
    scene_id = stash.add_scene(
        "Title",
        ["/media/a/file one.mp4", {"path": "/media/b/alt.mkv", "size": 5, "duration": 1.5}],
        details="d",
        date="2024-05-06",
        rating100=80,
        studio="Studio",
        performers=["P"],
        tags=["T"],
        groups=[("G", 2)],
        urls=["https://x"],
        code="C1",
        director="Dir",
        organized=True,
    )
    untitled = stash.add_scene(None, ["/m/u.mp4"])
    query = """query($id: ID!) { findScene(id: $id) {
      id title code details director date rating100 organized urls updated_at created_at
      files { path basename size duration } studio { id name } performers { id name }
      tags { id name } groups { group { id name } scene_index } paths { screenshot }
      play_count o_counter } }"""
    scene = stash.graphql(query, {"id": scene_id})["data"]["findScene"]
    assert scene["files"][0]["basename"] == "file one.mp4"
    assert scene["files"][1] == {
        "path": "/media/b/alt.mkv",
        "basename": "alt.mkv",
        "size": 5,
        "duration": 1.5,
    }
    assert scene["groups"] == [
        {"group": {"id": stash.find_group("G"), "name": "G"}, "scene_index": 2}
    ]
    assert (scene["studio"]["name"], scene["performers"][0]["name"], scene["tags"][0]["name"]) == (
        "Studio",
        "P",
        "T",
    )
    assert (scene["date"], scene["rating100"], scene["organized"], scene["urls"]) == (
        "2024-05-06",
        80,
        True,
        ["https://x"],
    )
    blank = stash.graphql(query, {"id": untitled})["data"]["findScene"]
    # Stash models keep these as Go strings: unset is "", while date and rating are null.
    assert (blank["title"], blank["details"], blank["date"], blank["rating100"]) == (
        "",
        "",
        None,
        None,
    )
    assert stash.graphql(query, {"id": "999"})["data"]["findScene"] is None


# ----------------------------------------------------------------------------- settings


def test_configure_plugin_replaces_the_whole_map(stash: FakeStash) -> None:
    query = "query($i: [ID!]) { configuration { plugins(include: $i) } }"
    assert stash.set_plugin_settings({"plex_url": "http://p", "strict": True}) == {
        "plex_url": "http://p",
        "strict": True,
    }
    assert stash.set_plugin_settings({"plex_token": "t"}) == {"plex_token": "t"}
    reply = stash.graphql(query, {"i": [stash.plugin_id]})
    assert reply["data"]["configuration"]["plugins"] == {stash.plugin_id: {"plex_token": "t"}}
    stash.graphql('mutation { configurePlugin(plugin_id: "gone", input: {a: 1}) }')
    everything = stash.graphql("{ configuration { plugins } }")["data"]["configuration"]["plugins"]
    assert everything == {stash.plugin_id: {"plex_token": "t"}, "gone": {"a": 1}}
    stash.set_plugin_settings({})
    # With include, an empty map is left out entirely.
    assert stash.graphql(query, {"i": [stash.plugin_id]})["data"]["configuration"]["plugins"] == {}
    assert stash.plugin_settings() == {}


# ----------------------------------------------------------------------------- hooks


def _stdin_of(run: PluginRun, plugin_dir: Path) -> bytes:
    output = run.output
    return (plugin_dir / "seen" / output["info"]["stdin_file"]).read_bytes()


def test_scene_update_hook_is_synchronous_with_exact_stdin(
    stash: FakeStash, probe_dir: Path
) -> None:
    scene_id = stash.add_scene("Old", ["/v/a.mp4"])
    mutation = """mutation($input: SceneUpdateInput!) { sceneUpdate(input: $input) { id title } }"""
    started = time.monotonic()
    status, reply = stash.graphql_http(
        mutation, {"input": {"id": int(scene_id), "title": "New", "rating100": 80}}
    )
    elapsed = time.monotonic() - started
    assert status == 200 and reply["data"]["sceneUpdate"]["title"] == "New"
    runs = stash.hook_runs()
    assert len(runs) == 1, "the hook must have finished before the mutation answered"
    run = runs[0]
    assert elapsed >= HOOK_SLEEP and run.finished_at <= time.time()
    assert run.args == {
        "mode": "sleep",
        "seconds": str(HOOK_SLEEP),
        "hookContext": {
            "id": int(scene_id),
            "type": "Scene.Update.Post",
            "input": {"id": scene_id, "title": "New", "rating100": 80},
            "inputFields": ["id", "title", "rating100"],
        },
    }
    assert _stdin_of(run, probe_dir) == run.stdin  # the child read exactly these bytes
    text = run.stdin.decode()
    assert text.startswith(
        f'{{"server_connection":{{"Scheme":"http","Host":"0.0.0.0","Port":{stash.port},'
    )
    document = json.loads(text)
    assert list(document) == ["server_connection", "args"]
    connection = document["server_connection"]
    assert list(connection) == ["Scheme", "Host", "Port", "SessionCookie", "Dir", "PluginDir"]
    assert connection["Dir"] == str(stash.stash_dir) and connection["PluginDir"] == str(probe_dir)
    cookie = connection["SessionCookie"]
    assert list(cookie) == [
        "Name",
        "Value",
        "Quoted",
        "Path",
        "Domain",
        "Expires",
        "RawExpires",
        "MaxAge",
        "Secure",
        "HttpOnly",
        "SameSite",
        "Partitioned",
        "Raw",
        "Unparsed",
    ]
    assert (cookie["Name"], cookie["Path"], cookie["Expires"], cookie["MaxAge"]) == (
        "session",
        "/",
        "0001-01-01T00:00:00Z",
        3600,
    )
    # Go map keys are sorted; the hookContext struct keeps its field order.
    assert list(document["args"]) == ["hookContext", "mode", "seconds"]
    assert list(document["args"]["hookContext"]) == ["id", "type", "input", "inputFields"]
    assert text == json.dumps(document, separators=(",", ":"))  # compact, like Go
    info = run.output["info"]
    assert info["cwd"] == str(stash.cwd) and Path(info["cwd"]) != probe_dir
    assert info["pythonpath"].split(":")[0] == str(probe_dir.parent)
    assert run.argv == [sys.executable, str(probe_dir / "probe.py")]
    assert_stdout_contract(run)


def test_scenes_update_runs_one_hook_per_scene_with_the_whole_array(stash: FakeStash) -> None:
    a = stash.add_scene("a")
    b = stash.add_scene("b")
    inputs: list[dict[str, Any]] = [{"id": a, "title": "A2"}, {"id": b, "details": "new", "organized": True}]
    stash.scenes_update(inputs)
    contexts = [r.hook_context for r in stash.hook_runs()]
    assert contexts == [
        {
            "id": int(a),
            "type": "Scene.Update.Post",
            "input": inputs,
            "inputFields": ["id", "title"],
        },
        {
            "id": int(b),
            "type": "Scene.Update.Post",
            "input": inputs,
            "inputFields": ["id", "details", "organized"],
        },
    ]
    assert stash.scene(a)["title"] == "A2" and stash.scene(b)["organized"] is True


def test_bulk_update_runs_one_process_per_scene_serially(stash: FakeStash) -> None:
    ids = [stash.add_scene(f"s{n}", tags=["old"]) for n in range(3)]
    new_tag = stash.add_tag("new")
    stash.bulk_update(ids, tag_ids={"ids": [new_tag], "mode": "ADD"}, rating100=40)
    runs = stash.hook_runs()
    expected_input = {"ids": ids, "rating100": 40, "tag_ids": {"ids": [new_tag], "mode": "ADD"}}
    assert [r.hook_context for r in runs] == [
        {
            "id": int(i),
            "type": "Scene.Update.Post",
            "input": expected_input,
            "inputFields": ["ids", "rating100", "tag_ids"],
        }
        for i in ids
    ]
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later.started_at >= earlier.finished_at, "bulk hooks must not overlap"
    assert [t["name"] for t in stash.scene(ids[0])["tags"]] == ["old", "new"]
    stash.bulk_update(ids[:1], tag_ids={"ids": [new_tag], "mode": "REMOVE"})
    stash.bulk_update(ids[1:2], tag_ids={"ids": [new_tag], "mode": "SET"})
    assert [t["name"] for t in stash.scene(ids[0])["tags"]] == ["old"]
    assert [t["name"] for t in stash.scene(ids[1])["tags"]] == ["new"]


def test_destroy_hook_carries_the_deleted_file(stash: FakeStash) -> None:
    scene_id = stash.add_scene("gone", ["/media/gone.mp4", "/media/second.mp4"])
    oshash = stash.scene_file_info(scene_id)[0]["oshash"]
    assert stash.destroy_scene(scene_id, delete_file=True) is True
    (run,) = stash.hook_runs()
    assert run.hook_context == {
        "id": int(scene_id),
        "type": "Scene.Destroy.Post",
        "input": {
            "id": scene_id,
            "delete_file": True,
            "delete_generated": None,
            "checksum": hashlib.md5(b"/media/gone.mp4").hexdigest(),
            "oshash": oshash,
            "path": "/media/gone.mp4",
        },
    }
    assert stash.scene_ids() == []


def test_renames_fire_object_hooks_and_leave_scenes_alone(
    stash: FakeStash, clock: FakeClock
) -> None:
    scene_id = stash.add_scene("s", performers=["Old Name"], tags=["t"], studio="st")
    stamp = stash.scene(scene_id)["updated_at"]
    clock.advance(30)
    performer = _found(stash.find_performer("Old Name"))
    stash.rename_performer(performer, "New Name")
    stash.rename_tag(_found(stash.find_tag("t")), "t2")
    stash.rename_studio(_found(stash.find_studio("st")), "st2")
    assert [(_context(r)["type"], _context(r)["id"]) for r in stash.hook_runs()] == [
        ("Performer.Update.Post", int(performer)),
        ("Tag.Update.Post", int(_found(stash.find_tag("t2")))),
        ("Studio.Update.Post", int(_found(stash.find_studio("st2")))),
    ]
    assert _context(stash.hook_runs()[0])["input"] == {"id": performer, "name": "New Name"}
    assert _context(stash.hook_runs()[0])["inputFields"] == ["id", "name"]
    scene = stash.scene(scene_id)
    assert scene["updated_at"] == stamp and scene["performers"][0]["name"] == "New Name"


def test_renamed_objects_are_found_by_their_own_updated_at(
    stash: FakeStash, clock: FakeClock
) -> None:
    stash.add_scene("s", performers=["Kept", "Renamed"], tags=["t"], studio="st")
    cursor = format_stash_time(clock.now, 0)
    clock.advance(10)
    renamed = _found(stash.find_performer("Renamed"))
    stash.rename_performer(renamed, "Renamed Again")
    query = """query($since: String!) {
      findPerformers(performer_filter: {updated_at: {value: $since, modifier: GREATER_THAN}},
                     filter: {per_page: -1, sort: "updated_at"}) { count performers { id name } } }"""
    reply = stash.graphql(query, {"since": cursor})["data"]["findPerformers"]
    assert reply == {"count": 1, "performers": [{"id": renamed, "name": "Renamed Again"}]}
    tags = stash.graphql(
        "query($s: String!) { findTags(tag_filter: {updated_at: {value: $s, modifier: GREATER_THAN}})"
        " { count } }",
        {"s": cursor},
    )
    assert tags["data"]["findTags"]["count"] == 0


def test_scan_style_update_has_null_input_and_no_fields(stash: FakeStash) -> None:
    scene_id = stash.add_scene("s", ["/v/s.mp4"])
    run = stash.scan_update(scene_id)
    assert run is not None
    assert run.hook_context == {"id": int(scene_id), "type": "Scene.Update.Post", "input": None}


def test_hook_context_omits_zero_id_and_empty_fields() -> None:
    assert hook_context(0, "Scene.Update.Post", None, []) == {
        "type": "Scene.Update.Post",
        "input": None,
    }
    assert go_json(hook_context(7, "Tag.Update.Post", {"id": "7"}, ["id"])) == (
        '{"id":7,"type":"Tag.Update.Post","input":{"id":"7"},"inputFields":["id"]}'
    )


def test_hook_input_nulls_mode_lists_every_go_struct_field(probe_dir: Path, tmp_path: Path) -> None:
    with FakeStash(probe_dir, stash_dir=tmp_path / "h", hook_input_nulls=True) as fake:
        scene_id = fake.add_scene("a")
        fake.update_scene(scene_id, title="b")
        (run,) = fake.hook_runs()
        hook_input = _context(run)["input"]
        assert hook_input["title"] == "b" and hook_input["details"] is None
        assert list(hook_input)[:3] == ["clientMutationId", "id", "title"]
        assert _context(run)["inputFields"] == ["id", "title"]


def test_hooks_stop_after_ten_nested_loops(stash: FakeStash) -> None:
    """A hook that edits its own scene re-triggers itself; Stash cuts the chain at depth 10."""
    scene_id = stash.add_scene("s")
    stash.update_scene(scene_id, title="loop")
    assert len(stash.hook_runs()) == 10
    assert stash.skipped_hooks == [("Scene.Update.Post", int(scene_id))]
    assert len(stash.documents(contains="sceneUpdate")) == 10


def test_disabled_plugin_runs_nothing(stash: FakeStash) -> None:
    scene_id = stash.add_scene("s")
    stash.set_plugin_enabled(False)
    stash.update_scene(scene_id, title="x")
    assert stash.runs == []
    with pytest.raises(StashGraphQLError, match="disabled"):
        stash.run_task("Echo")


# ----------------------------------------------------------------------------- tasks and operations


def test_task_default_args_fill_in_under_caller_args(stash: FakeStash) -> None:
    job_id = stash.run_task("Echo", {"flavour": "chocolate", "extra": {"b": 1, "a": [2]}})
    stash.wait_for_jobs(30)
    (run,) = stash.task_runs()
    assert run.job_id == job_id and run.kind == "task" and run.name == "Echo"
    # Values from the yml arrive as strings, whatever YAML type they were written as.
    assert run.args == {
        "mode": "echo",
        "flavour": "chocolate",
        "dry_run": "true",
        "extra": {"b": 1, "a": [2]},
    }
    assert json.loads(run.stdin)["args"] == run.args
    assert (
        b'"args":{"dry_run":"true","extra":{"a":[2],"b":1},"flavour":"chocolate","mode":"echo"}'
        in run.stdin
    )
    assert stash.job(job_id).status == "FINISHED"


def test_task_exec_args_are_appended_with_plugin_dir(stash: FakeStash, probe_dir: Path) -> None:
    stash.run_task("With exec args")
    stash.wait_for_jobs(30)
    (run,) = stash.task_runs()
    assert run.argv == [sys.executable, str(probe_dir / "probe.py"), "--flag", f"{probe_dir}/extra"]
    assert run.output["info"]["argv"] == ["--flag", f"{probe_dir}/extra"]


def test_task_without_name_and_operation_get_no_defaults(stash: FakeStash) -> None:
    reply = stash.graphql(
        'mutation($a: Map) { runPluginTask(plugin_id: "probePlugin", args_map: $a) }',
        {"a": {"mode": "echo"}},
    )
    job_id = reply["data"]["runPluginTask"]
    stash.wait_for_jobs(30)
    assert stash.task_runs()[0].args == {"mode": "echo"}
    assert stash.job(job_id).description == "Running plugin task: probePlugin"
    output = stash.run_operation({"mode": "echo", "n": 1})
    assert output["mode"] == "echo"
    assert stash.runs[-1].kind == "operation" and stash.runs[-1].args == {"mode": "echo", "n": 1}
    with pytest.raises(StashGraphQLError, match="^boom$"):
        stash.run_operation({"mode": "fail_error"})
    with pytest.raises(StashGraphQLError, match="^exit status 3$"):
        stash.run_operation({"mode": "fail_exit"})
    assert stash.runs[-1].output == "partial"


def test_unknown_task_fails_its_job(stash: FakeStash) -> None:
    job_id = stash.run_task("No such task")
    stash.wait_for_jobs(30)
    job = stash.job(job_id)
    assert (job.status, job.error) == ("FAILED", "task No such task not found")
    assert stash.task_runs() == []


def test_job_queue_runs_one_task_at_a_time(stash: FakeStash) -> None:
    started = time.monotonic()
    job_ids = [stash.run_task("Sleep", {"n": n}) for n in range(3)]
    assert time.monotonic() - started < 0.3, "runPluginTask must return before the task runs"
    queue = stash.graphql("{ jobQueue { id status } }")["data"]["jobQueue"]
    assert [j["id"] for j in queue] == job_ids
    stash.wait_for_jobs(30)
    runs = sorted(stash.task_runs(), key=lambda r: r.started_at)
    assert [r.args["n"] for r in runs] == [0, 1, 2]
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later.started_at >= earlier.finished_at
    found = stash.graphql(
        "query($id: ID!) { findJob(input: {id: $id}) { status description } }", {"id": job_ids[0]}
    )
    assert found["data"]["findJob"] == {
        "status": "FINISHED",
        "description": "Running plugin task: Sleep",
    }
    assert stash.graphql("{ jobQueue { id } }")["data"]["jobQueue"] == []


def test_stop_job_kills_the_running_task(stash: FakeStash) -> None:
    long_job = stash.run_task("Sleep", {"seconds": "30"})
    queued = stash.run_task("Echo")
    with pytest.raises(TimeoutError, match="Running plugin task: Sleep"):
        stash.wait_for_jobs(timeout=0.5)
    stash.stop_job(queued)
    stash.stop_job(long_job)
    stash.wait_for_jobs(10)
    (run,) = stash.task_runs()
    assert (run.killed, run.error) == (True, "signal: killed")
    assert stash.job(long_job).status == "CANCELLED" and stash.job(queued).status == "CANCELLED"


# ----------------------------------------------------------------------------- logs and stdout


def test_log_protocol_levels_progress_and_err_log(stash: FakeStash) -> None:
    stash.run_task("Logs")
    stash.wait_for_jobs(30)
    (run,) = stash.task_runs()
    assert run.logs == [
        ("trace", "trace msg"),
        ("debug", "debug msg"),
        ("info", "info msg"),
        ("warning", "warn msg"),
        ("error", "error msg"),
        ("warning", "plain line"),  # errLog: warning in the probe's yml
        ("warning", "\x01x\x02unknown level"),
        ("warning", "\x01i\x02"),  # shorter than 4 bytes: not a prefix
    ]
    assert run.progress == [0.25, 1.0]
    assert run.unprefixed_lines == ["plain line", "\x01x\x02unknown level", "\x01i\x02"]
    stash.run_operation({"mode": "logs"})
    assert stash.runs[-1].progress == [] and ("info", "info msg") in stash.runs[-1].logs


def test_stderr_parser_edge_cases() -> None:
    parsed = parse_stderr(b"bare\n\x01p\x02oops\n\x01p\x021_0\n\x01w\x02  padded  \r\n", "none")
    assert parsed.logs == [
        ("error", "Error parsing progress value: 'oops'"),
        ("error", "Error parsing progress value: '1_0'"),
        ("warning", "padded"),
    ]
    too_long = b"\x01i\x02" + b"x" * MAX_STDERR_LINE_BYTES + b"\n\x01i\x02after\n"
    parsed = parse_stderr(b"\x01i\x02before\n" + too_long, "error")
    assert parsed.logs == [("info", "before")] and parsed.overflow
    fits = b"\x01i\x02" + b"y" * (MAX_STDERR_LINE_BYTES - 4) + b"\n\x01i\x02after\n"
    assert [lvl for lvl, _ in parse_stderr(fits).logs] == ["info", "info"]
    assert parse_stderr(b"\x01i\x02last line without newline").logs == [
        ("info", "last line without newline")
    ]


def test_stdout_parsing_matches_stash() -> None:
    assert parse_plugin_output(b'{"output": {"a": 1}, "error": null}\n') == ({"a": 1}, None)
    assert parse_plugin_output(b'{"Output": 5, "ERROR": "bad"}') == (5, "bad")
    assert parse_plugin_output(b'{"unrelated": 1}') == (None, None)
    assert parse_plugin_output(b"null") == (None, None)
    assert parse_plugin_output(b"") == ("", None)
    assert parse_plugin_output(b"hello\n") == ("hello\n", None)
    assert parse_plugin_output(b"[1, 2]") == ("[1, 2]", None)
    assert parse_plugin_output(b'{"output": 1}\n{"output": 2}') == (
        '{"output": 1}\n{"output": 2}',
        None,
    )
    assert parse_plugin_output(b'{"output": 1, "error": 7}') == ('{"output": 1, "error": 7}', None)
    assert parse_plugin_output(b'{"output": NaN}') == ('{"output": NaN}', None)


def test_stdout_contract_helper_and_raw_runs(stash: FakeStash) -> None:
    good = stash.run_plugin_raw({"mode": "echo"})
    assert assert_stdout_contract(good)["output"]["mode"] == "echo"
    garbage = stash.run_plugin_raw({"mode": "garbage"})
    assert garbage.output.startswith("hello\n") and garbage.error is None
    with pytest.raises(AssertionError, match="not exactly one JSON document"):
        assert_stdout_contract(garbage)
    broken = stash.run_plugin_raw({}, stdin_override=b"not json")
    assert broken.stdin == b"not json" and broken.exit_code == 1 and broken.error == "exit status 1"
    assert b"JSONDecodeError" in broken.stderr
    assert (
        "warning",
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)",
    ) in broken.logs
    hook = stash.run_hook_raw({"type": "Scene.Update.Post", "input": None})
    assert hook.kind == "hook" and hook.hook_context == {"type": "Scene.Update.Post", "input": None}


def test_plugin_calls_back_with_its_own_cookie(stash: FakeStash) -> None:
    scene_id = stash.add_scene("called back")
    query = "query($id: ID!) { findScene(id: $id) { title } }"
    output = stash.run_operation({"mode": "gql", "query": query, "variables": {"id": scene_id}})
    assert output["info"]["reply"] == {"data": {"findScene": {"title": "called back"}}}
    (doc,) = stash.documents(contains="findScene")
    assert doc.via == "http" and doc.variables == {"id": scene_id}
    assert stash.schema_violations == []
    stash.expire_sessions()  # like max_session_age passing during a long task
    stale = stash.run_plugin_raw(
        {"mode": "gql", "query": query}, stdin_override=stash.runs[-1].stdin
    )
    assert stale.error == "exit status 1" and b"HTTP Error 401" in stale.stderr


# ----------------------------------------------------------------------------- faults and schema


def test_fault_switches(stash: FakeStash) -> None:
    query = "{ findScenes { count } }"
    port = stash.port
    stash.go_down()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert stash.graphql(query)["data"]["findScenes"]["count"] == 0  # the user's UI still works
    stash.come_back()
    assert stash.port == port and stash.graphql_http(query)[0] == 200
    stash.fail_requests(502, count=2)
    assert [stash.graphql_http(query)[0] for _ in range(3)] == [502, 502, 200]
    stash.set_delay(0.3)
    started = time.monotonic()
    assert stash.graphql_http(query)[0] == 200
    assert time.monotonic() - started >= 0.3
    stash.clear_faults()
    stash.fail_requests(500)
    assert [stash.graphql_http(query)[0] for _ in range(2)] == [500, 500]
    stash.clear_faults()
    assert stash.graphql_http(query)[0] == 200


def test_graphql_post_needs_json_and_a_real_host(stash: FakeStash) -> None:
    body = json.dumps({"query": "{ findScenes { count } }"}).encode()
    cookie = f"session={stash.session_value}"

    def post(headers: dict[str, str]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", stash.port, timeout=10)
        try:
            conn.request("POST", "/graphql", body=body, headers={"Cookie": cookie, **headers})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    assert post({"Content-Type": "application/json; charset=utf-8"})[0] == 200
    status, reply = post({"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and b"transport not supported" in reply
    # Stash hands the plugin Host 0.0.0.0; a client that uses it verbatim is told so.
    status, _ = post({"Content-Type": "application/json", "Host": f"0.0.0.0:{stash.port}"})
    assert status == 400 and len(stash.unspecified_host_requests) == 1


def test_missing_interpreter_is_reported_not_raised(probe_dir: Path, tmp_path: Path) -> None:
    with FakeStash(probe_dir, stash_dir=tmp_path / "s", python=str(tmp_path / "no-python")) as fake:
        scene_id = fake.add_scene("s")
        fake.update_scene(scene_id, title="t")  # the user's save still succeeds
        (run,) = fake.hook_runs()
        assert run.error is not None and run.error.startswith("error running plugin:")


def test_documents_are_checked_against_the_real_schema(stash: FakeStash) -> None:
    if not stash.real_schema_available:
        pytest.skip(f"Stash's schema folder is missing: {stash.real_schema_dir}")
    status, reply = stash.graphql_http("{ findScene(id: 1) { nonexistent } }")
    assert status == 422 and "nonexistent" in reply["errors"][0]["message"]
    stash.graphql_http("query($id: ID!) { findScene(id: $id) { id } }", {"id": {"not": "an id"}})
    first, second = stash.schema_violations
    assert first.errors[0].startswith("Cannot query field 'nonexistent' on type 'Scene'")
    assert second.errors[0].startswith("Variable '$id' got invalid value")
    stash.schema_violations.clear()


def test_real_schema_check_is_skipped_without_the_folder(probe_dir: Path, tmp_path: Path) -> None:
    with FakeStash(
        probe_dir, stash_dir=tmp_path / "s", real_schema_dir=tmp_path / "absent"
    ) as fake:
        assert fake.real_schema_available is False
        fake.graphql_http("{ findScene(id: 1) { nonexistent } }")
        assert fake.schema_violations == []


# ----------------------------------------------------------------------------- manifest


def test_manifest_parsing_is_strict(tmp_path: Path) -> None:
    def manifest(text: str, name: str = "p.yml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    loaded = load_manifest(
        manifest(
            "exec: [python, x.py]\nversion: 1.0\ntasks:\n  - name: T\n    defaultArgs: {n: 5, b: yes}\n"
        )
    )
    assert (loaded.plugin_id, loaded.name, loaded.version, loaded.interface, loaded.err_log) == (
        "p",
        "p",
        "1.0",
        "raw",
        "error",
    )
    assert loaded.tasks[0].default_args == {"n": "5", "b": "yes"}
    with pytest.raises(ManifestError, match="field requires not found"):
        load_manifest(manifest("name: x\nrequires: [Other]\n"))
    with pytest.raises(ManifestError, match="field triggeredBy not found"):
        load_manifest(manifest("tasks:\n  - name: T\n    triggeredBy: [Scene.Update.Post]\n"))
    with pytest.raises(ManifestError, match="already set"):
        load_manifest(manifest("name: a\nname: b\n"))
    with pytest.raises(ManifestError, match="invalid type"):
        load_manifest(manifest("settings:\n  s: {type: INTEGER}\n"))
    with pytest.raises(ManifestError, match="only loads files ending in .yml"):
        load_manifest(manifest("name: a\n", "p.yaml"))


def test_stray_yml_files_are_found_like_stash_walks_them(probe_dir: Path) -> None:
    (probe_dir / "ci").mkdir()
    (probe_dir / "ci" / "workflow.yml").write_text("on: push\n", encoding="utf-8")
    (probe_dir / "ignored.yaml").write_text("a: 1\n", encoding="utf-8")
    found = [p.relative_to(probe_dir).as_posix() for p in yml_files(probe_dir)]
    assert found == ["probePlugin.yml", "ci/workflow.yml"]
    with pytest.raises(ManifestError, match="field on not found"):
        load_manifest(probe_dir / "ci" / "workflow.yml")


def test_plexsync_manifest_loads_with_stash_rules() -> None:
    path = REPO / "PlexSync.yml"
    manifest = load_manifest(path)
    assert manifest.plugin_id == "PlexSync" and manifest.interface == "raw"
    assert manifest.exec and manifest.exec[0] in ("python", "python3")


# ----------------------------------------------------------------------------- scans: new and moved files


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_scan_new_file_fires_create_before_the_cover_exists(
    stash: FakeStash, clock: FakeClock
) -> None:
    scene_id = stash.scan_new_file("/media/new/clip.mp4")
    (run,) = stash.hook_runs()
    # Null input and no inputFields, like every scan hook.
    assert run.hook_context == {"id": int(scene_id), "type": "Scene.Create.Post", "input": None}
    # The hook ran before the cover was generated: the screenshot was Stash's static default.
    assert run.output["info"]["cover_md5"] == _md5(DEFAULT_SCENE_IMAGE)
    assert stash.has_cover(scene_id) is False and stash.cover(scene_id) == DEFAULT_SCENE_IMAGE
    scene = stash.scene(scene_id)
    assert scene["title"] == "" and scene["files"][0]["basename"] == "clip.mp4"
    created = scene["updated_at"]

    clock.advance(5)
    stamp = stash.generate_cover(scene_id)
    assert stamp == format_stash_time(T0 + 5, 0) != created
    assert stash.scene(scene_id)["updated_at"] == stamp
    assert stash.has_cover(scene_id) and stash.cover(scene_id) == default_cover(int(scene_id))
    assert len(stash.hook_runs()) == 1, "cover generation fires no hook"

    # add_scene(hook=True) is the other flavour: the scene already has its cover in the hook.
    other = stash.add_scene("x", ["/media/x.mp4"], hook=True)
    assert stash.hook_runs()[-1].output["info"]["cover_md5"] == _md5(default_cover(int(other)))
    # scan_new_file takes add_scene's keywords for tests that want metadata on the new scene.
    titled = stash.scan_new_file("/media/new/b.mp4", title="B", director="Dir")
    assert (stash.scene(titled)["title"], stash.scene(titled)["director"]) == ("B", "Dir")
    assert stash.schema_violations == []


def test_scene_create_mutation_fires_create_with_a_null_input(stash: FakeStash) -> None:
    old = stash.add_scene("old", ["/m/a.mp4", "/m/b.mp4"])
    primary, second = stash.scene_file_info(old)
    tag = stash.add_tag("t")
    mutation = """mutation($i: SceneCreateInput!) {
      sceneCreate(input: $i) { id title director tags { name } files { id path } } }"""
    status, reply = stash.graphql_http(
        mutation,
        {"i": {"title": "New", "director": "D", "tag_ids": [tag], "file_ids": [second["id"]]}},
    )
    assert status == 200 and "errors" not in reply, reply
    created = reply["data"]["sceneCreate"]
    assert (created["title"], created["director"], created["tags"]) == ("New", "D", [{"name": "t"}])
    assert created["files"] == [{"id": second["id"], "path": "/m/b.mp4"}]
    assert [f["path"] for f in stash.scene(old)["files"]] == ["/m/a.mp4"]  # the file moved
    (run,) = stash.hook_runs()
    assert run.hook_context == {
        "id": int(created["id"]),
        "type": "Scene.Create.Post",
        "input": None,
    }
    # No cover is generated by sceneCreate; cover_image gives one.
    assert stash.has_cover(created["id"]) is False
    with_cover = stash.graphql(mutation, {"i": {"cover_image": cover_data_url(b"\x89PNGmine")}})
    assert stash.cover(with_cover["data"]["sceneCreate"]["id"]) == b"\x89PNGmine"
    # Another scene's primary file cannot be taken: nothing is created, no hook runs.
    before = stash.scene_ids()
    refused = stash.graphql(mutation, {"i": {"title": "x", "file_ids": [primary["id"]]}})
    assert "cannot reassign primary file" in refused["errors"][0]["message"]
    assert stash.scene_ids() == before and len(stash.hook_runs()) == 2
    assert stash.schema_violations == []


def test_moved_file_is_a_scan_update(stash: FakeStash, clock: FakeClock) -> None:
    scene_id = stash.add_scene("s", ["/media/old/clip.mp4", "/media/extra.mp4"])
    before = stash.scene_file_info(scene_id)
    clock.advance(7)
    run = stash.move_file(scene_id, "/media/new/Renamed Clip.mp4")
    assert run is not None
    assert run.hook_context == {"id": int(scene_id), "type": "Scene.Update.Post", "input": None}
    after = stash.scene_file_info(scene_id)
    assert (after[0]["path"], after[0]["basename"]) == (
        "/media/new/Renamed Clip.mp4",
        "Renamed Clip.mp4",
    )
    # The same file: id and fingerprints stay, only the path changed.
    for key in ("id", "checksum", "oshash", "size"):
        assert after[0][key] == before[0][key]
    assert after[1] == before[1]
    assert stash.scene(scene_id)["updated_at"] == format_stash_time(T0 + 7, 0)
    with pytest.raises(ValueError, match="no file"):
        stash.move_file(stash.add_scene("fileless"), "/x.mp4")


# ----------------------------------------------------------------------------- groups, silent renames


def test_group_rename_fires_group_then_movie_hooks_and_leaves_scenes(
    stash: FakeStash, clock: FakeClock
) -> None:
    scene_id = stash.add_scene("s", groups=[("G", 1)])
    group = _found(stash.find_group("G"))
    stamp = stash.scene(scene_id)["updated_at"]
    clock.advance(10)
    assert stash.rename_group(group, "G2") == {"id": group, "name": "G2"}
    contexts = [r.hook_context for r in stash.hook_runs()]
    # groupUpdate runs both, Group first ("for backwards compatibility").
    assert contexts == [
        {"id": int(group), "type": trigger, "input": {"id": group, "name": "G2"},
         "inputFields": ["id", "name"]}
        for trigger in ("Group.Update.Post", "Movie.Update.Post")
    ]
    scene = stash.scene(scene_id)
    assert scene["updated_at"] == stamp and scene["groups"][0]["group"]["name"] == "G2"
    found = stash.graphql(
        "query($id: ID!) { findGroup(id: $id) { name updated_at } }", {"id": group}
    )
    assert found["data"]["findGroup"] == {"name": "G2", "updated_at": format_stash_time(T0 + 10, 0)}


def test_groups_by_updated_at_and_scenes_by_group(stash: FakeStash, clock: FakeClock) -> None:
    a = stash.add_scene("a", groups=["Kept"])
    b = stash.add_scene("b", groups=["Renamed", ("Kept", 3)])
    c = stash.add_scene("c")
    kept, renamed = _found(stash.find_group("Kept")), _found(stash.find_group("Renamed"))
    cursor = format_stash_time(clock.now, 0)
    clock.advance(10)
    stash.rename_group(renamed, "Renamed Again")
    query = """query($since: String!, $sort: String, $dir: SortDirectionEnum) {
      findGroups(group_filter: {updated_at: {value: $since, modifier: GREATER_THAN}},
                 filter: {per_page: -1, sort: $sort, direction: $dir}) {
        count groups { id name updated_at } } }"""
    reply = stash.graphql(query, {"since": cursor, "sort": "updated_at"})["data"]["findGroups"]
    assert reply == {
        "count": 1,
        "groups": [
            {"id": renamed, "name": "Renamed Again", "updated_at": format_stash_time(T0 + 10, 0)}
        ],
    }
    everything = stash.graphql(query, {"since": "", "sort": "updated_at", "dir": "DESC"})
    assert [g["id"] for g in everything["data"]["findGroups"]["groups"]] == [renamed, kept]
    assert "errors" in stash.graphql(query, {"since": "", "sort": "no_such_sort"})

    scenes = """query($f: SceneFilterType) {
      findScenes(scene_filter: $f, filter: {sort: "id", per_page: -1}) { scenes { id } } }"""

    def ids(value: list[str], modifier: str) -> list[str]:
        criteria = {"groups": {"value": value, "modifier": modifier}}
        return _ids(stash.graphql(scenes, {"f": criteria}))

    assert ids([kept], "INCLUDES") == [a, b]
    assert ids([renamed], "INCLUDES") == [b]
    assert ids([kept, renamed], "INCLUDES_ALL") == [b]
    assert ids([renamed], "EXCLUDES") == [a, c]
    assert ids([], "IS_NULL") == [c]
    literal = (
        f'{{ findScenes(scene_filter: {{groups: {{value: ["{renamed}"], modifier: INCLUDES,'
        " depth: 0}}) { count } }"
    )
    assert stash.graphql_http(literal)[1]["data"]["findScenes"]["count"] == 1
    assert stash.schema_violations == []


def test_renames_with_hooks_off_move_updated_at_and_fire_nothing(
    stash: FakeStash, clock: FakeClock
) -> None:
    scene_id = stash.add_scene("s", performers=["P"], tags=["T"], studio="S", groups=["G"])
    stamp = stash.scene(scene_id)["updated_at"]
    ids = {
        "performer": _found(stash.find_performer("P")),
        "tag": _found(stash.find_tag("T")),
        "studio": _found(stash.find_studio("S")),
        "group": _found(stash.find_group("G")),
    }
    cursor = format_stash_time(clock.now, 0)
    clock.advance(20)
    assert stash.rename_performer(ids["performer"], "P2", hooks=False) == {
        "id": ids["performer"],
        "name": "P2",
    }
    stash.rename_tag(ids["tag"], "T2", hooks=False)
    stash.rename_studio(ids["studio"], "S2", hooks=False)
    stash.rename_group(ids["group"], "G2", hooks=False)
    assert stash.runs == [] and stash.user_documents == []
    scene = stash.scene(scene_id)
    assert scene["updated_at"] == stamp
    assert (scene["performers"][0]["name"], scene["tags"][0]["name"]) == ("P2", "T2")
    assert (scene["studio"]["name"], scene["groups"][0]["group"]["name"]) == ("S2", "G2")
    # Each object's own updated_at moved, so a cursor-based sync still finds them.
    query = """query($s: String!) {
      findPerformers(performer_filter: {updated_at: {value: $s, modifier: GREATER_THAN}}) { count }
      findTags(tag_filter: {updated_at: {value: $s, modifier: GREATER_THAN}}) { count }
      findStudios(studio_filter: {updated_at: {value: $s, modifier: GREATER_THAN}}) { count }
      findGroups(group_filter: {updated_at: {value: $s, modifier: GREATER_THAN}}) { count } }"""
    counts = stash.graphql(query, {"s": cursor})["data"]
    assert {name: value["count"] for name, value in counts.items()} == {
        "findPerformers": 1,
        "findTags": 1,
        "findStudios": 1,
        "findGroups": 1,
    }


# ----------------------------------------------------------------------------- files by name


def test_files_filter_basename_follows_stash_string_criteria(stash: FakeStash) -> None:
    one = stash.add_scene("one", ["/m/a/clip.mp4"])
    two = stash.add_scene("two", ["/m/b/Other CLIP.MP4", "/m/b/extra.mkv"])
    three = stash.add_scene("three", ["/m/c/clip.mkv"])
    four = stash.add_scene("four", ["/m/d/my_clip.mp4"])
    query = """query($f: SceneFilterType) {
      findScenes(scene_filter: $f, filter: {sort: "id", per_page: -1}) { scenes { id } } }"""

    def ids(value: str, modifier: str) -> list[str]:
        criteria = {"files_filter": {"basename": {"value": value, "modifier": modifier}}}
        return _ids(stash.graphql(query, {"f": criteria}))

    # INCLUDES: LIKE %v%, case-insensitive.
    assert ids("clip.mp4", "INCLUDES") == [one, two, four]
    # Any file of the scene counts, not only the primary.
    assert ids("extra", "INCLUDES") == [two]
    # Words are matched separately and any one is enough; quotes make a phrase.
    assert ids("extra clip.mkv", "INCLUDES") == [two, three]
    assert ids('"other clip"', "INCLUDES") == [two]
    # EXCLUDES is per file too: "two" has a file without "clip.mp4" in its name, so it matches.
    assert ids("clip.mp4", "EXCLUDES") == [two, three]
    # EQUALS: the whole basename. It is still SQL LIKE, so ASCII case folds and _ is a wildcard.
    assert ids("clip.mp4", "EQUALS") == [one]
    assert ids("CLIP.mp4", "EQUALS") == [one]
    assert ids("clip_mp4", "EQUALS") == [one]
    assert ids("clip", "EQUALS") == []
    literal = (
        '{ findScenes(scene_filter: {files_filter: {basename: {value: "clip.mp4",'
        " modifier: EQUALS}}}) { count } }"
    )
    status, reply = stash.graphql_http(literal)
    assert status == 200 and reply["data"]["findScenes"]["count"] == 1
    assert stash.schema_violations == []


# ----------------------------------------------------------------------------- performer images


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A GET that does not follow redirects."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None, url
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_performer_image_path_and_bytes(stash: FakeStash, clock: FakeClock) -> None:
    scene_id = stash.add_scene("s", performers=["Ann"])
    performer = _found(stash.find_performer("Ann"))
    query = "query($id: ID!) { findPerformer(id: $id) { image_path updated_at } }"
    status, reply = stash.graphql_http(query, {"id": performer})
    base = f"http://127.0.0.1:{stash.port}/performer/{performer}/image"
    assert reply["data"]["findPerformer"]["image_path"] == f"{base}?t={int(T0)}&default=true"
    in_scene = stash.graphql_http(
        "query($id: ID!) { findScene(id: $id) { performers { image_path } } }", {"id": scene_id}
    )[1]
    assert in_scene["data"]["findScene"]["performers"][0]["image_path"].endswith("&default=true")
    cookie = {"Cookie": f"session={stash.session_value}"}
    status, headers, body = _get(f"{base}?t={int(T0)}&default=true", cookie)
    assert status == 200 and body == default_performer_image("Ann")
    assert stash.performer_image(performer) == body
    assert headers["Content-Type"] == "image/png" and headers["ETag"] == f'"{_md5(body)}"'

    clock.advance(3)
    stamp = stash.set_performer_image(performer, b"\xff\xd8photo")
    assert stamp == format_stash_time(T0 + 3, 0)
    path = stash.graphql(query, {"id": performer})["data"]["findPerformer"]
    assert path == {"image_path": f"{stash.url}/performer/{performer}/image?t={int(T0) + 3}",
                    "updated_at": stamp}
    status, headers, body = _get(path["image_path"], cookie)
    assert (status, body, headers["Content-Type"]) == (200, b"\xff\xd8photo", "image/jpeg")
    # default=true asks for the placeholder even when there is an image (routes_performer.go).
    assert _get(path["image_path"] + "&default=true", cookie)[2] == default_performer_image("Ann")
    # ETag and If-None-Match as utils.ServeImage does them.
    status, _, body = _get(path["image_path"], {**cookie, "If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    assert stash.runs == [] and stash.scene(scene_id)["updated_at"] == format_stash_time(T0, 0)

    stash.set_performer_image(performer, None)
    assert stash.graphql(query, {"id": performer})["data"]["findPerformer"]["image_path"].endswith(
        "&default=true"
    )
    assert _get(f"{stash.url}/performer/999/image", cookie)[0] == 404
    assert _get(f"{stash.url}/performer/abc/image", cookie)[0] == 404
    assert stash.schema_violations == []


def test_performer_image_needs_a_session_or_the_api_key(stash: FakeStash) -> None:
    stash.add_scene("s", performers=["Ann"])
    performer = stash.find_performer("Ann")
    url = f"{stash.url}/performer/{performer}/image?t=5"
    # No credentials: like any page, Stash redirects to the login page (GraphQL would be 401).
    status, headers, _ = _get(url, {"User-Agent": "PlexMediaServer/1.0"})
    assert status == 302
    assert headers["Location"] == f"/login?returnURL=%2Fperformer%2F{performer}%2Fimage%3Ft%3D5"
    # A client that follows it gets HTML with status 200, not an image.
    with urllib.request.urlopen(url, timeout=10) as followed:
        assert followed.status == 200 and followed.headers["Content-Type"].startswith("text/html")
    assert _get(url, {"Cookie": "session=forged"})[0] == 302

    stash.set_api_key("k3y")
    image = default_performer_image("Ann")
    assert _get(url, {"ApiKey": "k3y"})[::2] == (200, image)
    assert _get(url + "&apikey=k3y")[::2] == (200, image)
    assert _get(url, {"Cookie": f"session={stash.session_value}"})[::2] == (200, image)
    # A wrong key is refused outright, even next to a valid cookie (session.Store.Authenticate).
    assert _get(url + "&apikey=nope", {"Cookie": f"session={stash.session_value}"})[0] == 401
    assert _get(url, {"ApiKey": "nope"})[0] == 401

    records = stash.image_requests("performer")
    assert [(r.auth, r.status) for r in records] == [
        (None, 302),
        (None, 302),  # the redirected client's first hop
        ("session", 302),
        ("apikey-header", 200),
        ("apikey-query", 200),
        ("session", 200),
        ("apikey-query", 401),
        ("apikey-header", 401),
    ]
    assert records[0].user_agent == "PlexMediaServer/1.0" and records[0].object_id == performer
    assert records[4].params == {"t": "5", "apikey": "k3y"}
    assert records[5].session == stash.session_value
    # Screenshots are logged the same way.
    scene_shot = stash.scene("1")["paths"]["screenshot"]
    assert _get(scene_shot + "&apikey=k3y")[0] == 200
    assert [(r.kind, r.auth, r.status) for r in stash.image_requests("scene")] == [
        ("scene", "apikey-query", 200)
    ]


def test_api_key_also_works_for_graphql_as_query_parameter(stash: FakeStash) -> None:
    body = json.dumps({"query": "{ findScenes { count } }"}).encode()

    def post(target: str, headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", stash.port, timeout=10)
        try:
            conn.request("POST", target, body=body,
                         headers={"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    cookie = {"Cookie": f"session={stash.session_value}"}
    # No key generated yet: presenting one is wrong, whatever else comes with it.
    assert post("/graphql?apikey=x", cookie) == 401
    stash.set_api_key("k3y")
    assert post("/graphql?apikey=k3y", {}) == 200
    assert post("/graphql", {"ApiKey": "k3y"}) == 200
    assert post("/graphql?apikey=bad", {}) == 401
    assert post("/graphql", cookie) == 200
    stash.set_api_key(None)
    assert post("/graphql?apikey=k3y", {}) == 401
    assert [d.session for d in stash.documents()] == [None, None, stash.session_value]


# ----------------------------------------------------------------------------- director


def test_director_round_trips_through_every_edit(stash: FakeStash) -> None:
    a = stash.add_scene("a", director="First")
    b = stash.add_scene("b")
    query = "query($id: ID!) { findScene(id: $id) { director } }"
    assert stash.graphql(query, {"id": a})["data"]["findScene"]["director"] == "First"
    assert stash.graphql(query, {"id": b})["data"]["findScene"]["director"] == ""  # Go string
    stash.update_scene(a, director="Second")
    assert stash.scene(a)["director"] == "Second"
    assert _context(stash.hook_runs()[-1])["input"] == {"id": a, "director": "Second"}
    stash.bulk_update([a, b], director="Both")
    assert [stash.scene(i)["director"] for i in (a, b)] == ["Both", "Both"]
    assert _context(stash.hook_runs()[-1])["inputFields"] == ["ids", "director"]
    stash.scenes_update([{"id": b, "director": "Third"}])
    assert stash.scene(b)["director"] == "Third"
    assert stash.silent_update(a, director="Auto") and stash.scene(a)["director"] == "Auto"
    stash.update_scene(a, director=None)
    assert stash.scene(a)["director"] == ""


# ----------------------------------------------------------------------------- plugin interpreter


def test_plugin_runs_under_the_chosen_interpreter(probe_dir: Path, tmp_path: Path) -> None:
    venv_dir = tmp_path / "bare-venv"
    venv.create(venv_dir, with_pip=False)
    bare = venv_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with FakeStash(probe_dir, stash_dir=tmp_path / "s", python=str(bare), env=env) as fake:
        output = fake.run_operation({"mode": "echo", "find": "yaml"})
        assert fake.runs[-1].argv[0] == str(bare)
        assert Path(output["info"]["prefix"]).resolve() == venv_dir.resolve()
        assert output["info"]["found"] is False  # the fresh venv has none of the test's packages
        # Read at every start, so a test can switch interpreters between runs.
        fake.python = sys.executable
        output = fake.run_operation({"mode": "echo", "find": "yaml"})
        assert output["info"]["prefix"] == sys.prefix and output["info"]["found"] is True


# ----------------------------------------------------------------------------- request counting


def test_requests_are_counted_per_run_and_between_marks(stash: FakeStash) -> None:
    multi = """{ findScenes { count } findPerformers { count } findTags { count }
                 findStudios { count } findGroups { count } }"""
    stash.add_scene("s", ["/m/s.mp4"], performers=["P"], groups=["G"])
    mark = stash.document_mark()
    output = stash.run_operation({"mode": "gql", "query": multi})
    data = output["info"]["reply"]["data"]
    assert {k: v["count"] for k, v in data.items()} == {
        "findScenes": 1,
        "findPerformers": 1,
        "findTags": 0,
        "findStudios": 0,
        "findGroups": 1,
    }
    run = stash.runs[-1]
    # Five root fields, one document, one request.
    assert len(stash.documents_since(mark)) == 1 and len(stash.documents_for(run)) == 1
    assert stash.schema_violations == []

    mark = stash.document_mark()
    many = stash.run_operation(
        {"mode": "gql_many", "queries": ["{ findScenes { count } }", multi, "{ jobQueue { id } }"]}
    )
    assert len(many["info"]["replies"]) == 3
    assert len(stash.documents_for(stash.runs[-1])) == 3
    assert len(stash.documents_since(mark, contains="findScenes")) == 2
    assert stash.documents_for(run)[0].query == multi  # earlier runs keep their own

    # A mutation sent by an operation triggers a hook: each run is charged only its own requests.
    update = 'mutation { sceneUpdate(input: {id: "1", details: "d"}) { id } }'
    stash.run_operation({"mode": "gql", "query": update})
    operation = next(r for r in reversed(stash.runs) if r.kind == "operation")
    hook = stash.hook_runs()[-1]
    assert [d.query for d in stash.documents_for(operation)] == [update]
    assert stash.documents_for(hook) == []
    # A raw run is tied to the cookie in the stdin it was given, if there is one.
    assert stash.run_plugin_raw({}, stdin_override=b"[[[").session is None
    assert stash.documents_for(stash.runs[-1]) == []
    # Marks survive clear_records: the sequence never restarts.
    stash.clear_records()
    assert stash.document_mark() > mark and stash.documents_since(0) == []


# ----------------------------------------------------------------------------- issue 16: what a real Stash showed


def test_a_scene_without_a_cover_serves_stash_s_placeholder_svg(stash: FakeStash) -> None:
    """running_streams.go ServeScreenshot: no cover → static scene.svg through utils.ServeImage,
    200 and image/svg+xml (Go sniffs an SVG as text; ServeImage names it), with its ETag."""
    scene_id = stash.scan_new_file("/media/new/no-cover.mp4")
    url = stash.scene(scene_id)["paths"]["screenshot"]
    status, headers, body = _get(url, {"Cookie": f"session={stash.session_value}"})
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    assert body == DEFAULT_SCENE_IMAGE and body.startswith(b"<svg") and b"</svg>" in body
    assert headers["ETag"] == f'"{_md5(body)}"'
    # The same placeholder for every scene without a cover; a generated cover is a real image.
    other = stash.add_scene("x", ["/media/x.mp4"])
    stash.graphql("mutation($i: SceneCreateInput!) { sceneCreate(input: $i) { id } }", {"i": {"title": "c"}})
    created = stash.scene_ids()[-1]
    assert stash.cover(created) == DEFAULT_SCENE_IMAGE and stash.cover(other).startswith(b"\x89PNG")
    stash.generate_cover(scene_id)
    status, headers, body = _get(stash.scene(scene_id)["paths"]["screenshot"],
                                 {"Cookie": f"session={stash.session_value}"})
    assert (status, headers["Content-Type"]) == (200, "image/png") and body == default_cover(int(scene_id))


def test_performer_update_with_an_image_fires_the_hook_with_id_and_image(
    stash: FakeStash, clock: FakeClock
) -> None:
    """performerUpdate {id, image: "data:..."}: Performer.Update.Post with that input and
    inputFields ["id", "image"]; the image is stored, and image_path's t= moves with every update
    of the performer, an image or not."""
    stash.add_scene("s", performers=["Ann"])
    performer = _found(stash.find_performer("Ann"))
    query = "query($id: ID!) { findPerformer(id: $id) { image_path updated_at } }"
    base = f"{stash.url}/performer/{performer}/image"
    cookie = {"Cookie": f"session={stash.session_value}"}

    clock.advance(10)
    upload = cover_data_url(b"\xff\xd8uploaded")
    stash.update_performer(performer, image=upload)
    [run] = stash.hook_runs()
    assert _context(run)["type"] == "Performer.Update.Post" and _context(run)["id"] == int(performer)
    assert _context(run)["input"] == {"id": performer, "image": upload}
    assert _context(run)["inputFields"] == ["id", "image"]
    found = stash.graphql(query, {"id": performer})["data"]["findPerformer"]
    assert found == {"image_path": f"{base}?t={int(T0) + 10}", "updated_at": format_stash_time(T0 + 10, 0)}
    assert _get(found["image_path"], cookie)[2] == b"\xff\xd8uploaded"

    # Another update (the heart): the image is the same, its URL is not.
    clock.advance(5)
    stash.update_performer(performer, favorite=True)
    assert _context(stash.hook_runs()[-1])["inputFields"] == ["id", "favorite"]
    after = stash.graphql(query, {"id": performer})["data"]["findPerformer"]["image_path"]
    assert after == f"{base}?t={int(T0) + 15}" and _get(after, cookie)[2] == b"\xff\xd8uploaded"

    # An empty image deletes it: the placeholder again.
    clock.advance(5)
    stash.update_performer(performer, image=None)
    gone = stash.graphql(query, {"id": performer})["data"]["findPerformer"]["image_path"]
    assert gone == f"{base}?t={int(T0) + 20}&default=true"
    assert stash.performer_image(performer) == default_performer_image("Ann")
    assert stash.schema_violations == []


def test_server_connection_host_is_stash_s_configured_host(probe_dir: Path, tmp_path: Path) -> None:
    """makeServerConnection passes config ``host`` as it is: 0.0.0.0 by default, 127.0.0.1 when
    Stash is set to listen only there. A task's result is logged at Debug only (task_plugin.go)."""
    for host in ("0.0.0.0", "127.0.0.1"):
        with FakeStash(probe_dir, stash_dir=tmp_path / f"home-{host}", host=host) as fake:
            run = fake.run_task_to_end("Echo")
            assert run is not None and run.error is None
            stdin = json.loads((probe_dir / "seen" / run.output["info"]["stdin_file"]).read_bytes())
            assert stdin["server_connection"]["Host"] == host
            returned = [(level, m) for level, m in fake.stash_log if "plugin returned" in m]
            assert [level for level, _ in returned] == ["debug"] and "'mode': 'echo'" in returned[0][1]


# ----------------------------------------------------------------------------- hierarchies


def test_tag_hierarchy_edits_hooks_and_depth(stash: FakeStash, clock: FakeClock) -> None:
    """tagUpdate parent_ids / child_ids (the tag page's two fields): only the edited tag's row
    moves and fires Tag.Update.Post; ``depth`` in a scene filter reaches the tags below."""
    root = stash.add_tag("Root")
    mid = stash.add_tag("Mid", parents=["Root"])
    leaf = stash.add_tag("Leaf", parents=["Mid"])
    loose = stash.add_tag("Loose")
    on_leaf, on_loose = stash.add_scene("a", tags=["Leaf"]), stash.add_scene("b", tags=["Loose"])
    tree = "{ findTags(filter: {per_page: -1, sort: \"id\"}) { tags { id parents { id } children { id } } } }"
    tags = {t["id"]: t for t in stash.graphql(tree)["data"]["findTags"]["tags"]}
    assert tags[mid]["parents"] == [{"id": root}] and tags[mid]["children"] == [{"id": leaf}]
    scenes = """query($ids: [ID!], $depth: Int) {
      findScenes(scene_filter: {tags: {value: $ids, modifier: INCLUDES, depth: $depth}},
                 filter: {sort: "id", per_page: -1}) { scenes { id } } }"""
    assert _ids(stash.graphql(scenes, {"ids": [root], "depth": -1})) == [on_leaf]
    assert _ids(stash.graphql(scenes, {"ids": [root], "depth": 1})) == []
    assert _ids(stash.graphql(scenes, {"ids": [root]})) == []
    loose_stamp = stash.graphql(f'{{ findTag(id: "{loose}") {{ updated_at }} }}')["data"]["findTag"]["updated_at"]
    clock.advance(10)
    stash.set_tag_children(mid, [loose])  # Leaf leaves Mid, Loose comes under it
    [run] = stash.hook_runs()
    assert _context(run)["type"] == "Tag.Update.Post" and _context(run)["id"] == int(mid)
    assert _context(run)["inputFields"] == ["id", "child_ids"]
    assert _ids(stash.graphql(scenes, {"ids": [root], "depth": -1})) == [on_loose]
    after = stash.graphql(f'{{ findTag(id: "{loose}") {{ updated_at parents {{ id }} }} }}')["data"]["findTag"]
    assert after == {"updated_at": loose_stamp, "parents": [{"id": mid}]}  # the sub-tag's row is untouched
    with pytest.raises(StashGraphQLError, match="own parent"):
        stash.set_tag_parents(root, [loose])  # a loop
    stash.set_tag_parents(leaf, [root], hooks=False)
    assert len(stash.hook_runs()) == 1
    assert _ids(stash.graphql(scenes, {"ids": [root], "depth": -1})) == [on_leaf, on_loose]


def test_studio_parents_and_depth(stash: FakeStash) -> None:
    child = stash.add_studio("Child", parent="Parent")
    parent = _found(stash.find_studio("Parent"))
    scene = stash.add_scene("s", studio="Child")
    query = """query($ids: [ID!], $depth: Int) {
      findScenes(scene_filter: {studios: {value: $ids, modifier: INCLUDES, depth: $depth}}) { scenes { id } } }"""
    assert _ids(stash.graphql(query, {"ids": [parent], "depth": -1})) == [scene]
    assert _ids(stash.graphql(query, {"ids": [parent]})) == []
    found = stash.graphql(f'{{ findStudio(id: "{parent}") {{ child_studios {{ id }} }} }}')
    assert found["data"]["findStudio"]["child_studios"] == [{"id": child}]
    stash.set_studio_parent(child, None)
    assert _context(stash.hook_runs()[-1])["inputFields"] == ["id", "parent_id"]
    assert _ids(stash.graphql(query, {"ids": [parent], "depth": -1})) == []


def test_group_synopsis_and_front_image(stash: FakeStash, clock: FakeClock) -> None:
    """front_image_path as urlbuilders.GroupURLBuilder builds it; the route serves the image, or
    Stash's placeholder when there is none (or with default=true)."""
    group = stash.add_group("G", synopsis="About G")
    query = f'{{ findGroup(id: "{group}") {{ synopsis front_image_path updated_at }} }}'
    found = stash.graphql(query)["data"]["findGroup"]
    assert found["synopsis"] == "About G" and found["front_image_path"].endswith("&default=true")
    image = default_cover(77)
    clock.advance(5)
    stash.set_group(group, synopsis="New", front_image=image)
    contexts = [_context(r) for r in stash.hook_runs()]
    assert [c["type"] for c in contexts] == ["Group.Update.Post", "Movie.Update.Post"]
    assert contexts[0]["inputFields"] == ["id", "synopsis", "front_image"]
    found = stash.graphql(query)["data"]["findGroup"]
    stamp = int(datetime.fromisoformat(found["updated_at"].replace("Z", "+00:00")).timestamp())
    assert found["synopsis"] == "New"
    assert found["front_image_path"] == f"{stash.url}/group/{group}/frontimage?t={stamp}"
    cookie = {"Cookie": f"session={stash.session_value}"}
    with urllib.request.urlopen(urllib.request.Request(found["front_image_path"], headers=cookie)) as reply:
        assert reply.read() == image
    placeholder = found["front_image_path"] + "&default=true"
    with urllib.request.urlopen(urllib.request.Request(placeholder, headers=cookie)) as reply:
        assert reply.read() != image
    assert [r.kind for r in stash.image_requests()] == ["group", "group"]
    stash.set_group(group, front_image=None, hooks=False)
    assert stash.group_front_image(group) is None
