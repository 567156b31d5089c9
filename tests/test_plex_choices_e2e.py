"""What Plex shows is the user's choice (issue 17), end to end: PlexSync.py run as Stash runs it,
real plexapi against the Plex stand-in, both tag semantics where tags are involved.

Each setting is turned on, applied, and turned off again, each time followed by *Sync all*: Plex
must end exactly as Stash and the settings say, and only values PlexSync wrote may be removed
(a label someone set in Plex stays). Hierarchy edits reach every affected item, through the hook
where Stash fires one and through the drain's catch-up where it does not.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import configure, drain_runs, past_the_write_second, run_task

pytestmark = pytest.mark.usefixtures("leak_scan")


def sync_all(stash, **expect: int) -> dict:
    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    for key, value in expect.items():
        assert run.output[key] == value, (key, run.output)
    return run.output


def item_requests(plex, rk: int) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in plex.requests_for(rk)]


def put_to(plex, rk: int):
    [put] = [r for r in plex.requests_for(rk) if r.method == "PUT"]
    return put


def last_drain(stash):
    return drain_runs(stash)[-1]


def genres(plex, rk: int) -> list[str]:
    return sorted(plex.item(rk)["tags"]["genre"])


def labels(plex, rk: int) -> list[str]:
    return sorted(plex.item(rk)["tags"]["label"])


# -- skip_fields ------------------------------------------------------------------------------


def test_skip_fields_releases_fields_then_takes_them_back(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    path_a, path_b = "/media/videos/a.mp4", "/media/videos/b.mp4"
    rk_a, rk_b = plex.add_movie(1, "a", [path_a]), plex.add_movie(1, "b", [path_b])
    a = stash.add_scene("Scene A", [path_a], details="About A", tags=["Drama"], studio="Studio A")
    b = stash.add_scene("Scene B", [path_b], details="About B", tags=["Comedy"])
    sync_all(stash)
    poster_a = plex.item(rk_a)["poster_sha1"]
    assert {"summary", "genre", "thumb"} <= plex.item(rk_a)["locked"]

    # On: Stash changes the summary, the genres, the cover and the title of A; only the title goes.
    configure(stash, plex.url, skip_fields="summary, Genres ,poster")
    time.sleep(1.1)  # Stash stamps whole seconds
    stash.silent_update(a, title="Scene A2", details="Changed in Stash", tags=["Thriller"])
    stash.set_cover(a, b"\x89PNG\r\n\x1a\n" + b"another cover")
    plex.clear_log()
    sync_all(stash)
    item = plex.item(rk_a)
    assert item["title"] == "Scene A2"
    assert item["summary"] == "About A" and genres(plex, rk_a) == ["Drama"]  # PlexSync's old values stay
    assert item["poster_sha1"] == poster_a  # no upload
    assert "summary" not in item["locked"] and "genre" not in item["locked"]  # left to Plex from now on
    assert "title" in item["locked"]
    # B changed nothing in Stash: one PUT releases its locks, no GET (the ledger knows the item).
    assert item_requests(plex, rk_b) == [("PUT", "/library/sections/1/all")]
    assert put_to(plex, rk_b).param("summary.locked") == "0" and put_to(plex, rk_b).param("genre.locked") == "0"
    assert put_to(plex, rk_b).param("summary.value") is None
    assert not [r for r in plex.log_snapshot() if r.method == "POST"]
    # Released means released: the next Sync all asks Plex nothing for these items...
    plex.clear_log()
    sync_all(stash, written=0)
    assert item_requests(plex, rk_a) == item_requests(plex, rk_b) == []
    # ... and Plex's agent owns the fields now: a refresh empties what is unlocked.
    plex.agent_refresh(rk_b)
    assert plex.item(rk_b)["summary"] is None and genres(plex, rk_b) == []
    assert plex.item(rk_b)["title"] == "Scene B"  # still PlexSync's, still locked

    # Off again: Stash wins once more, every field written and locked.
    plex.hand_edit(rk_a, summary="Typed in Plex")
    configure(stash, plex.url)
    sync_all(stash)
    for rk, scene in ((rk_a, a), (rk_b, b)):
        want = stash.scene(scene)
        item = plex.item(rk)
        assert item["summary"] == want["details"]
        assert genres(plex, rk) == sorted(t["name"] for t in want["tags"])
        assert {"summary", "genre", "thumb"} <= item["locked"]
    assert plex.item(rk_a)["poster_sha1"] != poster_a  # the changed cover goes up now


def test_unknown_skip_field_is_a_clear_error(world, data_dir: Path) -> None:
    stash, plex = world
    configure(stash, plex.url, skip_fields="title, tags")
    run = run_task(stash, "Process queue")
    assert run.error is not None
    assert "skip_fields" in run.error and "'tags'" in run.error
    assert "title, summary, date, studio, actors, genres, labels, collections, rating, poster, director" in run.error


# -- exclude_tags -----------------------------------------------------------------------------


def test_excluded_tree_on_and_off(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    stash.add_tag("Deep", parents=["Private Sub"])
    stash.add_tag("Private Sub", parents=["Private"])
    rks = {n: plex.add_movie(1, n, [f"/media/videos/{n}.mp4"]) for n in ("a", "b", "c")}
    a = stash.add_scene("A", ["/media/videos/a.mp4"], tags=["Deep", "Keep"])
    stash.add_scene("B", ["/media/videos/b.mp4"], tags=["Private Sub"])
    stash.add_scene("C", ["/media/videos/c.mp4"], tags=["Keep"])
    sync_all(stash)
    assert genres(plex, rks["a"]) == ["Deep", "Keep"] and genres(plex, rks["b"]) == ["Private Sub"]
    past_the_write_second()  # so that Sync all's listing vouches for the items (1 PUT, no GET)

    configure(stash, plex.url, exclude_tags="private, No Such Tag")  # any case; an unknown name warns
    plex.clear_log()
    sync_all(stash, written=2)
    assert genres(plex, rks["a"]) == ["Keep"] and genres(plex, rks["b"]) == []
    assert item_requests(plex, rks["c"]) == []  # carries nothing excluded: untouched
    for rk in (rks["a"], rks["b"]):
        assert item_requests(plex, rk) == [("PUT", "/library/sections/1/all")]  # 1 request each
    warnings = [m for r in stash.task_runs() for m in r.logs_at("warning")]
    assert any("exclude_tags names 'No Such Tag'" in m for m in warnings), warnings
    # Never a label either, under label_tags naming the same tree.
    configure(stash, plex.url, exclude_tags="Private", label_tags="Private Sub")
    sync_all(stash)
    assert labels(plex, rks["a"]) == labels(plex, rks["b"]) == []

    configure(stash, plex.url)
    sync_all(stash, written=2)
    assert genres(plex, rks["a"]) == ["Deep", "Keep"] and genres(plex, rks["b"]) == ["Private Sub"]
    assert stash.scene(a)["tags"]  # (Stash itself never changed)


def test_moving_tags_in_and_out_of_an_excluded_tree(world, tag_mode: str, data_dir: Path) -> None:
    """Through the hook where Stash fires one (the moved tag's own edit), and through the catch-up
    where it does not (a parent's sub-tags edited: the sub-tag's row does not change)."""
    stash, plex = world
    hidden, loose = stash.add_tag("Hidden"), stash.add_tag("Loose")
    stash.add_tag("Loose Child", parents=["Loose"])
    rk_d = plex.add_movie(1, "d", ["/media/videos/d.mp4"])
    rk_e = plex.add_movie(1, "e", ["/media/videos/e.mp4"])
    stash.add_scene("D", ["/media/videos/d.mp4"], tags=["Loose", "Open"])
    stash.add_scene("E", ["/media/videos/e.mp4"], tags=["Loose Child"])
    configure(stash, plex.url, exclude_tags="Hidden")
    sync_all(stash)
    assert genres(plex, rk_d) == ["Loose", "Open"] and genres(plex, rk_e) == ["Loose Child"]

    # The tag page's "Parent tags" saved: Tag.Update.Post for Loose; its scenes and its sub-tag's.
    time.sleep(1.1)
    stash.set_tag_parents(loose, [hidden])
    stash.wait_for_jobs(120)
    assert genres(plex, rk_d) == ["Open"] and genres(plex, rk_e) == []
    assert last_drain(stash).error is None

    # Hidden's "Sub-tags" emptied: the hook fires for Hidden only, which carries no scene now;
    # it starts a drain, whose catch-up sees the roles change and writes D and E.
    time.sleep(1.1)
    drains = len(drain_runs(stash))
    stash.set_tag_children(hidden, [])
    stash.wait_for_jobs(120)
    assert len(drain_runs(stash)) == drains + 1
    assert last_drain(stash).output["convergence"]["stash_changes"] == 2, last_drain(stash).output
    assert genres(plex, rk_d) == ["Loose", "Open"] and genres(plex, rk_e) == ["Loose Child"]

    # Moved with no hook at all (the plugin was off): the next drain, whatever starts it.
    time.sleep(1.1)
    stash.set_tag_parents(loose, [hidden], hooks=False)
    run = run_task(stash, "Process queue")
    assert run.error is None, run.logs
    assert genres(plex, rk_d) == ["Open"] and genres(plex, rk_e) == []


# -- label_tags -------------------------------------------------------------------------------


def test_label_tree_keeps_labels_set_in_plex(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    stash.add_tag("Kids", parents=["Audience"])
    stash.add_tag("Adults", parents=["Audience"])
    # "Shared" and "Kids" were labels a person set in Plex before PlexSync managed any.
    rk = plex.add_movie(1, "a", ["/media/videos/a.mp4"], labels=["Shared", "Kids"])
    rk_b = plex.add_movie(1, "b", ["/media/videos/b.mp4"])
    a = stash.add_scene("A", ["/media/videos/a.mp4"], tags=["Kids", "Drama", "Adults"])
    b = stash.add_scene("B", ["/media/videos/b.mp4"], tags=["Drama"])
    sync_all(stash)
    assert genres(plex, rk) == ["Adults", "Drama", "Kids"] and labels(plex, rk) == ["Kids", "Shared"]

    configure(stash, plex.url, label_tags="audience")
    plex.clear_log()
    sync_all(stash)
    assert genres(plex, rk) == ["Drama"] and labels(plex, rk) == ["Adults", "Kids", "Shared"]
    assert "label" in plex.item(rk)["locked"]
    assert item_requests(plex, rk_b) == []  # no label wanted, none owned: B costs nothing
    assert labels(plex, rk_b) == []

    # A tag change through the hook: PlexSync's own label goes, the person's stay; 1 request.
    time.sleep(1.1)
    plex.clear_log()
    stash.update_scene(a, tag_ids=[stash.find_tag("Drama"), stash.find_tag("Kids")])
    stash.wait_for_jobs(120)
    assert labels(plex, rk) == ["Kids", "Shared"] and genres(plex, rk) == ["Drama"]
    assert item_requests(plex, rk) == [("PUT", "/library/sections/1/all")]
    # An unchanged scene costs nothing; a changed one (its title) one PUT, labels untouched.
    time.sleep(1.1)
    plex.clear_log()
    stash.update_scene(a, title="A renamed")
    stash.wait_for_jobs(120)
    assert item_requests(plex, rk) == [("PUT", "/library/sections/1/all")]
    assert labels(plex, rk) == ["Kids", "Shared"]
    plex.clear_log()
    sync_all(stash, written=0)
    assert item_requests(plex, rk) == []
    # A label a person adds later stays too.
    plex.hand_edit(rk, label=["Kids", "Shared", "Family"])

    configure(stash, plex.url)
    sync_all(stash)
    # Off: genres again; "Kids" was there before PlexSync wanted it, so it is the person's and stays.
    assert genres(plex, rk) == ["Drama", "Kids"]
    assert labels(plex, rk) == ["Family", "Kids", "Shared"]
    assert stash.scene(b)["tags"][0]["name"] == "Drama"


def test_label_tree_follows_moves_and_renames(world, tag_mode: str, data_dir: Path) -> None:
    """A tag moved under the label parent becomes a label (hook); the named parent renamed, with
    no hook, names nothing any more: its tree is genres again at the next drain."""
    stash, plex = world
    audience = stash.add_tag("Audience")
    teens = stash.add_tag("Teens")
    stash.add_tag("Kids", parents=["Audience"])
    rk = plex.add_movie(1, "a", ["/media/videos/a.mp4"])
    stash.add_scene("A", ["/media/videos/a.mp4"], tags=["Kids", "Teens", "Drama"])
    configure(stash, plex.url, label_tags="Audience")
    sync_all(stash)
    assert labels(plex, rk) == ["Kids"] and genres(plex, rk) == ["Drama", "Teens"]
    time.sleep(1.1)
    stash.set_tag_parents(teens, [audience])
    stash.wait_for_jobs(120)
    assert labels(plex, rk) == ["Kids", "Teens"] and genres(plex, rk) == ["Drama"]
    time.sleep(1.1)
    stash.rename_tag(audience, "Viewers", hooks=False)
    assert run_task(stash, "Process queue").error is None
    assert labels(plex, rk) == [] and genres(plex, rk) == ["Drama", "Kids", "Teens"]


# -- organized_label --------------------------------------------------------------------------


def test_organized_label_follows_the_flag(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    rk = plex.add_movie(1, "a", ["/media/videos/a.mp4"], labels=["Mine"])
    a = stash.add_scene("A", ["/media/videos/a.mp4"], organized=True)
    # Off (default): marking organized changes nothing in Plex, and the hook skips it.
    sync_all(stash)
    stash.update_scene(a, organized=False)
    hook = [r for r in stash.hook_runs() if r.args.get("hookContext", {}).get("type") == "Scene.Update.Post"][-1]
    assert hook.output["action"] == "skipped", hook.output

    configure(stash, plex.url, organized_label="Reviewed")
    sync_all(stash)
    assert labels(plex, rk) == ["Mine"]
    time.sleep(1.1)
    stash.update_scene(a, organized=True)  # the hook passes it on now: a drain writes the label
    stash.wait_for_jobs(120)
    assert labels(plex, rk) == ["Mine", "Reviewed"]
    time.sleep(1.1)
    stash.update_scene(a, organized=False)
    stash.wait_for_jobs(120)
    assert labels(plex, rk) == ["Mine"]
    time.sleep(1.1)
    stash.update_scene(a, organized=True)
    stash.wait_for_jobs(120)
    assert labels(plex, rk) == ["Mine", "Reviewed"]

    configure(stash, plex.url)  # off again: the label PlexSync wrote goes, the person's stays
    sync_all(stash, written=1)
    assert labels(plex, rk) == ["Mine"]


# -- studio_collections -----------------------------------------------------------------------


def test_studio_collections_follow_renames_and_moves(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    stash.add_studio("Channel", parent="Network")
    show_studio = stash.add_studio("Show Studio", parent="Channel")
    rk = plex.add_movie(1, "a", ["/media/videos/a.mp4"])
    rk_b = plex.add_movie(1, "b", ["/media/videos/b.mp4"])
    stash.add_scene("A", ["/media/videos/a.mp4"], studio="Show Studio", groups=[("Saga", 1)])
    stash.add_scene("B", ["/media/videos/b.mp4"], studio="Elsewhere")
    sync_all(stash)
    assert plex.item(rk)["tags"]["collection"] == ["Saga"]

    configure(stash, plex.url, studio_collections=True)
    sync_all(stash, written=2)
    assert sorted(plex.item(rk)["tags"]["collection"]) == ["Channel", "Network", "Saga", "Show Studio"]
    assert plex.item(rk)["studio"] == "Show Studio" and plex.item(rk_b)["tags"]["collection"] == ["Elsewhere"]
    assert set(plex.collections(1)) == {"Channel", "Network", "Saga", "Show Studio", "Elsewhere"}

    # A parent studio renamed (hook): scenes of its sub-studios follow.
    time.sleep(1.1)
    stash.rename_studio(stash.find_studio("Channel"), "Channel Two")
    stash.wait_for_jobs(120)
    assert sorted(plex.item(rk)["tags"]["collection"]) == ["Channel Two", "Network", "Saga", "Show Studio"]
    # Moved under another parent (hook with parent_id), then back with no hook (catch-up).
    time.sleep(1.1)
    stash.set_studio_parent(show_studio, stash.add_studio("Other Net"))
    stash.wait_for_jobs(120)
    assert sorted(plex.item(rk)["tags"]["collection"]) == ["Other Net", "Saga", "Show Studio"]
    time.sleep(1.1)
    stash.set_studio_parent(show_studio, stash.find_studio("Channel Two"), hooks=False)
    assert run_task(stash, "Process queue").error is None
    assert sorted(plex.item(rk)["tags"]["collection"]) == ["Channel Two", "Network", "Saga", "Show Studio"]

    configure(stash, plex.url)
    sync_all(stash, written=2)
    assert plex.item(rk)["tags"]["collection"] == ["Saga"] and plex.item(rk_b)["tags"]["collection"] == []
    assert set(plex.collections(1)) == {"Saga"}  # Plex drops a collection no item is in


# -- episodes ---------------------------------------------------------------------------------


def test_episode_takes_labels_and_collections_but_no_genre(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    plex.add_section(2, "Series", "show", ["/media/series"])
    configure(stash, plex.url, plex_library="Series", label_tags="Audience", organized_label="Reviewed",
              studio_collections=True)
    show = plex.add_show(2, "Harbor Nights")
    rk = plex.add_episode(show, 1, 2, "file name", ["/media/series/Harbor/S01E02.mkv"])
    stash.add_tag("Kids", parents=["Audience"])
    stash.add_studio("Harbor Studio", parent="Sea Network")
    stash.add_scene("Pilot", ["/media/series/Harbor/S01E02.mkv"], tags=["Kids", "Drama"], organized=True,
                    studio="Harbor Studio")
    sync_all(stash, written=1)
    item = plex.item(rk)
    assert sorted(item["tags"]["label"]) == ["Kids", "Reviewed"]
    assert sorted(item["tags"]["collection"]) == ["Harbor Studio", "Sea Network"]
    assert item["tags"]["genre"] == [] and item["studio"] is None
    put = put_to(plex, rk)
    assert put.param("type") == "4" and put.param("genre.locked") is None

    configure(stash, plex.url, plex_library="Series")
    sync_all(stash, written=1)
    item = plex.item(rk)
    assert item["tags"]["label"] == [] and item["tags"]["collection"] == [] and item["tags"]["genre"] == []
