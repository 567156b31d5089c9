"""The *Sync recent changes* task: every scene changed in Stash since the cursor, and the scenes
of every performer, tag, studio and group changed since then; queued, then drained in this task.

The scan is ``worker.drain.recent``'s, shared with every drain's catch-up. The first run (no cursor)
checks every scene against the sync state instead, and takes today's renames as its baseline.
"""

from __future__ import annotations

from typing import Any

from stash import protocol, queries
from sync.cursor import query_since
from sync.meta import RecentCursor
from worker.context import TaskContext
from worker.drain.engine import drain_summary, run_drain
from worker.drain.preview import PREVIEW_OUTPUT_LIMIT, dry_run_output, preview_scenes
from worker.drain.progress import band
from worker.drain.recent import advance_cursor, scan_changes
from worker.drain.scene_rules import queue_hierarchy_changes
from worker.drain.selection import Selector, fetch_related, scan_related, scan_scene_pages

SCAN_SHARE = 0.3  # progress: scanning takes 0..0.3, the drain or preview the rest

TaskResult = tuple[Any, "str | None"]


def run_sync_recent(ctx: TaskContext) -> TaskResult:
    """Find every scene changed in Stash since its last sync, queue exactly those, drain."""
    dry_run = ctx.dry_run
    ctx.config  # noqa: B018 - wrong settings end the task before anything is queued
    state = RecentCursor(ctx.conn).load()
    selector = Selector(ctx, "sync_recent", dry_run=dry_run)
    scan_progress = band(0.0, SCAN_SHARE)
    related: dict[str, int] = {}
    handled = dict(state.handled)
    since = None
    if state.cursor is None:
        protocol.info("first 'Sync recent changes': checking every scene against the sync state")
        selector.result.stable = scan_scene_pages(ctx, selector, queries.FIND_SCENE_STAMPS, {}, progress=scan_progress)
        if selector.result.max_stamp is not None:
            # Every scene was just checked: today's performers, tags, studios and groups are the baseline.
            objects = fetch_related(ctx, query_since(selector.result.max_stamp))
            scan_related(ctx, selector, objects, handled, baseline=True)
    else:
        scan = scan_changes(ctx, selector, state, progress=scan_progress)
        since, related, handled = scan.since, scan.related, scan.handled
    result = selector.result
    scenes_read = len(result.seen)

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
        output = {**base, **dry_run_output("sync_recent", result, reports), "cursor": state.cursor}
        protocol.info(
            f"PlexSync sync_recent (dry run): {scenes_read} scene(s) changed since "
            f"{since or 'the beginning'}, {len(result.queued)} would be synced, "
            f"{output['would_change']} with changes in Plex; nothing was written"
        )
        return output, error

    # A tag moved in the hierarchy: its scenes and those of the tags below it (or away from it).
    queue_hierarchy_changes(ctx, selector, tags_changed=bool(related.get("tag")))
    # Everything found is in the inbox now: only then may the cursor move past it.
    new_cursor = advance_cursor(ctx, state, selector, handled)
    protocol.progress(SCAN_SHARE)
    drain_output, error = run_drain(ctx, progress=band(SCAN_SHARE, 1.0))
    output = {**base, "cursor": new_cursor, "drain": drain_output}
    renamed = sum(related.values())
    protocol.info(
        f"PlexSync sync_recent: {scenes_read} scene(s) changed since {since or 'the beginning'}"
        + (f" (+ scenes of {renamed} renamed/edited performer(s)/tag(s)/studio(s)/group(s))" if renamed else "")
        + f"; {len(result.queued)} queued, {result.already_synced} already synced, "
        f"{result.already_queued} already queued, {result.parked} failed/needs review without a new edit; "
        f"{drain_summary(drain_output)}"
    )
    return output, error
