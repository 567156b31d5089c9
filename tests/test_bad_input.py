"""Bad input gets a clear answer: a corpus of what Stash, users, scrapers and Plex really send.

Every case runs the real PlexSync.py through the Stash stand-in (stdin exactly as Stash writes it,
or exactly the bytes given) and, where Plex is involved, the Plex stand-in; each case asserts the
plugin's answer: one JSON object on stdout with a clear error (never a traceback as the message),
no crash, bounded time, and for scene data the exact values that reached Plex. Property-based
tests (hypothesis) cover text cleaning (path_map's are in test_pathmap.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from plex.mapping import (
    MAX_TAGS,
    SUMMARY_MAX,
    TITLE_MAX,
    clean_line,
    clean_summary,
    clean_tags,
    parse_date,
)
from tests.helpers import (
    configure,
    inbox,
    process_queue,
    queue_directly,
    synced,
)
from tests.standins.plugin_runner import (
    assert_stdout_contract,
    build_argv,
    build_env,
    encode_plugin_input,
)

# -- stdin ------------------------------------------------------------------------------------


def _connection(stash) -> dict:
    return stash.server_connection()


def _stdin_cases(stash) -> list[tuple[str, bytes, str]]:
    """(case, exact stdin bytes, a phrase the error must contain)."""
    conn = _connection(stash)

    def doc(**document) -> bytes:
        return json.dumps(document).encode()

    return [
        ("empty", b"", "no input on stdin"),
        ("whitespace only", b"  \n\t ", "no input on stdin"),
        ("not JSON", b"hello, Stash", "not valid JSON"),
        ("truncated JSON", doc(server_connection=conn, args={"mode": "status"})[:-7], "not valid JSON"),
        ("invalid UTF-8", b'{"args": "\xff\xfe"}', "not valid JSON"),
        ("JSON array", b"[1, 2, 3]", "is a list, expected an object"),
        ("JSON string", b'"process_queue"', "is a str, expected an object"),
        ("JSON null", b"null", "is a NoneType, expected an object"),
        ("missing server_connection", doc(args={"mode": "status"}), "no server_connection"),
        ("server_connection wrong type", doc(server_connection="127.0.0.1:9999", args={}),
         "no server_connection"),
        ("args wrong type", doc(server_connection=conn, args=["mode", "status"]),
         "args is a list, expected an object"),
        ("missing args", doc(server_connection=conn), "neither mode nor hookContext"),
        ("empty args", doc(server_connection=conn, args={}), "neither mode nor hookContext"),
        ("unknown mode", doc(server_connection=conn, args={"mode": "frobnicate"}),
         "unknown mode 'frobnicate'"),
        ("mode wrong type", doc(server_connection=conn, args={"mode": 42}), "unknown mode 42"),
        ("hookContext wrong type", doc(server_connection=conn, args={"hookContext": "Scene.Update.Post"}),
         "hookContext is a str, expected an object"),
        ("deeply nested JSON", b'{"args": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
         "not valid JSON"),
    ]


def test_stdin_corpus_gets_one_clear_error_each(fake_stash, data_dir: Path) -> None:
    stash = fake_stash
    cases = _stdin_cases(stash)
    for case, stdin, phrase in cases:
        run = stash.run_plugin_raw({}, stdin_override=stdin)
        result = assert_stdout_contract(run)  # exactly one {output, error} object, nothing else
        assert run.exit_code == 1, (case, run.exit_code, run.stderr[-500:])
        assert result["output"] is None, case
        assert phrase in (result["error"] or ""), (case, result["error"])
        assert "Traceback" not in result["error"], case
        assert run.unprefixed_lines == [], (case, run.unprefixed_lines)
        assert run.logs_at("error") == [result["error"]], (case, run.logs)
        assert run.wall_time < 20, (case, run.wall_time)  # a hang detector, not a benchmark
    assert not (data_dir / "plexsync.db").exists()  # nothing was recorded for any of them
    print(f"RELIABILITY: bad stdin: {len(cases)} cases, each one clear error, 0 crashes")


def test_hook_context_with_missing_or_wrong_keys_is_skipped_cleanly(fake_stash, data_dir: Path) -> None:
    stash = fake_stash
    cases = [
        ({"type": "Scene.Update.Post"}, "hook has no object id"),
        ({"id": "abc", "type": "Scene.Update.Post", "input": {"title": "x"}}, "hook has no object id"),
        ({"id": -5, "type": "Scene.Update.Post", "input": {"title": "x"}}, "hook has no object id"),
        ({"id": 3, "input": {"title": "x"}}, "hook type (none) is not handled"),
        ({"id": 3, "type": "Gallery.Update.Post", "input": {"title": "x"}}, "is not handled"),
        # A null input is what Stash's scan sends (a moved file): queued, the binding must follow.
        ({"id": 2, "type": "Scene.Update.Post", "input": None}, None),
        ({"id": 3, "type": "Scene.Update.Post", "input": "title"}, "no field Plex shows changed"),
        ({"id": 3, "type": "Scene.Update.Post", "input": {"title": "x"}, "inputFields": "title"},
         None),  # inputFields of the wrong type: falls back to the input's keys
    ]
    stash.add_scene("three", ["/media/videos/3.mp4"])
    stash.add_scene("two", ["/media/videos/2.mp4"])
    stash.add_scene("one", ["/media/videos/x.mp4"])
    for context, reason in cases:
        args = {"hookContext": context}
        stdin = encode_plugin_input(_connection(stash), args)
        run = stash.run_plugin_raw(args, stdin_override=stdin, kind="hook")
        result = assert_stdout_contract(run)
        assert run.exit_code == 0 and result["error"] is None, (context, result)
        if reason is None:
            assert result["output"]["action"] == "queued", (context, result)
        else:
            assert result["output"]["action"] == "skipped", (context, result)
            assert reason in result["output"]["reason"], (context, result)
        assert run.logs_at("error") == [], (context, run.logs)


def _measured_run(stash, stdin: bytes, timeout: float = 120) -> tuple[int, bytes, bytes, int, float]:
    """Run PlexSync.py as Stash does and return (exit, stdout, stderr, peak RSS in KiB, seconds).

    ``os.wait4`` reports this one child's own peak resident set size.
    """
    argv = build_argv(stash.manifest, stash.manifest.hooks[0], stash.python)
    env = build_env(stash._env, stash.plugin_dir, python_command=True)
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=str(stash.cwd), env=env)
    to_child, from_child, child_err = proc.stdin, proc.stdout, proc.stderr
    assert to_child is not None and from_child is not None and child_err is not None  # all PIPE
    out: list[bytes] = []
    err: list[bytes] = []

    def feed() -> None:
        try:
            to_child.write(stdin)
        except OSError:
            pass
        finally:
            to_child.close()

    threads = [
        threading.Thread(target=feed, daemon=True),
        threading.Thread(target=lambda: out.append(from_child.read()), daemon=True),
        threading.Thread(target=lambda: err.append(child_err.read()), daemon=True),
    ]
    for thread in threads:
        thread.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for thread in threads:
        thread.join(10)
    return proc.returncode, b"".join(out), b"".join(err), usage.ru_maxrss, time.monotonic() - started


def test_100_mb_cover_image_in_the_hook_input(fake_stash, data_dir: Path) -> None:
    """A cover upload arrives in the hook's input as a data URL; 100 MB of it must not hurt."""
    stash = fake_stash
    scene = stash.add_scene("Big cover", ["/media/videos/big.mp4"])
    size = 100 * 1024 * 1024
    cover = "data:image/jpeg;base64," + "A" * size
    context = {"id": int(scene), "type": "Scene.Update.Post",
               "input": {"id": scene, "cover_image": cover}, "inputFields": ["id", "cover_image"]}
    del cover
    run = stash.run_hook_raw(context)
    result = assert_stdout_contract(run)
    assert run.exit_code == 0 and result["error"] is None, result
    assert result["output"]["action"] == "queued"  # a new cover is something Plex shows
    assert int(scene) in inbox(data_dir)
    assert len(run.stdout) < 1000 and len(run.stderr) < 10_000  # the input is never echoed
    stdin = run.stdin
    assert len(stdin) > size
    run.stdin = b""  # the record keeps no 100 MB copy for the rest of the session

    # The same bytes again, measured: peak memory and time stay bounded.
    code, stdout, stderr, peak_kib, seconds = _measured_run(stash, stdin)
    del stdin
    assert code == 0 and json.loads(stdout)["error"] is None, stderr[-2000:]
    assert peak_kib * 1024 < 4.5 * size, f"peak RSS {peak_kib / 1024:.0f} MiB for a 100 MiB input"
    assert seconds < 60, seconds
    print(f"RELIABILITY: 100 MB cover_image in a hook: queued, peak RSS {peak_kib / 1024:.0f} MiB, {seconds:.2f}s")


