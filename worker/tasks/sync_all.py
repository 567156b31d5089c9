"""The *Sync all scenes* task: the whole library checked on both sides, then drained.

Stash side, by content: every scene is read with everything Plex shows (paged) and its Plex
values are rendered and compared with the ledger's record of what PlexSync last wrote. A scene
that differs (a rename, a merged tag, anything that did not move ``updated_at``) is queued; an
equal one costs nothing. Plex side: every library is listed in full, and every item that changed
since PlexSync's write, or was re-created under a new rating key, is queued for a check. Scenes
Stash deleted are forgotten, and the *Sync recent* cursor is set, so the next catch-up starts
from here instead of re-reading the renames this run already covered.
"""

from __future__ import annotations

from typing import Any

from plex.session import PlexSession
from queue.inbox_tasks import TaskInbox
from stash import protocol, queries
from sync import db
from sync.cursor import query_since
from sync.ledger import Ledger
from sync.meta import LastReport, RecentCursor
from worker.context import TaskContext
from worker.drain.drift import DriftCheck, queue_drifted
from worker.drain.engine import drain_summary, run_drain
from worker.drain.group_collections import check_every_group
from worker.drain.outcomes import Outcome
from worker.drain.preview import PREVIEW_OUTPUT_LIMIT, dry_run_output, preview_scenes
from worker.drain.processor import fields_hash
from worker.drain.progress import band
from worker.drain.recent import advance_cursor
from worker.drain.scene_rules import SceneMapper, remember_roles
from worker.drain.selection import (
    MAX_PASSES,
    PAGE_SIZE,
    Selector,
    fetch_related,
    scan_related,
    scan_scene_pages,
)

SCAN_SHARE = 0.3  # progress: scanning takes 0..0.3, the drain or preview the rest

TaskResult = tuple[Any, "str | None"]


