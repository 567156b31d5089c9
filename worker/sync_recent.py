"""The *Sync recent changes* task: every scene changed in Stash since the cursor, and the scenes
of every performer, tag and studio changed since then; queued, then drained in this same task.

The cursor and its rules live in ``sync.cursor`` (a timestamp Stash itself returned, read back
minus an overlap margin, in Stash's offsets); the renames already acted on are kept with it
(``sync.meta.RecentCursor``), so a rename inside the overlap window is handled once.
"""

from __future__ import annotations

from typing import Any

from stash import protocol, queries
from sync.cursor import MAX_ZONES, later, query_since, trim_handled, valid_zones
from sync.meta import RecentCursor
from worker.context import TaskContext
from worker.drain import drain_summary, run_drain
from worker.preview import PREVIEW_OUTPUT_LIMIT, dry_run_output, preview_scenes
from worker.progress import band
from worker.selection import Selector, scan_related, scan_scene_pages, scan_since

SCAN_SHARE = 0.3  # progress: scanning takes 0..0.3, the drain or preview the rest

TaskResult = tuple[Any, "str | None"]


def run_sync_recent(ctx: TaskContext) -> TaskResult:
    """Find every scene changed in Stash since its last sync, queue exactly those, drain."""
    dry_run = ctx.dry_run
    ctx.config  # noqa: B018 - wrong settings end the task before anything is queued
    store = RecentCursor(ctx.conn)
    cursor, stored_zones, handled = store.load()
    zones = valid_zones(stored_zones)
    selector = Selector(ctx, "sync_recent", dry_run=dry_run)
    scan_progress = band(0.0, SCAN_SHARE)
    related: dict[str, int] = {}
    if cursor is None:
        since = None
        protocol.info("first 'Sync recent changes': checking every scene against the sync state")
        selector.result.stable = scan_scene_pages(ctx, selector, queries.FIND_SCENE_STAMPS, {}, progress=scan_progress)
        scenes_read = len(selector.result.seen)
        if selector.result.max_stamp is not None:
            # Every scene was just checked: today's performers, tags and studios are the baseline.
            scan_related(ctx, selector, query_since(selector.result.max_stamp), handled, baseline=True)
    else:
        since = scan_since(ctx, selector, cursor, zones, progress=scan_progress)
        scenes_read = len(selector.result.seen)
        related = scan_related(ctx, selector, query_since(cursor, set(zones) | selector.result.zones), handled)
    result = selector.result

    new_cursor = cursor
    if result.max_stamp is not None and (cursor is None or later(result.max_stamp, cursor)):
        new_cursor = result.max_stamp
    if not result.stable:
        protocol.warning(
            "Stash's scene list kept changing while it was read; everything found is queued, "
            "and the next run reads the same period again"
        )
        new_cursor = cursor
    all_zones = sorted(set(zones) | result.zones)[-MAX_ZONES:]

    base = {
        "mode": "sync_recent",
        "since": since,
        "scenes_read": scenes_read,
        "related_changed": related,
        "queued": len(result.queued),
        "queued_ids": sorted(result.queued)[:PREVIEW_OUTPUT_LIMIT],
        "already_synced": result.already_synced,
        "already_queued": result.already_queued,
        "parked_unchanged": result.parked,
    }
    if dry_run:
        protocol.progress(SCAN_SHARE)
        reports, error = preview_scenes(ctx, list(result.queued), progress=band(SCAN_SHARE, 1.0))
        output = {**base, **dry_run_output("sync_recent", result, reports), "cursor": cursor}
        protocol.info(
            f"PlexSync sync_recent (dry run): {scenes_read} scene(s) changed since "
            f"{since or 'the beginning'}, {len(result.queued)} would be synced, "
            f"{output['would_change']} with changes in Plex; nothing was written"
        )
        return output, error

    # Everything found is in the inbox now: only then may the cursor move past it.
    if new_cursor is not None:
        store.save(new_cursor, all_zones, trim_handled(handled, new_cursor))
    protocol.progress(SCAN_SHARE)
    drain_output, error = run_drain(ctx, progress=band(SCAN_SHARE, 1.0))
    output = {**base, "cursor": new_cursor, "drain": drain_output}
    renamed = sum(related.values())
    protocol.info(
        f"PlexSync sync_recent: {scenes_read} scene(s) changed since {since or 'the beginning'}"
        + (f" (+ scenes of {renamed} renamed/edited performer(s)/tag(s)/studio(s))" if renamed else "")
        + f"; {len(result.queued)} queued, {result.already_synced} already synced, "
        f"{result.already_queued} already queued, {result.parked} failed/needs review without a new edit; "
        f"{drain_summary(drain_output)}"
    )
    return output, error



