"""Performer photos on Plex actors, end to end: PlexSync.py run as Stash runs it, real plexapi
against the Plex stand-in.

Plex takes an actor's photo as a URL it fetches itself (``actor[i].tag.thumb`` beside
``actor[i].tag.tag`` in the indexed edit), and keeps one photo per person for the whole server.
PlexSync sends the performer's Stash image (``image_path``) re-based onto ``stash_url_for_plex``,
only where the person has no photo or still holds the one PlexSync set; a photo set by hand is
kept, a removed Stash image clears nothing, and Stash's API key goes to Plex inside that URL and
nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sync import db
from tests.helpers import (
    all_log_text,
    configure,
    drain_runs,
    inbox,
    process_queue,
    queue_directly,
    run_task,
)
from tests.standins.fake_stash import cover_data_url, default_cover

pytestmark = pytest.mark.usefixtures("leak_scan")

STASH_FOR_PLEX = "http://stash.internal:9999"
API_KEY = "stash-api-key-for-plex-7c41e9a0"
CAST = ["Alice Ames", "Bob Burns", "Cleo Cole"]  # Cleo has no image in Stash
WITH_IMAGE = ["Alice Ames", "Bob Burns"]
THUMB = re.compile(r"^actor\[(\d+)\]\.tag\.thumb$")
HAND_PHOTO = "https://images.example.org/people/{}.jpg"


# -- helpers ---------------------------------------------------------------------------------


def photos_on(stash, plex, **more) -> None:
    configure(stash, plex.url, performer_photos=True, stash_url_for_plex=STASH_FOR_PLEX, **more)


def give_image(stash, name: str, version: int = 1) -> str:
    """Set (or replace) a performer's image in Stash; the performer's id."""
    performer = stash.find_performer(name) or stash.add_performer(name)
    stash.set_performer_image(performer, default_cover(1000 * version + int(performer)))
    return performer


def cast_scene(stash, plex, name: str = "cast", *, actors: list[str] | None = None) -> tuple[str, int]:
    """A Plex item (with ``actors``) and its Stash scene with CAST, WITH_IMAGE having an image."""
    path = f"/media/videos/{name}.mp4"
    rk = plex.add_movie(1, name, [path], actors=actors or [])
    scene = stash.add_scene(f"Scene {name}", [path], performers=CAST)
    for performer in WITH_IMAGE:
        if "default=true" in image_path(stash, performer):
            give_image(stash, performer)
    return scene, rk


def image_path(stash, name: str) -> str:
    """The performer's ``image_path`` exactly as Stash's GraphQL API returns it."""
    reply = stash.graphql("query($id: ID!) { findPerformer(id: $id) { image_path } }",
                          {"id": stash.find_performer(name)})
    assert not reply.get("errors"), reply
    return str(reply["data"]["findPerformer"]["image_path"])


def for_plex(stash, name: str, api_key: str | None = None) -> str:
    """The performer's Stash image URL re-based onto the address Plex reaches Stash at: the path
    kept, and ``t=`` the digest of the image itself instead of the performer's updated_at (which
    moves with every edit of the performer)."""
    parts = urlsplit(image_path(stash, name))
    assert parts.query.startswith("t=") and "default" not in parts.query, parts
    digest = hashlib.sha256(stash.performer_image(stash.find_performer(name))).hexdigest()[:16]
    return f"{STASH_FOR_PLEX}{parts.path}?t={digest}" + (f"&apikey={api_key}" if api_key else "")


def stamp(url: str) -> str:
    return dict(pair.split("=", 1) for pair in urlsplit(url).query.split("&"))["t"]


def sent_photos(plex) -> list[dict[str, str]]:
    """Per edit PUT that carried photos: actor name -> the photo URL sent with it."""
    found = []
    for rec in sorted(plex.matching_requests(method="PUT"), key=lambda r: r.time):
        photos = {}
        for key, value in rec.params:
            match = THUMB.match(key)
            if match:
                name = rec.param(f"actor[{match.group(1)}].tag.tag")
                assert name, f"a thumb without its actor name in {rec.params}"
                photos[name] = value
        if photos:
            found.append(photos)
    return found


def sync(stash, data_dir: Path, scenes: list[str]):
    queue_directly(data_dir, stash, scenes)
    run = process_queue(stash)
    assert run.error is None, run.logs
    return run


def ledger_rows(data_dir: Path) -> list[dict]:
    conn = sqlite3.connect(data_dir / db.DB_NAME)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM ledger ORDER BY scene_id")]
    finally:
        conn.close()


def ledger_photos(data_dir: Path) -> dict[int, dict[str, str]]:
    return {int(row["scene_id"]): json.loads(row["photos"]) for row in ledger_rows(data_dir)}


# -- the tests -------------------------------------------------------------------------------


def test_off_by_default_no_photo_is_written(world, data_dir: Path) -> None:
    stash, plex = world
    scene, rk = cast_scene(stash, plex)
    plex.set_actor_photo("Bob Burns", HAND_PHOTO.format("bob"))
    before = {name: plex.actor_photo(name) for name in CAST}
    assert "performer_photos" not in stash.plugin_settings()  # never set: off

    run = sync(stash, data_dir, [scene])
    assert run.output["written"] == 1
    assert sorted(plex.item(rk)["tags"]["actor"]) == CAST  # the cast was written, without photos
    assert [r for r in plex.matching_requests(method="PUT") if any(THUMB.match(k) for k in r.param_names())] == []
    assert {name: plex.actor_photo(name) for name in CAST} == before
    assert stash.plugin_settings()["performer_photos"] is False  # the default written back is off
    assert stash.image_requests("performer") == []


def test_every_actor_gets_the_performers_image(world, tag_mode: str, data_dir: Path) -> None:
    stash, plex = world
    photos_on(stash, plex)
    scene, rk = cast_scene(stash, plex, actors=["Agent Actor"])
    dry = run_task(stash, "Sync all scenes (dry run)")
    assert dry.error is None, dry.logs
    [report] = dry.output["scenes"]
    assert "    actor photos: +Alice Ames, +Bob Burns (where Plex has no photo of them yet)" in report["details"]
    assert plex.matching_requests(method="PUT") == []

    run = sync(stash, data_dir, [scene])
    assert run.output["written"] == 1
    item = plex.item(rk)
    assert sorted(item["tags"]["actor"]) == CAST  # the agent's actor removed in both tag modes
    want = {name: for_plex(stash, name) for name in WITH_IMAGE}
    assert item["actor_photos"] == want
    assert plex.actor_photo("Cleo Cole") is None  # Stash serves only a placeholder for her
    assert "actor" in item["locked"]
    # The cast goes first: a person new to the item may have a photo from another item, which
    # Plex shows only once they are on it. Then the whole list again, each photo beside its own
    # actor's name. PlexSync read each image itself (with the plugin's session) to know it by its
    # bytes: once for the dry run, which remembers nothing, and once for the real run.
    cast, photos = sorted(plex.matching_requests(method="PUT"), key=lambda r: r.time)
    assert not any(THUMB.match(key) for key in cast.param_names())
    assert sorted(v for k, v in cast.params if k.endswith(".tag.tag")) == CAST
    assert sorted(v for k, v in photos.params if k.endswith(".tag.tag")) == CAST
    assert sent_photos(plex) == [want]
    reads = stash.image_requests("performer")
    assert {r.auth for r in reads} == {"session"}
    assert sorted(r.object_id for r in reads) == sorted(2 * [stash.find_performer(n) for n in WITH_IMAGE])
    assert ledger_photos(data_dir)[int(scene)].keys() == set(WITH_IMAGE)

    # The photos compare equal on the next look: a forced re-sync sends nothing, and reads no
    # image again (the performers did not change).
    plex.clear_log()
    again = run_task(stash, "Re-sync scenes", {"scene_id": scene})
    assert again.error is None, again.logs
    assert len(stash.image_requests("performer")) == len(reads)
    assert again.output["scenes"][0]["result"] == "unchanged", again.output
    assert plex.matching_requests(method="PUT") == []
    assert plex.item(rk)["actor_photos"] == want


@pytest.mark.parametrize("on_the_item", [True, False], ids=["actor-on-the-item", "actor-elsewhere-only"])
def test_a_photo_set_by_hand_in_plex_is_kept(world, tag_mode: str, data_dir: Path, on_the_item: bool) -> None:
    """Alice's photo was set by hand, for the whole server: on an actor the item already shows, or
    on a person who is so far only in another library's item."""
    stash, plex = world
    photos_on(stash, plex)
    plex.add_section(2, "Elsewhere", "movie", ["/media/elsewhere"])
    other = plex.add_movie(2, "other", ["/media/elsewhere/other.mp4"], actors=["Alice Ames"])
    scene, rk = cast_scene(stash, plex, actors=["Alice Ames"] if on_the_item else [])
    plex.set_actor_photo("Alice Ames", HAND_PHOTO.format("alice"))

    sync(stash, data_dir, [scene])
    assert sorted(plex.item(rk)["tags"]["actor"]) == CAST
    assert plex.actor_photo("Alice Ames") == HAND_PHOTO.format("alice")
    assert plex.item(other)["actor_photos"] == {"Alice Ames": HAND_PHOTO.format("alice")}
    assert plex.actor_photo("Bob Burns") == for_plex(stash, "Bob Burns")
    assert sent_photos(plex) == [{"Bob Burns": for_plex(stash, "Bob Burns")}]

    # Her image changes in Stash: still a person's photo in Plex, still kept; Bob's follows.
    time.sleep(1.1)  # Stash stamps whole seconds: the images get a new t=
    for name in WITH_IMAGE:
        give_image(stash, name, version=2)
    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    assert plex.actor_photo("Alice Ames") == HAND_PHOTO.format("alice")
    assert plex.actor_photo("Bob Burns") == for_plex(stash, "Bob Burns")


