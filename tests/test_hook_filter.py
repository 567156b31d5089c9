"""hooks.handlers: which Scene.Update.Post hooks matter to Plex, for every input shape Stash sends.

Shapes (shared/reference/stash-plugins.md section 2, hookContext): sceneUpdate sends one
SceneUpdateInput; scenesUpdate sends the whole array with inputFields of this scene's entry;
bulkSceneUpdate sends the whole BulkSceneUpdateInput with the same inputFields for every scene;
scan and create send a null input and no inputFields.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hooks.handlers import PLEX_FIELDS, changed_fields, requires_plex_sync
from queue import lease
from queue.inbox_tasks import TaskInbox
from queue.lease import enqueue_scenes
from sync import db

PLEX_FIELD_VALUES: dict[str, object] = {
    "title": "New title",
    "details": "Some details",
    "date": "2024-05-01",
    "studio_id": "12",
    "performer_ids": ["1", "2"],
    "tag_ids": ["3"],
    "groups": [{"group_id": "4", "scene_index": 1}],
    "movies": [{"movie_id": "4", "scene_index": 1}],
    "rating100": 80,
    "cover_image": "data:image/jpeg;base64,/9j/4AAQSkZJRg==",
    "urls": ["https://example.org/scene/1"],
    "code": "ABC-123",
    "director": "Someone",
}
NON_PLEX_FIELDS: dict[str, object] = {
    "play_count": 3,
    "o_counter": 1,
    "resume_time": 123.5,
    "organized": True,
}


# -- sceneUpdate --------------------------------------------------------------------------------


def test_scene_update_with_title() -> None:
    data = {"id": "5", "title": "New title"}
    assert requires_plex_sync(data, ["id", "title"], 5) is True
    assert requires_plex_sync(data) is True  # inputFields absent: the input's own keys
    assert changed_fields(data, ["id", "title"], 5) == {"id", "title"}


@pytest.mark.parametrize(
    "fields",
    [
        ["play_count"],
        ["o_counter"],
        ["resume_time"],
        ["organized"],
        ["play_count", "o_counter", "resume_time", "organized"],
    ],
)
def test_only_fields_plex_does_not_show(fields: list[str]) -> None:
    data = {"id": "5", **{f: NON_PLEX_FIELDS[f] for f in fields}}
    assert requires_plex_sync(data, ["id", *fields], 5) is False
    assert requires_plex_sync(data, None, 5) is False


def test_organized_toggle_as_the_ui_sends_it() -> None:
    assert requires_plex_sync({"id": "5", "organized": True}, ["id", "organized"], 5) is False


def test_id_alone_is_no_change() -> None:
    assert requires_plex_sync({"id": "5", "clientMutationId": "m1"}, ["id", "clientMutationId"], 5) is False


@pytest.mark.parametrize("field", sorted(PLEX_FIELD_VALUES))
def test_each_plex_field_alone(field: str) -> None:
    assert field in PLEX_FIELDS
    data = {"id": "5", field: PLEX_FIELD_VALUES[field]}
    assert requires_plex_sync(data, ["id", field], 5) is True
    assert requires_plex_sync(data, None, 5) is True
    assert requires_plex_sync(data, None, None) is True


@pytest.mark.parametrize("field", sorted(PLEX_FIELD_VALUES))
def test_each_plex_field_among_play_fields(field: str) -> None:
    data = {"id": "5", **NON_PLEX_FIELDS, field: PLEX_FIELD_VALUES[field]}
    assert requires_plex_sync(data, list(data), 5) is True


def test_a_field_set_to_null_still_counts_as_changed() -> None:
    # Clearing a studio sends "studio_id": null; the key is present in inputFields.
    assert requires_plex_sync({"id": "5", "studio_id": None}, ["id", "studio_id"], 5) is True


def test_input_fields_win_over_the_inputs_keys() -> None:
    # Identify sends a synthesized input whose inputFields are its non-nil fields.
    data = {"id": "5", "title": None, "organized": True}
    assert requires_plex_sync(data, ["id", "organized"], 5) is False
    assert requires_plex_sync({"id": "5", "organized": True}, ["id", "title"], 5) is True


# -- bulkSceneUpdate ----------------------------------------------------------------------------


def test_bulk_update_with_tag_mode() -> None:
    data = {"ids": ["1", "2", "3"], "tag_ids": {"ids": ["9"], "mode": "ADD"}}
    for scene in (1, 2, 3):
        assert requires_plex_sync(data, ["ids", "tag_ids"], scene) is True
        assert changed_fields(data, ["ids", "tag_ids"], scene) == {"ids", "tag_ids"}


def test_bulk_update_without_input_fields_uses_the_bulk_inputs_keys() -> None:
    data = {"ids": ["1", "2"], "performer_ids": {"ids": ["4"], "mode": "SET"}}
    assert requires_plex_sync(data, None, 2) is True


def test_bulk_update_of_organized_only() -> None:
    data = {"ids": ["1", "2"], "organized": True}
    assert requires_plex_sync(data, ["ids", "organized"], 1) is False
    assert requires_plex_sync(data, None, 1) is False


# -- scenesUpdate -------------------------------------------------------------------------------


SCENES_UPDATE = [
    {"id": "1", "organized": True},
    {"id": "2", "title": "Renamed", "play_count": 4},
    {"id": "3", "resume_time": 10.0},
]


def test_scenes_update_uses_this_scenes_input_fields_not_the_arrays() -> None:
    # Scene 1's hook: only "organized" changed for it, although scene 2 in the array got a title.
    assert requires_plex_sync(SCENES_UPDATE, ["id", "organized"], 1) is False
    assert changed_fields(SCENES_UPDATE, ["id", "organized"], 1) == {"id", "organized"}
    # Scene 2's hook: its title changed.
    assert requires_plex_sync(SCENES_UPDATE, ["id", "title", "play_count"], 2) is True


def test_scenes_update_without_input_fields_finds_this_scenes_entry() -> None:
    assert changed_fields(SCENES_UPDATE, None, 2) == {"id", "title", "play_count"}
    assert requires_plex_sync(SCENES_UPDATE, None, 2) is True
    assert requires_plex_sync(SCENES_UPDATE, None, 1) is False
    assert requires_plex_sync(SCENES_UPDATE, None, 3) is False
    assert changed_fields(SCENES_UPDATE, None, 3) == {"id", "resume_time"}
    assert changed_fields(SCENES_UPDATE, None, "2") == {"id", "title", "play_count"}  # type: ignore[arg-type]


def test_scenes_update_entry_order_does_not_matter() -> None:
    reordered = list(reversed(SCENES_UPDATE))
    assert requires_plex_sync(reordered, None, 2) is True
    assert requires_plex_sync(reordered, None, 1) is False


def test_scenes_update_with_integer_ids_in_the_array() -> None:
    data = [{"id": 7, "title": "x"}, {"id": 8, "organized": False}]
    assert requires_plex_sync(data, None, 7) is True
    assert requires_plex_sync(data, None, 8) is False


# -- scan and create ----------------------------------------------------------------------------


def test_null_input_is_a_plex_change() -> None:
    """Only Stash itself sends a null input: a scan that created the scene, or saw its file moved,
    renamed or matched by fingerprint. The binding must follow the file (issue 11)."""
    assert requires_plex_sync(None) is True
    assert requires_plex_sync(None, None, 5) is True
    assert changed_fields(None, None, 5) == set()
    assert requires_plex_sync({}, [], 5) is False  # an edit that names no field is still nothing


# -- enqueue_scenes -----------------------------------------------------------------------------


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = db.connect(tmp_path / db.DB_NAME)
    try:
        yield c
    finally:
        c.close()


def test_enqueue_scenes_upserts_and_claims_one_wake(conn: sqlite3.Connection) -> None:
    assert enqueue_scenes(conn, [(1, "2026-01-11T07:07:53Z"), (2, None)], reason="performer") is True
    box = TaskInbox(conn)
    one, two = box.get(1), box.get(2)
    assert one is not None and two is not None
    assert (one.state, one.stash_updated_at, one.reason, one.force) == (
        "pending",
        "2026-01-11T07:07:53Z",
        "performer",
        False,
    )
    assert two.state == "pending"
    # The drain is already asked for: later hooks stay quiet, rows still dedupe.
    assert enqueue_scenes(conn, [(1, None)], reason="hook", force=True) is False
    again = box.get(1)
    assert again is not None and again.generation == 2 and again.force is True
    assert conn.execute("SELECT count(*) FROM inbox").fetchone()[0] == 2


def test_enqueue_scenes_stays_quiet_while_a_drain_holds_the_lease(conn: sqlite3.Connection) -> None:
    holder = lease.new_holder_id()
    lease.acquire(conn, holder)
    assert enqueue_scenes(conn, [(1, None)], reason="hook") is False
    assert TaskInbox(conn).is_active(1)
    lease.release(conn, holder)
    assert enqueue_scenes(conn, [(2, None)], reason="hook") is True


def test_enqueue_scenes_is_all_or_nothing(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError):
        enqueue_scenes(conn, [(1, None), ("not-a-number", None)], reason="hook")  # type: ignore[list-item]
    assert conn.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0
    assert lease.read(conn).wake_requested_at is None