# -- settings ---------------------------------------------------------------------------------


SETTING_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (case, settings overrides, setting named, a phrase of the fix)
    ("url without scheme", {"plex_url": "127.0.0.1:32400"}, "plex_url", "http://127.0.0.1:32400"),
    ("url empty", {"plex_url": ""}, "plex_url", "is empty"),
    ("url with token in query", {"plex_url": "http://127.0.0.1:1/?X-Plex-Token=abc"}, "plex_url",
     "query string"),
    ("token with spaces", {"plex_token": "abcd efgh ijkl"}, "plex_token", "spaces"),
    ("token empty", {"plex_token": "   "}, "plex_token", "is empty"),
    ("string for a boolean", {"strict_matching": "false"}, "strict_matching", "on or off"),
    ("string for tls_verify", {"tls_verify": "yes"}, "tls_verify", "on or off"),
    ("number for a boolean", {"preserve_plex_edits": 1}, "preserve_plex_edits", "on or off"),
    ("path_map wrong arrow", {"path_map": "/data -> /media"}, "path_map", "exactly one '=>'"),
    ("path_map two arrows", {"path_map": "/a => /b => /c"}, "path_map", "exactly one '=>'"),
    ("path_map one side empty", {"path_map": "/data => /media; => /x"}, "path_map",
     "needs a path on both sides"),
    ("path_map not text", {"path_map": 5}, "path_map", "must be text"),
]


