"""What the scene page asks PlexSync: ``runPluginOperation`` with ``mode: scene_status`` (the
*Open in Plex* link and the scene's sync state).

End to end: PlexSync.py runs as Stash runs an operation (the exact stdin, no defaultArgs), after
a real drain bound the scene to a Plex item through plexapi and the Plex stand-in. The answer
comes from the plugin's own database: the ledger's rating key and the machineIdentifier the
drain recorded when it connected. The operation itself asks nothing of Plex or Stash, and Stash
waits for it on every scene page view, so it loads no task code (import budget below).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sync import db
from sync.meta import Meta, PlexServerIdentity
from tests.helpers import process_queue, queue_directly
from tests.standins.fake_stash import StashGraphQLError

REPO = Path(__file__).resolve().parents[1]


def status(stash, scene_id: object) -> dict:
    return stash.run_operation({"mode": "scene_status", "scene_id": scene_id})


def operation_runs(stash) -> list:
    return [r for r in stash.runs if r.kind == "operation"]


def expected_url(plex, rating_key: int) -> str:
    return (f"https://app.plex.tv/desktop/#!/server/{plex.machine_identifier}/details"
            f"?key=%2Flibrary%2Fmetadata%2F{rating_key}")


def test_bound_scene_links_to_its_plex_item_without_asking_plex(world, data_dir):
    stash, plex = world
    rk = plex.add_movie(1, "Bound", ["/media/videos/bound.mp4"])
    plex.add_movie(1, "Other", ["/media/videos/other.mp4"])  # a second item: the key must be rk's
    scene = stash.add_scene("Bound scene", ["/media/videos/bound.mp4"])
    queue_directly(data_dir, stash, [scene])
    assert process_queue(stash).error is None
    assert plex.item(rk)["title"] == "Bound scene"

    plex.clear_log()
    sent_before = len(stash.received_documents)
    answer = status(stash, scene)

    assert answer == {"scene_id": scene, "url": expected_url(plex, rk), "state": "synced",
                      "detail": None, "synced_at": answer["synced_at"]}
    assert isinstance(answer["synced_at"], float)
    assert plex.log_snapshot() == []  # no Plex request
    assert len(stash.received_documents) == sent_before  # nothing asked of Stash either
    (run,) = operation_runs(stash)
    assert run.args == {"mode": "scene_status", "scene_id": scene}  # no defaultArgs, as in Stash
    assert run.error is None and run.exit_code == 0
    assert run.logs == []  # a page view writes nothing to Stash's log


def test_unbound_scene_and_unknown_scene_have_no_link(world, data_dir):
    stash, plex = world
    plex.add_movie(1, "Bound", ["/media/videos/bound.mp4"])
    bound = stash.add_scene("Bound scene", ["/media/videos/bound.mp4"])
    waiting = stash.add_scene("No item yet", ["/media/videos/not-in-plex.mp4"])
    queue_directly(data_dir, stash, [bound])
    assert process_queue(stash).error is None

    for scene in (waiting, "999999"):
        answer = status(stash, scene)
        assert answer["url"] is None, answer
        assert "not synced to a Plex item" in answer["no_link"]
        assert answer["state"] == "not_synced"


def test_sync_state_says_why_a_scene_is_not_in_plex(world, data_dir):
    """After a Sync to Plex job ends, the page learns from this whether the sync worked: Stash
    shows a plugin task's error only in its log, never on the job."""
    stash, plex = world
    plex.add_movie(1, "Twin A", ["/media/videos/StudioX/twin.mp4"])
    plex.add_movie(1, "Twin B", ["/media/videos/elsewhere/TWIN.mp4"])
    ambiguous = stash.add_scene("Ambiguous", ["/stash/root/StudioX/twin.mp4"])  # no path_map rule
    unscanned = stash.add_scene("Not scanned yet", ["/media/videos/new/fresh.mp4"])
    queue_directly(data_dir, stash, [ambiguous, unscanned])
    assert process_queue(stash).error is None

    review = status(stash, ambiguous)
    assert (review["state"], review["url"]) == ("review", None)
    assert "2 Plex items could be this scene's file" in review["detail"]
    waiting = status(stash, unscanned)
    assert waiting["state"] == "queued" and waiting["detail"], waiting
    assert waiting["synced_at"] is None


def test_no_database_yet_answers_without_creating_one(fake_stash, data_dir):
    answer = status(fake_stash, "5")
    assert answer["url"] is None and "has not synced any scene" in answer["no_link"]
    assert not (data_dir / db.DB_NAME).exists()


def test_link_waits_for_a_task_that_connected_to_plex(world, data_dir):
    """A ledger from before this release has rating keys but no machineIdentifier: no link until
    the next drain connects (which records it)."""
    stash, plex = world
    rk = plex.add_movie(1, "Bound", ["/media/videos/bound.mp4"])
    scene = stash.add_scene("Bound scene", ["/media/videos/bound.mp4"])
    queue_directly(data_dir, stash, [scene])
    assert process_queue(stash).error is None
    conn = db.connect(data_dir / db.DB_NAME)
    try:
        Meta(conn).delete(PlexServerIdentity.KEY)
    finally:
        conn.close()

    answer = status(stash, scene)
    assert answer["url"] is None and "connected to Plex" in answer["no_link"]
    assert answer["state"] == "synced"  # the sync state does not need Plex's identity

    stash.update_scene(scene, title="Renamed")  # the hook queues it; the drain writes it
    assert process_queue(stash).error is None
    assert plex.item(rk)["title"] == "Renamed"
    assert status(stash, scene)["url"] == expected_url(plex, rk)


@pytest.mark.parametrize("bad", ["", "12a", "-3", "１２", None, True, [1]])
def test_bad_scene_id_is_a_clear_graphql_error(fake_stash, bad):
    with pytest.raises(StashGraphQLError) as caught:
        status(fake_stash, bad)
    assert "scene_status needs scene_id, the Stash scene id (digits)" in str(caught.value)


def test_server_identity_keeps_only_plausible_identifiers(data_dir):
    conn = db.connect(data_dir / db.DB_NAME)
    try:
        identity = PlexServerIdentity(conn)
        assert identity.get() is None
        identity.remember("a1b2" * 10)
        identity.remember("")  # plexapi without an identifier: keep the known one
        identity.remember("x/../#y")  # never a value that could reshape the link
        assert identity.get() == "a1b2" * 10
        identity.remember("c3d4" * 10)  # another server: the new one wins
        assert identity.get() == "c3d4" * 10
    finally:
        conn.close()


_OPERATION_IMPORTS = """
import sys
sys.path.insert(0, sys.argv[1])
before = set(sys.modules)
import hooks.scene_status  # what PlexSync.py loads for the scene page's operation
print("\\n".join(sorted(set(sys.modules) - before)))
"""


def test_the_operation_path_imports_only_small_standard_modules():
    """Stash waits for the operation on every scene page view: the hook's import budget."""
    done = subprocess.run([sys.executable, "-S", "-c", _OPERATION_IMPORTS, str(REPO)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    loaded = set(done.stdout.split())
    heavy = {"typing", "pathlib", "dataclasses", "inspect", "plexapi", "pydantic", "persistqueue",
             "requests", "urllib3", "logging", "asyncio", "worker", "plex", "validation"}
    assert {name.split(".")[0] for name in loaded} & heavy == set()
    assert {"hooks.scene_status", "sync.ledger", "sync.meta", "sync.db", "queue.inbox"} <= loaded