class StashDrift:
    """Which scenes of a page want other values in Plex than PlexSync last wrote."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.mapper = SceneMapper(ctx, self.config)  # excluded/label tags, studio collections, skips
        self.checked = 0
        self.differed = 0

    def __call__(self, scenes: list[dict[str, Any]]) -> set[int]:
        known = Ledger(self.ctx.conn).fields_hashes([int(s["id"]) for s in scenes])
        differ = set()
        for scene in scenes:
            scene_id = int(scene["id"])
            if scene_id not in known:
                if self.ctx.sync_state.is_synced(scene_id):
                    differ.add(scene_id)  # synced before the ledger existed: compare once in full
                continue
            desired = self.mapper.desired(scene)
            if desired.files and fields_hash(desired, self.config) != known[scene_id]:
                differ.add(scene_id)
        self.checked += len(scenes)
        self.differed += len(differ)
        return differ


def prune(ctx: TaskContext, present: set[int], *, dry_run: bool) -> list[int]:
    """Forget sync state, ledger rows and waiting jobs of scenes Stash no longer has.

    Candidates are confirmed missing with one more query first: a scene created after the
    listing (its hook may already have queued or synced it) must not lose its state.
    Jobs a drain has taken (``queued``) are left to that drain, which drops deleted scenes itself.
    """
    inbox = TaskInbox(ctx.conn)
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
            rows, ledger = TaskInbox(c), Ledger(c)
            for scene_id in gone:
                state.forget(scene_id, conn=c)
                ledger.forget(scene_id)
                rows.remove_not_in_hand(scene_id)

        db.transaction(ctx.conn, work)
    return gone


def plex_drift(ctx: TaskContext) -> DriftCheck:
    """List every library in full; the ledger rows whose item changed are marked."""
    check = DriftCheck(lambda: Ledger(ctx.conn))
    session = PlexSession(ctx.config, ctx.data_dir, on_listed=check)
    try:
        session.index.relist_all_once(session.http)
    finally:
        session.close()
    return check


def run_sync_all(ctx: TaskContext) -> TaskResult:
    """Every scene and every Plex item checked; what differs queued, deleted scenes forgotten."""
    dry_run = ctx.dry_run
    ctx.config  # noqa: B018 - wrong settings end the task before anything is queued
    state = RecentCursor(ctx.conn).load()
    selector = Selector(ctx, "sync_all", dry_run=dry_run)
    stash_drift = StashDrift(ctx)
    scan_progress = band(0.0, SCAN_SHARE * 0.8)
    for attempt in range(1, MAX_PASSES + 1):
        # Sorted by id, edits do not move rows; a deletion or creation during the scan does.
        if scan_scene_pages(ctx, selector, queries.FIND_SCENES_PAGE, {}, progress=scan_progress,
                            changed=stash_drift, per_page=PAGE_SIZE):
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
    drift = plex_drift(ctx)
    drifted = {} if dry_run else queue_drifted(Ledger(ctx.conn), ctx.conn, limit=None)
    protocol.progress(SCAN_SHARE)

    report = {
        "checked": len(present),
        "differed_in_stash": stash_drift.differed,
        "drifted_in_plex": drift.marked["plex"],
        "recreated_in_plex": drift.marked["recreated"],
    }
    base = {
        "mode": "sync_all",
        "scene_count": len(present),
        "queued": len(result.queued) + sum(drifted.values()),
        "queued_ids": sorted(result.queued)[:PREVIEW_OUTPUT_LIMIT],
        "already_synced": result.already_synced,
        "already_queued": result.already_queued,
        "parked_unchanged": result.parked,
        ("would_forget" if dry_run else "forgotten"): len(pruned),
        **report,
    }
    if dry_run:
        reports, error = preview_scenes(ctx, list(result.queued), progress=band(SCAN_SHARE, 1.0))
        output = {**base, **dry_run_output("sync_all", result, reports)}
        protocol.info(
            f"PlexSync sync_all (dry run): {len(present)} scene(s) in Stash, {len(result.queued)} "
            f"would be synced ({stash_drift.differed} differ from what Plex got), "
            f"{output['would_change']} with changes in Plex, {len(pruned)} deleted scene(s) would "
            "be forgotten; nothing was written"
        )
        return output, error

    set_cursor(ctx, state, selector)
    remember_roles(ctx, stash_drift.mapper.rules)  # every scene was compared under these tag roles
    kept: set[int] = set()

    def count_kept(outcome: Outcome) -> None:
        if outcome.plan is not None and outcome.plan.kept:
            kept.add(outcome.scene_id)

    drain_output, error = run_drain(ctx, progress=band(SCAN_SHARE, 1.0), on_outcome=count_kept)
    report["kept_for_person"] = len(kept)
    report["written"] = int(drain_output.get("written", 0)) if isinstance(drain_output, dict) else 0
    report["group_collection_writes"] = check_every_group(ctx)  # groups edited with no scene edit
    LastReport(ctx.conn).save(report)
    output = {**base, **report, "drain": drain_output}
    protocol.info(
        f"PlexSync sync_all: {len(present)} scene(s) checked; {stash_drift.differed} differed in Stash, "
        f"{report['drifted_in_plex']} drifted in Plex, {report['recreated_in_plex']} re-created in Plex, "
        f"{len(kept)} kept for a person's edit (preserve_plex_edits), {report['written']} written; "
        f"{len(result.queued)} queued, {len(pruned)} deleted scene(s) forgotten; {drain_summary(drain_output)}"
    )
    return output, error


def set_cursor(ctx: TaskContext, state: Any, selector: Selector) -> None:
    """Every scene was just checked by content: *Sync recent* continues from the newest stamp,
    with today's renames taken as already handled."""
    newest = selector.result.max_stamp
    if newest is None:
        return
    handled = dict(state.handled)
    scan_related(ctx, selector, fetch_related(ctx, query_since(newest)), handled, baseline=True)
    advance_cursor(ctx, state, selector, handled)