def test_a_photo_replaced_by_hand_after_plexsync_set_it_is_kept(world, data_dir: Path) -> None:
    """A person replaces a photo PlexSync set. That moves no item's updatedAt, so the ledger cannot
    see it: before PlexSync replaces a photo it looks at the item."""
    stash, plex = world
    photos_on(stash, plex)
    scene, rk = cast_scene(stash, plex)
    sync(stash, data_dir, [scene])
    assert plex.item(rk)["actor_photos"] == {name: for_plex(stash, name) for name in WITH_IMAGE}
    # Settle: a listing shows the item as PlexSync left it, so the ledger may stand in for Plex.
    assert run_task(stash, "Sync all scenes").error is None
    [row] = ledger_rows(data_dir)
    assert row["item_updated_at"] == plex.item(rk)["updatedAt"] and row["drift"] is None

    plex.set_actor_photo("Bob Burns", HAND_PHOTO.format("bob"))
    time.sleep(1.1)  # Stash stamps whole seconds: the images get a new t=
    for name in WITH_IMAGE:
        give_image(stash, name, version=2)
    plex.clear_log()
    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    assert plex.actor_photo("Bob Burns") == HAND_PHOTO.format("bob")
    assert plex.actor_photo("Alice Ames") == for_plex(stash, "Alice Ames")
    assert [r.method for r in plex.requests_for(rk)] == ["GET", "PUT"]
    assert sent_photos(plex) == [{"Alice Ames": for_plex(stash, "Alice Ames")}]