def test_wrong_settings_one_clear_error_naming_the_setting(linked, data_dir: Path) -> None:
    stash, plex = linked
    rk = plex.add_movie(1, "kept", ["/media/videos/kept.mp4"])
    scene = stash.add_scene("Kept", ["/media/videos/kept.mp4"])
    queue_directly(data_dir, stash, [scene])
    for case, overrides, setting, fix in SETTING_CASES:
        configure(stash, plex.url, **overrides)
        run = process_queue(stash)
        result = assert_stdout_contract(run)
        error = result["error"] or ""
        assert run.exit_code == 1, case
        assert f"setting '{setting}'" in error and fix in error, (case, error)
        assert "Traceback" not in error
        assert run.logs_at("error") == [error], (case, run.logs)  # one error, not a cascade
        assert "abcd efgh" not in error  # the bad token is not echoed back
        assert inbox(data_dir)[int(scene)]["state"] == "pending", case  # the job is kept
    assert plex.matching_requests(method="PUT") == []

    configure(stash, plex.url, plex_library="Movies, No Such Library")
    run = process_queue(stash)
    error = run.error or ""
    assert run.exit_code == 1
    assert "plex_library names 'No Such Library'" in error and "'Movies' (movie)" in error, error
    assert run.logs_at("error") == [error], run.logs
    assert inbox(data_dir)[int(scene)]["state"] == "pending"
    assert inbox(data_dir)[int(scene)]["attempts"] == 0

    print(f"RELIABILITY: bad settings: {len(SETTING_CASES) + 1} cases, each one error naming the setting")
    configure(stash, plex.url)  # fixed: the kept job syncs
    run = process_queue(stash)
    assert run.error is None and run.output["written"] == 1
    assert plex.item(rk)["title"] == "Kept"


