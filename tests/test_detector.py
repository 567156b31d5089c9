"""sync.detector.needs_resync: the one-second-resolution rule for Stash's updated_at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sync.detector import STASH_RESOLUTION_S, needs_resync
from sync.state import SyncState

STAMP = "2026-01-11T18:07:53+11:00"
STAMP_UTC = "2026-01-11T07:07:53Z"  # the same instant, written in another zone
STAMP_TS = datetime(2026, 1, 11, 7, 7, 53, tzinfo=timezone.utc).timestamp()
EARLIER = "2026-01-11T18:07:52+11:00"
LATER = "2026-01-11T18:07:54+11:00"


@pytest.fixture
def state(tmp_path: Path) -> Iterator[SyncState]:
    s = SyncState(str(tmp_path / "plexsync.db"))
    try:
        yield s
    finally:
        s.close()


def synced(state: SyncState, stamp: str | None, fetched_at: float, scene_id: int = 7) -> None:
    state.update_success(scene_id, "/library/metadata/70", stamp, fetched_at=fetched_at)


def test_same_second_edit_is_covered_only_by_a_read_after_that_second(state: SyncState) -> None:
    """Stash stamps whole seconds: a read inside the stamp's second may predate an edit made in
    that same second, a read once the second is over cannot."""
    synced(state, STAMP, STAMP_TS + STASH_RESOLUTION_S - 0.001)
    assert needs_resync(7, STAMP, state) is True
    synced(state, STAMP, STAMP_TS + STASH_RESOLUTION_S)
    assert needs_resync(7, STAMP, state) is False


def test_never_synced_needs_resync(state: SyncState) -> None:
    assert needs_resync(7, STAMP, state) is True


def test_other_scenes_record_does_not_count(state: SyncState) -> None:
    synced(state, STAMP, STAMP_TS + 60, scene_id=8)
    assert needs_resync(7, STAMP, state) is True
    assert needs_resync(8, STAMP, state) is False


def test_older_stamp_is_covered(state: SyncState) -> None:
    synced(state, STAMP, STAMP_TS + 60)
    assert needs_resync(7, EARLIER, state) is False


def test_older_stamp_in_another_zone_is_covered(state: SyncState) -> None:
    synced(state, STAMP, STAMP_TS + 60)
    # 07:07:52Z is one second before 18:07:53+11:00, though its string sorts after it.
    assert "2026-01-11T07:07:52Z" < STAMP
    assert needs_resync(7, "2026-01-11T07:07:52Z", state) is False


def test_newer_stamp_needs_resync(state: SyncState) -> None:
    synced(state, STAMP, STAMP_TS + 60)
    assert needs_resync(7, LATER, state) is True


def test_newer_stamp_in_another_zone_needs_resync(state: SyncState) -> None:
    synced(state, STAMP, STAMP_TS + 60)
    # Sorts before STAMP as a string, yet is one second later.
    newer = "2026-01-11T02:07:54-05:00"
    assert newer < STAMP
    assert needs_resync(7, newer, state) is True


@pytest.mark.parametrize("after", [1.0, 1.5, 60.0])
def test_equal_stamp_read_after_the_second_ended_is_covered(state: SyncState, after: float) -> None:
    synced(state, STAMP, STAMP_TS + after)
    assert needs_resync(7, STAMP, state) is False


@pytest.mark.parametrize("after", [0.0, 0.25, 0.999])
def test_equal_stamp_read_within_the_same_second_needs_resync(
    state: SyncState, after: float
) -> None:
    # An edit made later in the same second would carry this same stamp: not proof of sync.
    synced(state, STAMP, STAMP_TS + after)
    assert needs_resync(7, STAMP, state) is True


def test_equal_instant_written_in_another_zone_follows_the_same_rule(state: SyncState) -> None:
    synced(state, STAMP, STAMP_TS + 2)
    assert needs_resync(7, STAMP_UTC, state) is False
    synced(state, STAMP, STAMP_TS + 0.5)
    assert needs_resync(7, STAMP_UTC, state) is True


@pytest.mark.parametrize("incoming", [None, "", "garbage", "2026-02-30T00:00:00Z"])
def test_unparseable_incoming_stamp_needs_resync(state: SyncState, incoming: str | None) -> None:
    synced(state, STAMP, STAMP_TS + 60)
    assert needs_resync(7, incoming, state) is True


@pytest.mark.parametrize("stored", [None, "garbage"])
def test_unparseable_stored_stamp_needs_resync(state: SyncState, stored: str | None) -> None:
    synced(state, stored, STAMP_TS + 60)
    assert needs_resync(7, EARLIER, state) is True


def test_a_record_that_is_not_a_success_needs_resync(state: SyncState) -> None:
    synced(state, STAMP, STAMP_TS + 60)
    state.connection.execute("UPDATE sync_state SET last_sync_status = 'failed' WHERE scene_id = 7")
    assert needs_resync(7, EARLIER, state) is True


def test_forgotten_scene_needs_resync(state: SyncState) -> None:
    synced(state, STAMP, STAMP_TS + 60)
    state.forget(7)
    assert needs_resync(7, EARLIER, state) is True