def test_api_key_reaches_plex_in_the_photo_url_and_nowhere_else(world, data_dir: Path, leak_scan) -> None:
    stash, plex = world
    stash.set_api_key(API_KEY)  # Stash has credentials
    leak_scan.add(API_KEY, plex_requests=False)
    photos_on(stash, plex, stash_api_key_for_plex=API_KEY)
    scene, rk = cast_scene(stash, plex)

    run = sync(stash, data_dir, [scene])
    assert run.output["written"] == 1
    photo = plex.actor_photo("Alice Ames")
    assert photo == for_plex(stash, "Alice Ames", API_KEY)
    assert plex.item(rk)["actor_photos"] == {name: for_plex(stash, name, API_KEY) for name in WITH_IMAGE}
    assert plex.actor_photo("Cleo Cole") is None

    # The URL works for Plex: the key is accepted, the image is the performer's.
    assert photo is not None
    reachable = stash.url + photo[len(STASH_FOR_PLEX):]
    with urllib.request.urlopen(reachable, timeout=10) as answer:  # the local stand-in, as Plex would
        assert answer.status == 200
        assert answer.read() == stash.performer_image(stash.find_performer("Alice Ames"))
    assert [r.auth for r in stash.image_requests("performer") if r.auth != "session"] == ["apikey-query"]

    # What PlexSync keeps and says: hashes only, the key masked.
    stored = ledger_photos(data_dir)[int(scene)]
    assert stored.keys() == set(WITH_IMAGE)
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in stored.values()), stored
    status = run_task(stash, "Status")
    assert any(f"setting stash_api_key_for_plex = '*** ({len(API_KEY)} characters)'" in message
               for message in status.logs_at("info")), status.logs

    # A dry run and a real run after the image changed, and Status: still no key anywhere.
    time.sleep(1.1)
    give_image(stash, "Alice Ames", version=2)
    dry = run_task(stash, "Sync all scenes (dry run)")
    assert dry.error is None, dry.logs
    [report] = dry.output["scenes"]
    assert "    actor photos: +Alice Ames" in report["details"], report
    assert plex.actor_photo("Alice Ames") == photo
    assert run_task(stash, "Sync all scenes").error is None
    assert plex.actor_photo("Alice Ames") == for_plex(stash, "Alice Ames", API_KEY) != photo
    assert run_task(stash, "Status").error is None
    assert API_KEY not in all_log_text(stash)
    # (leak_scan checks every output, log, GraphQL document and data file at teardown)


