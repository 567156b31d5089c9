"""Late-update detection: does Stash hold an edit that Plex has not received yet?

Stash's ``updated_at`` has one-second resolution, so "same timestamp" is not proof of "same data":
an edit made in the same second as the data the worker read would look synced. The rule is
therefore: a sync covers a timestamp if it is older than the synced one, or equal to it and the
worker read the scene after that second had ended.
"""

from __future__ import annotations

from sync.state import SUCCESS, SyncState
from sync.timestamps import parse_instant

STASH_RESOLUTION_S = 1.0


def needs_resync(scene_id: int, stash_updated_at: str | None, sync_state: SyncState) -> bool:
    """True unless the last successful sync already covers ``stash_updated_at``."""
    record = sync_state.get(scene_id)
    if record is None or record.status != SUCCESS:
        return True
    new = parse_instant(stash_updated_at)
    synced = record.stash_updated_ts
    if new is None or synced is None:
        return True
    if new < synced:
        return False
    if new == synced:
        fetched = record.fetched_at or 0.0
        return fetched < new + STASH_RESOLUTION_S
    return True