# -- scene data through the full sync ---------------------------------------------------------


EMOJI_TITLE = "🎬 Première 👩‍👩‍👧 テスト ✓"
RTL_TITLE = "فيلم عربي — שלום עולם"
RTL_DETAILS = "تفاصيل المشهد\nפרטים נוספים (RTL)"
PERFORMERS = ["Smith, John", "Tom & Jerry, Jr.", "A&B", "50% Off", "a+b=c", "x/y", "Q?uery#hash",
              "Ampersand &amp; Entity", "Comma,NoSpace"]
SPACE_PATH = "/media/videos/My Clips/Ça va & co #1 (2024) [x] 100%.mp4"
NFD_PATH = unicodedata.normalize("NFD", "/media/videos/Café Ñandú/Crème brûlée.mp4")
REPLACEMENT_PATH = "/media/videos/broken/bad\ufffdname \ufffd.mp4"  # Go's view of invalid UTF-8


def test_scene_data_corpus_through_the_full_sync(linked, data_dir: Path) -> None:
    stash, plex = linked
    rks: dict[str, int] = {}
    scenes: dict[str, str] = {}

    def scene(case: str, files: list[str], plex_files: list | None = None, **data) -> str:
        scenes[case] = stash.add_scene(data.pop("title", case), files, **data)
        if plex_files is not None:
            rks[case] = plex.add_movie(1, f"plex {case}", plex_files)
        return scenes[case]

    scene("no files", [])
    scene("several files", ["/media/videos/multi/a.mp4", "/media/videos/multi/b.mp4"],
          ["/media/videos/multi/b.mp4"], details="second file is the one Plex has")
    scene("files in two items", ["/media/videos/two/a.mp4", "/media/videos/two/b.mp4"],
          ["/media/videos/two/a.mp4"])
    rks["files in two items (other)"] = plex.add_movie(1, "other half", ["/media/videos/two/b.mp4"])
    scene("emoji", ["/media/videos/emoji.mp4"], ["/media/videos/emoji.mp4"], title=EMOJI_TITLE,
          details="😀" * 50, studio="Studio 🌈")
    scene("rtl", ["/media/videos/rtl.mp4"], ["/media/videos/rtl.mp4"], title=RTL_TITLE,
          details=RTL_DETAILS, performers=["محمد", "שרה"])
    scene("controls", ["/media/videos/ctl.mp4"], ["/media/videos/ctl.mp4"],
          title="Bad\x00Title\x07 with\tTab\x1b[31m", details="line1\r\nline2\x00\x0b end\u2028",
          studio="Stu\x00dio", tags=["ta\x00g", "\x01"])
    big = ("0123456789 abcdefghij\n" * 50_000)[: 1024 * 1024]
    scene("1 MB details", ["/media/videos/big.mp4"], ["/media/videos/big.mp4"], details=big)
    scene("bad date", ["/media/videos/date.mp4"], ["/media/videos/date.mp4"], date="2024-13-45",
          details="the rest still syncs", rating100=80)
    many_tags = [f"Tag {n:04d}" for n in range(5000)]
    scene("5000 tags", ["/media/videos/tags.mp4"], ["/media/videos/tags.mp4"], tags=many_tags)
    scene("names", ["/media/videos/names.mp4"], ["/media/videos/names.mp4"], performers=PERFORMERS,
          tags=["Rock & Roll", "Drama, Comedy"], groups=["Part 1, 2 & 3"], studio="Smith & Sons, Ltd.")
    scene("spaces in path", [SPACE_PATH], [SPACE_PATH])
    scene("NFD path", [NFD_PATH], [NFD_PATH])
    scene("replacement chars in path", [REPLACEMENT_PATH], [REPLACEMENT_PATH])
    scene("multi-part item", ["/media/videos/parts/cd2.mp4"],
          [["/media/videos/parts/cd1.mp4", "/media/videos/parts/cd2.mp4"]])
    scene("several media", ["/media/videos/versions/4k.mp4"],
          ["/media/videos/versions/1080p.mp4", "/media/videos/versions/4k.mp4"])
    scene("bare item", ["/media/videos/bare.mp4"], ["/media/videos/bare.mp4"], details="d",
          studio="S", date="2020-02-29", rating100=55, performers=["P"], tags=["T"], groups=["G"])
    plex.add_movie(1, "no media at all", [])  # Plex data with no Media element
    queue_directly(data_dir, stash, list(scenes.values()))

    run = process_queue(stash, timeout=180)
    assert run.exit_code == 0 and run.error is None, (run.error, run.logs_at("error"))
    assert run.unprefixed_lines == []
    rows = inbox(data_dir)
    done = synced(data_dir)
    warnings = "\n".join(run.logs_at("warning"))

    def item(case: str) -> dict:
        return plex.item(rks[case])

    # No files: nothing to match, parked with the reason, no Plex request for it.
    assert rows[int(scenes["no files"])]["state"] == "failed"
    assert "no file" in rows[int(scenes["no files"])]["last_error"]
    # Several files: the one Plex has decides; two files in two items is ambiguous → review.
    assert item("several files")["title"] == "several files"
    assert rows[int(scenes["files in two items"])]["state"] == "review"
    assert item("files in two items")["title"] == "plex files in two items"
    assert plex.item(rks["files in two items (other)"])["title"] == "other half"
    # Unicode round-trips exactly.
    assert item("emoji")["title"] == EMOJI_TITLE
    assert item("emoji")["summary"] == "😀" * 50 and item("emoji")["studio"] == "Studio 🌈"
    assert item("rtl")["title"] == RTL_TITLE and item("rtl")["summary"] == RTL_DETAILS
    assert sorted(item("rtl")["tags"]["actor"]) == sorted(["محمد", "שרה"])
    # NUL and control characters are removed; tabs and line ends become what Plex can store.
    ctl = item("controls")
    assert ctl["title"] == "BadTitle with Tab[31m"
    assert ctl["summary"] == "line1\nline2 end"
    assert ctl["studio"] == "Studio" and ctl["tags"]["genre"] == ["tag"]
    # 1 MB of details: cut to the summary limit, at a character boundary, the rest intact.
    summary = item("1 MB details")["summary"]
    assert len(summary) <= SUMMARY_MAX and big.startswith(summary) and len(summary) > SUMMARY_MAX - 30
    # An impossible date is dropped with a warning naming it; everything else is written.
    dated = item("bad date")
    assert dated["originallyAvailableAt"] is None
    assert dated["summary"] == "the rest still syncs" and dated["userRating"] == "8.0"
    assert "2024-13-45" in warnings and f"scene {scenes['bad date']}" in warnings
    # 5,000 tags: capped at MAX_TAGS, in Stash's order, with a warning.
    genres = item("5000 tags")["tags"]["genre"]
    assert genres == many_tags[:MAX_TAGS]
    assert f"scene {scenes['5000 tags']}" in warnings and "5000" in warnings, warnings
    # Names with commas and ampersands arrive exactly.
    names = item("names")
    assert sorted(names["tags"]["actor"]) == sorted(PERFORMERS)
    assert sorted(names["tags"]["genre"]) == ["Drama, Comedy", "Rock & Roll"]
    assert names["tags"]["collection"] == ["Part 1, 2 & 3"]
    assert names["studio"] == "Smith & Sons, Ltd."
    # Paths with spaces, NFD names and replacement characters match by their exact path.
    for case in ("spaces in path", "NFD path", "replacement chars in path", "multi-part item",
                 "several media", "bare item"):
        assert done[int(scenes[case])]["plex_item_key"] == str(rks[case]), case
        assert item(case)["title"] == case, case
    bare = item("bare item")
    assert (bare["summary"], bare["studio"], bare["originallyAvailableAt"], bare["userRating"]) == (
        "d", "S", "2020-02-29", "5.5")
    assert (bare["tags"]["actor"], bare["tags"]["genre"], bare["tags"]["collection"]) == (["P"], ["T"], ["G"])
    assert set(rows) == {int(scenes["no files"]), int(scenes["files in two items"])}

    print(f"RELIABILITY: scene/Plex data corpus: {len(scenes)} scenes through a full sync, "
          f"{len(scenes) - 2} written exactly, 2 parked with their reason")

    # Removing names with commas and ampersands removes exactly them.
    keep = [p for p in PERFORMERS if p not in ("Smith, John", "Tom & Jerry, Jr.")]
    stash.update_scene(scenes["names"], performer_ids=[stash.find_performer(p) for p in keep],
                       tag_ids=[stash.find_tag("Rock & Roll")])
    stash.wait_for_jobs(120)
    names = item("names")
    assert sorted(names["tags"]["actor"]) == sorted(keep)
    assert names["tags"]["genre"] == ["Rock & Roll"]