def test_photo_follows_image_changes_but_a_removed_image_clears_nothing(world, tag_mode: str,
                                                                         data_dir: Path) -> None:
    stash, plex = world
    photos_on(stash, plex)
    # Alice is also in another library's item that no Stash scene has: her photo is server-wide.
    plex.add_section(2, "Elsewhere", "movie", ["/media/elsewhere"])
    other = plex.add_movie(2, "other", ["/media/elsewhere/other.mp4"], actors=["Alice Ames"])
    scene, rk = cast_scene(stash, plex)

    first = run_task(stash, "Sync recent changes")  # the first run syncs every scene and sets the cursor
    assert first.error is None, first.logs
    photo_1 = plex.actor_photo("Alice Ames")
    assert photo_1 == for_plex(stash, "Alice Ames")
    bob = plex.actor_photo("Bob Burns")

    # The image changes in Stash (no hook fires): its URL gets a new t=, and Plex follows.
    time.sleep(1.1)
    give_image(stash, "Alice Ames", version=2)
    plex.clear_log()
    changed = run_task(stash, "Sync recent changes")
    assert changed.error is None, changed.logs
    assert changed.output["related_changed"]["performer"] == 1, changed.output
    photo_2 = plex.actor_photo("Alice Ames")
    assert photo_2 == for_plex(stash, "Alice Ames") and stamp(photo_2) != stamp(photo_1)
    assert urlsplit(photo_2).path == urlsplit(photo_1).path
    [sent] = sent_photos(plex)  # Bob's photo, still PlexSync's, travels unchanged with the list
    assert sent["Alice Ames"] == photo_2 and sent.get("Bob Burns", bob) == bob
    assert plex.actor_photo("Bob Burns") == bob
    assert plex.item(other)["actor_photos"] == {"Alice Ames": photo_2}

    # The image is removed in Stash: Plex keeps the photo it has, in every library.
    time.sleep(1.1)
    stash.set_performer_image(stash.find_performer("Alice Ames"), None)
    assert "default=true" in image_path(stash, "Alice Ames")
    plex.clear_log()
    removed = run_task(stash, "Sync recent changes")
    assert removed.error is None, removed.logs
    assert sent_photos(plex) == []
    assert plex.actor_photo("Alice Ames") == photo_2
    assert plex.item(other)["actor_photos"] == {"Alice Ames": photo_2}
    assert sorted(plex.item(rk)["tags"]["actor"]) == CAST

    # A new image later: the photo Plex holds is still the one PlexSync set, so it follows again.
    time.sleep(1.1)
    give_image(stash, "Alice Ames", version=3)
    again = run_task(stash, "Sync recent changes")
    assert again.error is None, again.logs
    photo_3 = plex.actor_photo("Alice Ames")
    assert photo_3 == for_plex(stash, "Alice Ames") and stamp(photo_3) != stamp(photo_2)


