"""The *Sync all scenes* task: every scene, paged; queue what Plex has not got, forget scenes
Stash deleted, then drain in this same task."""

from __future__ import annotations

from typing import Any

from queue.inbox import Inbox
from stash import protocol, queries
from sync import db
from worker.context import TaskContext
from worker.drain import drain_summary, run_drain
from worker.preview import PREVIEW_OUTPUT_LIMIT, dry_run_output, preview_scenes
from worker.progress import band
from worker.selection import MAX_PASSES, PAGE_SIZE, Selector, scan_scene_pages

SCAN_SHARE = 0.3  # progress: scanning takes 0..0.3, the drain or preview the rest

TaskResult = tuple[Any, "str | None"]


def prune(ctx: TaskContext, present: set[int], *, dry_run: bool) -> list[int]:
    """Forget sync state and waiting jobs of scenes Stash no longer has.

    Candidates are confirmed missing with one more query first: a scene created after the
    listing (its hook may already have queued or synced it) must not lose its state.
    Jobs a drain has taken (``queued``) are left to that drain, which drops deleted scenes itself.
    """
    inbox = Inbox(ctx.conn)
    known = set(ctx.sync_state.scene_ids()) | inbox.scene_ids_not_in_hand()
    candidates = sorted(known - present)
    if not candidates:
        return []
    still_there: set[int] = set()
    for start in range(0, len(candidates), PAGE_SIZE):
        chunk = candidates[start : start + PAGE_SIZE]
        data = ctx.stash.execute(
            queries.SCENE_STAMPS_BY_IDS, {"ids": [str(i) for i in chunk], "per_page": len(chunk)}
        )
        still_there |= {int(s["id"]) for s in (data.get("findScenes") or {}).get("scenes") or []}
    gone = [i for i in candidates if i not in still_there]
    if gone and not dry_run:
        state = ctx.sync_state

        def work(c: Any) -> None:
            rows = Inbox(c)
            for scene_id in gone:
                state.forget(scene_id, conn=c)
                rows.remove_not_in_hand(scene_id)

        db.transaction(ctx.conn, work)
    return gone


def run_sync_all(ctx: TaskContext) -> TaskResult:
    """Every scene, paged: queue those Plex has not got, forget scenes Stash deleted, drain."""
    dry_run = ctx.dry_run
    ctx.config  # noqa: B018 - wrong settings end the task before anything is queued
    selector = Selector(ctx, "sync_all", dry_run=dry_run)
    scan_progress = band(0.0, SCAN_SHARE * 0.9)
    for attempt in range(1, MAX_PASSES + 1):
        # Sorted by id, edits do not move rows; a deletion or creation during the scan does.
        if scan_scene_pages(ctx, selector, queries.FIND_SCENE_STAMPS, {}, progress=scan_progress):
            break
        if attempt < MAX_PASSES:
            protocol.info("scenes were added or deleted in Stash while they were listed; reading again")
    result = selector.result
    present = set(result.seen)
    if not present and ctx.sync_state.count():
        protocol.warning(
            "Stash reports no scenes at all; nothing is forgotten (if the library really is "
            "empty now, delete the PlexSync data folder to start over)"
        )
        pruned: list[int] = []
    else:
        pruned = prune(ctx, present, dry_run=dry_run)
    protocol.progress(SCAN_SHARE)

    base = {
        "mode": "sync_all",
        "scene_count": len(present),
        "queued": len(result.queued),
        "queued_ids": sorted(result.queued)[:PREVIEW_OUTPUT_LIMIT],
        "already_synced": result.already_synced,
        "already_queued": result.already_queued,
        "parked_unchanged": result.parked,
        ("would_forget" if dry_run else "forgotten"): len(pruned),
    }
    if dry_run:
        reports, error = preview_scenes(ctx, list(result.queued), progress=band(SCAN_SHARE, 1.0))
        output = {**base, **dry_run_output("sync_all", result, reports)}
        protocol.info(
            f"PlexSync sync_all (dry run): {len(present)} scene(s) in Stash, {len(result.queued)} "
            f"would be synced, {output['would_change']} with changes in Plex, {len(pruned)} deleted "
            "scene(s) would be forgotten; nothing was written"
        )
        return output, error

    drain_output, error = run_drain(ctx, progress=band(SCAN_SHARE, 1.0))
    output = {**base, "drain": drain_output}
    protocol.info(
        f"PlexSync sync_all: {len(present)} scene(s) in Stash; {len(result.queued)} queued, "
        f"{result.already_synced} already synced, {result.already_queued} already queued, "
        f"{result.parked} failed/needs review without a new edit, {len(pruned)} deleted scene(s) "
        f"forgotten; {drain_summary(drain_output)}"
    )
    return output, error