# -- property-based: text cleaning --------------------------------------------------------------

_ALLOWED_IN_SUMMARY = {"\n", "\t"}


def _has_bad_chars(text: str, allowed: set[str]) -> bool:
    return any(
        (unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed) or ord(ch) in (0xFFFE, 0xFFFF)
        for ch in text
    )


_ANY_TEXT = st.text(alphabet=st.characters(), max_size=400)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_ANY_TEXT, limit=st.integers(min_value=1, max_value=300))
def test_clean_line_properties(text, limit) -> None:
    cleaned = clean_line(text, limit)
    assert clean_line(cleaned, limit) == cleaned  # idempotent
    assert unicodedata.is_normalized("NFC", cleaned)
    assert not _has_bad_chars(cleaned, set())
    assert not any(ch in cleaned for ch in "\n\r\t\x0b\x0c\x85\u2028\u2029")
    assert len(cleaned) <= limit
    assert cleaned == cleaned.strip() and "  " not in cleaned


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_ANY_TEXT, limit=st.integers(min_value=1, max_value=500))
def test_clean_summary_properties(text, limit) -> None:
    cleaned = clean_summary(text, limit)
    assert clean_summary(cleaned, limit) == cleaned
    assert unicodedata.is_normalized("NFC", cleaned)
    assert not _has_bad_chars(cleaned, _ALLOWED_IN_SUMMARY)
    assert "\r" not in cleaned and len(cleaned) <= limit
    assert cleaned == cleaned.strip()


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
                    min_size=1, max_size=100))
def test_clean_line_keeps_clean_text_as_is(text) -> None:
    normal = unicodedata.normalize("NFC", text)
    assume(not _has_bad_chars(normal, set()) and len(normal) <= TITLE_MAX)
    assert clean_line(normal) == normal


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.integers(), _ANY_TEXT), max_size=40),
       max_tags=st.integers(min_value=1, max_value=30))
def test_clean_tags_properties(values, max_tags) -> None:
    cleaned = clean_tags(values, max_tags=max_tags)
    assert len(cleaned) <= max_tags and len(set(cleaned)) == len(cleaned)
    assert all(name and name == clean_line(name) for name in cleaned)
    assert clean_tags(cleaned, max_tags=max_tags) == cleaned


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(max_size=15), st.dates().map(str), st.integers(), st.none()))
def test_parse_date_properties(value) -> None:
    parsed = parse_date(value)
    if parsed is not None:
        assert parse_date(parsed) == parsed and len(parsed) == 10
    for bad in ("2024-13-45", "2021-02-30", "0000-00-00", "2024-1-5", "yesterday"):
        assert parse_date(bad) is None