def test_a_performer_in_two_scenes_follows_through_either(world, data_dir: Path) -> None:
    """Plex has one photo per person: the photo PlexSync set while syncing one scene is its own in
    every scene of that person, and keeps following Stash when the first scene no longer has them."""
    stash, plex = world
    photos_on(stash, plex)
    first, rk_first = cast_scene(stash, plex, "first")
    second, rk_second = cast_scene(stash, plex, "second")
    sync(stash, data_dir, [first, second])
    photo_1 = plex.actor_photo("Alice Ames")
    assert photo_1 == for_plex(stash, "Alice Ames")
    assert plex.item(rk_second)["actor_photos"]["Alice Ames"] == photo_1

    # Alice leaves the first scene; then her image changes. Only the second scene has her now.
    stash.update_scene(first, performer_ids=[stash.find_performer(n) for n in CAST if n != "Alice Ames"])
    stash.wait_for_jobs(120)
    assert sorted(plex.item(rk_first)["tags"]["actor"]) == ["Bob Burns", "Cleo Cole"]
    time.sleep(1.1)
    give_image(stash, "Alice Ames", version=2)
    run = run_task(stash, "Sync all scenes")
    assert run.error is None, run.logs
    assert plex.actor_photo("Alice Ames") == for_plex(stash, "Alice Ames") != photo_1


def test_photos_on_without_an_address_is_one_settings_error(world, data_dir: Path) -> None:
    stash, plex = world
    configure(stash, plex.url, performer_photos=True)  # stash_url_for_plex left empty
    scene, rk = cast_scene(stash, plex)
    stash.update_scene(scene, title="Edited While Misconfigured")  # the hook still queues it
    assert [r for r in stash.runs if r.kind == "hook"][-1].output["action"] == "queued"
    stash.wait_for_jobs(60)
    run = process_queue(stash)
    for failed in [r for r in stash.task_runs() if r.args.get("mode") == "process_queue"]:
        assert failed.exit_code == 1 and failed.error, failed.logs
        assert "stash_url_for_plex" in failed.error and "performer_photos" in failed.error, failed.error
        assert failed.logs_at("error") == [failed.error]  # one error, nothing else
    assert run.exit_code == 1
    assert plex.matching_requests(method="PUT") == [] and plex.matching_requests(method="POST") == []
    row = inbox(data_dir)[int(scene)]
    assert row["state"] == "pending" and row["attempts"] == 0, row
    assert plex.item(rk)["title"] == "cast" and plex.actor_photo("Alice Ames") is None

    photos_on(stash, plex)  # fixed: the queued edit goes out with its photos
    fixed = process_queue(stash)
    assert fixed.error is None and fixed.output["written"] == 1, fixed.logs
    assert plex.item(rk)["title"] == "Edited While Misconfigured"
    assert plex.actor_photo("Alice Ames") == for_plex(stash, "Alice Ames")
    assert inbox(data_dir) == {}


# -- issue 16: a performer's new image, and every other edit of a performer ------------------


def actor_params_only(put) -> bool:
    """An edit that sets actors and their photos and nothing else (no other field, no lock)."""
    return all(key == "id" or key == "type" or key.startswith("actor") for key in put.param_names())


def test_a_new_image_reaches_plex_through_the_performer_hook_and_nothing_else_does(world, data_dir: Path) -> None:
    """Real Stash fires Performer.Update.Post with input {id, image} and inputFields ["id", "image"]
    when a performer gets a new image. With photos on, that queues the performer's scenes and the
    drain writes only the actor photos; a rename, the favourite heart or any other edit of the
    performer moves image_path's t= too, but is not a new photo: nothing is rewritten."""
    stash, plex = world
    photos_on(stash, plex)
    scene, rk = cast_scene(stash, plex)
    other, rk_other = cast_scene(stash, plex, "without-alice")
    stash.update_scene(other, performer_ids=[stash.find_performer("Bob Burns")])
    stash.wait_for_jobs(120)
    first = run_task(stash, "Sync recent changes")  # syncs both and sets the catch-up's cursor
    assert first.error is None, first.logs
    alice, bob = stash.find_performer("Alice Ames"), plex.actor_photo("Bob Burns")
    bob_id = stash.find_performer("Bob Burns")
    photo_1 = plex.actor_photo("Alice Ames")
    assert photo_1 == for_plex(stash, "Alice Ames") and bob == for_plex(stash, "Bob Burns")
    title, reads = plex.item(rk)["title"], len(stash.image_requests("performer"))
    plex.clear_log()

    # A new image, uploaded as the UI does it: the hook queues Alice's scene, its drain sends her photo.
    stash.update_performer(alice, image=cover_data_url(default_cover(9001)))
    hook = stash.hook_runs()[-1]
    assert hook.hook_context["inputFields"] == ["id", "image"]
    assert hook.output["action"] == "queued" and hook.output["scene_ids"] == [int(scene)], hook.output
    assert hook.output["drain_requested"] is True
    stash.wait_for_jobs(120)
    drain = drain_runs(stash)[-1]
    assert drain.args.get("requested_by") == "hook" and drain.error is None, drain.logs
    assert drain.output["written"] == 1, drain.output
    photo_2 = plex.actor_photo("Alice Ames")
    assert photo_2 == for_plex(stash, "Alice Ames") and photo_2 != photo_1
    [put] = plex.matching_requests(method="PUT")
    assert actor_params_only(put), put.params
    [sent] = sent_photos(plex)
    assert sent["Alice Ames"] == photo_2 and sent.get("Bob Burns", bob) == bob
    assert [r for r in plex.matching_requests(method="POST")] == []  # no poster
    assert plex.requests_for(rk_other) == []
    assert plex.item(rk)["title"] == title and plex.actor_photo("Bob Burns") == bob
    assert len(stash.image_requests("performer")) == reads + 1  # the new image, read once

    # The heart, then a look for changes: image_path's t= moved, the image did not. No write.
    plex.clear_log()
    time.sleep(1.1)  # Stash stamps whole seconds: the heart gets a t= of its own
    before = image_path(stash, "Alice Ames")
    stash.update_performer(alice, favorite=True)
    assert image_path(stash, "Alice Ames") != before and stash.performer_image(alice) == default_cover(9001)
    assert stash.hook_runs()[-1].output["action"] == "skipped"
    look = run_task(stash, "Sync recent changes")
    assert look.error is None, look.logs
    assert look.output["related_changed"]["performer"] == 1, look.output
    assert plex.matching_requests(method="PUT") == [] and plex.matching_requests(method="POST") == []
    assert plex.actor_photo("Alice Ames") == photo_2 == for_plex(stash, "Alice Ames")

    # A rename: the new name is a new person to Plex and gets the photo, at the very same URL.
    plex.clear_log()
    stash.rename_performer(bob_id, "Bobby Burns")
    stash.wait_for_jobs(120)
    assert plex.actor_photo("Bobby Burns") == for_plex(stash, "Bobby Burns") == bob
    assert all(actor_params_only(put) for put in plex.matching_requests(method="PUT"))
    assert sorted(plex.item(rk_other)["tags"]["actor"]) == ["Bobby Burns"]
    assert all(run.error is None for run in drain_runs(stash))


def test_a_new_image_with_photos_off_is_a_cheap_skip(world, data_dir: Path) -> None:
    """Photos off: the hook reads one row of its own database and asks Stash nothing. Photos
    turned on since the last task: still skipped (the hook goes by what the last task found),
    and the next run's catch-up sends the photo."""
    stash, plex = world
    scene, rk = cast_scene(stash, plex)
    sync(stash, data_dir, [scene])  # a task ran with photos off, and recorded it
    plex.clear_log()
    alice = stash.find_performer("Alice Ames")

    stash.update_performer(alice, image=cover_data_url(default_cover(9002)))
    hook = stash.hook_runs()[-1]
    assert hook.output["action"] == "skipped" and "performer_photos" in hook.output["reason"], hook.output
    assert hook.output["drain_requested"] is False
    assert stash.documents_for(hook) == []  # not one request to Stash
    stash.wait_for_jobs(60)
    assert len(drain_runs(stash)) == 1 and inbox(data_dir) == {}
    assert plex.log_snapshot() == [] and stash.image_requests("performer") == []

    photos_on(stash, plex)
    stash.update_performer(alice, image=cover_data_url(default_cover(9003)))
    assert stash.hook_runs()[-1].output["action"] == "skipped"
    run = process_queue(stash)  # the next run, whatever starts it: its catch-up finds Alice changed
    assert run.error is None, run.logs
    assert plex.actor_photo("Alice Ames") == for_plex(stash, "Alice Ames")
    assert plex.actor_photo("Bob Burns") == for_plex(stash, "Bob Burns")
