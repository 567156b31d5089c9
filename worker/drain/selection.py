"""Choosing the scenes a sync task queues: listings read from Stash, decided scene by scene.

A scene is queued when Plex has not got its latest Stash edit: no successful sync covers its
``updated_at`` (``sync.detector``). A performer, tag, studio or group rename changes no scene
row, so the scenes that carry a renamed object are queued with ``force`` (the worker then
compares them with Plex instead of trusting the timestamp).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from queue.inbox import PARKED_STATES, PENDING
from queue.inbox_tasks import TaskInbox
from queue.lease import enqueue_scenes
from stash import protocol, queries
from stash.paging import pages
from sync.cursor import MAX_ZONES, later, query_since, stamp_zone
from sync.detector import needs_resync
from worker.context import TaskContext
from worker.drain.progress import Progress

PAGE_SIZE = 250  # listings with whole scenes (or objects)
# Listings of ids and stamps only are small rows: bigger pages, fewer round trips.
STAMPS_PAGE_SIZE = 1000
# A listing that changed under us (an edit moved a row between pages) is read again, this often.
MAX_PASSES = 3


@dataclass
class Selection:
    """What a scan decided, scene by scene; the counts feed the output and the summary."""

    seen: dict[int, str | None] = field(default_factory=dict)  # scene id -> updated_at read
    queued: dict[int, str] = field(default_factory=dict)  # scene id -> reason
    forced: set[int] = field(default_factory=set)
    already_synced: int = 0
    already_queued: int = 0
    parked: int = 0  # failed / needs review with no edit since: retry_failed is the way back
    max_stamp: str | None = None
    zones: set[str] = field(default_factory=set)
    stable: bool = True

    def note_stamp(self, stamp: str | None) -> None:
        zone = stamp_zone(stamp)
        if zone is None:
            return
        self.zones.add(zone)
        if self.max_stamp is None or later(stamp, self.max_stamp):
            self.max_stamp = stamp


class Selector:
    """Decides which scenes to queue and queues them (or, in a dry run, only collects them)."""

    def __init__(self, ctx: TaskContext, reason: str, *, dry_run: bool,
                 synced_now: dict[int, str] | None = None) -> None:
        """``synced_now``: scene → updated_at already put in Plex by the running drain."""
        self.ctx = ctx
        self.reason = reason
        self.dry_run = dry_run
        self.synced_now = synced_now or {}
        self.result = Selection()

    def offer(self, batch: list[tuple[int, str | None]], *, force: bool = False, reason: str | None = None) -> None:
        """Consider scenes read from Stash; queue those Plex has not got yet.

        Not queued: a scene already waiting (the worker reads the scene when it gets to it),
        a scene whose last successful sync covers its ``updated_at``, and a failed or
        needs-review scene with no edit since it was parked (it would fail the same way).
        ``force`` (renames, resync, content drift) queues synced scenes too and upgrades a
        waiting job.
        """
        fresh = self._unseen(batch, force=force)
        if not fresh:
            return
        rows = TaskInbox(self.ctx.conn).rows_for([scene_id for scene_id, _ in fresh])
        chosen: list[tuple[int, str | None]] = []
        for scene_id, stamp in fresh:
            row = rows.get(scene_id)
            if row is not None and row.state == PENDING and (row.force or not force):
                self.result.already_queued += 1
            elif not force and row is not None and row.state in PARKED_STATES and not later(stamp, row.stash_updated_at):
                self.result.parked += 1
            elif not force and ((stamp is not None and self.synced_now.get(scene_id) == stamp)
                                or not needs_resync(scene_id, stamp, self.ctx.sync_state)):
                self.result.already_synced += 1
            else:
                chosen.append((scene_id, stamp))
        if chosen:
            self._queue(chosen, reason or self.reason, force=force)

    def _unseen(self, batch: list[tuple[int, str | None]], *, force: bool) -> list[tuple[int, str | None]]:
        """The scenes not decided yet (a repeated pass or the overlap reads some twice)."""
        fresh = []
        for scene_id, stamp in batch:
            self.result.note_stamp(stamp)
            decided = scene_id in self.result.seen and self.result.seen[scene_id] == stamp
            if decided and (not force or scene_id in self.result.forced):
                continue
            self.result.seen[scene_id] = stamp
            fresh.append((scene_id, stamp))
        return fresh

    def _queue(self, chosen: list[tuple[int, str | None]], why: str, *, force: bool) -> None:
        if not self.dry_run:
            enqueue_scenes(self.ctx.conn, chosen, reason=why, force=force)
        for scene_id, _ in chosen:
            self.result.queued[scene_id] = why
            if force:
                self.result.forced.add(scene_id)


def scan_scene_pages(
    ctx: TaskContext, selector: Selector, document: str, variables: dict[str, Any],
    *, progress: Progress, changed: Callable[[list[dict[str, Any]]], set[int]] | None = None,
    per_page: int = STAMPS_PAGE_SIZE,
) -> bool:
    """One pass over a findScenes listing; False if the listing changed while it was read.

    Sorted by updated_at, an edit during the scan moves its scene to the end: rows after it shift
    one place back and one row would be skipped. That shows as a scene read twice, or a count
    that changed, and the caller reads again. ``changed`` names the scenes of a page whose
    content differs from what Plex got although their timestamp does not say so (queued forced).
    """
    seen_in_pass: set[int] = set()
    counts: set[int] = set()
    repeated = False
    for rows, count, page in pages(ctx.stash, document, variables, "findScenes", "scenes", per_page=per_page):
        counts.add(count)
        batch = [(int(s["id"]), s.get("updated_at")) for s in rows]
        repeated = repeated or any(scene_id in seen_in_pass for scene_id, _ in batch)
        seen_in_pass.update(scene_id for scene_id, _ in batch)
        forced = changed(rows) if changed is not None else set()
        selector.offer([(i, s) for i, s in batch if i not in forced])
        selector.offer([(i, s) for i, s in batch if i in forced], force=True, reason="stash_changed")
        progress(min(1.0, page / max(1, math.ceil(count / per_page))))
    total = next(iter(counts)) if len(counts) == 1 else -1
    return not repeated and len(counts) <= 1 and len(seen_in_pass) >= total


def scan_since(
    ctx: TaskContext, selector: Selector, cursor: str, zones: list[str], *, progress: Progress,
) -> str:
    """Every scene changed since ``cursor``; repeated if the listing moved or a new offset appeared.

    Returns the ``since`` value finally used (for the output and the log).
    """
    known = {*zones, stamp_zone(cursor) or "Z"}
    since = query_since(cursor, known)
    unstable_passes = 0
    for _ in range(MAX_PASSES + MAX_ZONES):
        since = query_since(cursor, known)
        stable = scan_scene_pages(ctx, selector, queries.SCENE_STAMPS_SINCE, {"since": since}, progress=progress)
        new_zones = selector.result.zones - known
        known |= selector.result.zones
        if new_zones and len(known) <= MAX_ZONES:
            # Stash's offset changed (a moved container; DST is inside the margin): rows in the
            # new offset may sort before `since`. Read again with the cursor in that offset too.
            protocol.info(
                f"Stash's timestamps use a new UTC offset ({', '.join(sorted(new_zones))}); "
                "reading the changes again in that offset"
            )
            continue
        if stable:
            selector.result.stable = True
            return since
        unstable_passes += 1
        if unstable_passes >= MAX_PASSES:
            break
        protocol.info("scenes changed in Stash while they were listed; reading the list again")
    selector.result.stable = False
    return since


RELATED_KINDS = (
    ("performer", queries.PERFORMERS_UPDATED_SINCE, "findPerformers", "performers", queries.SCENES_WITH_PERFORMER),
    ("tag", queries.TAGS_UPDATED_SINCE, "findTags", "tags", queries.SCENES_WITH_TAG),
    ("studio", queries.STUDIOS_UPDATED_SINCE, "findStudios", "studios", queries.SCENES_WITH_STUDIO),
    ("group", queries.GROUPS_UPDATED_SINCE, "findGroups", "groups", queries.SCENES_WITH_GROUP),
)
RelatedObjects = dict[str, list[dict[str, Any]]]


def fetch_related(ctx: TaskContext, since: str, first_pages: dict[str, Any] | None = None) -> RelatedObjects:
    """Performers, tags, studios and groups changed since ``since``, by kind.

    ``first_pages`` is a combined answer (``queries.CHANGES_SINCE``) already read: a kind whose
    first page held everything costs no further request.
    """
    found: RelatedObjects = {}
    for kind, document, root, items, _ in RELATED_KINDS:
        page = (first_pages or {}).get(root) or {}
        rows = list(page.get(items) or [])
        if first_pages is not None and len(rows) >= int(page.get("count") or 0):
            found[kind] = rows
            continue
        found[kind] = [row for rows, _, _ in pages(ctx.stash, document, {"since": since}, root, items,
                                                   per_page=PAGE_SIZE) for row in rows]
    return found


def scan_related(
    ctx: TaskContext, selector: Selector, objects: RelatedObjects, handled: dict[str, str], *,
    baseline: bool = False,
) -> dict[str, int]:
    """Queue the scenes that carry each changed performer, tag, studio or group.

    Their scenes' rows did not change, so their sync state looks current; they are queued with
    ``force`` so the worker compares them with Plex instead of trusting the timestamp. Any edit
    of the object counts (Stash does not say which field changed); the worker writes only when
    the Plex item actually differs.

    The overlap margin returns the same objects on every run for an hour; ``handled`` (object →
    the updated_at and name already acted on) keeps each change to one round of work. ``baseline`` (a run
    that checked every scene anyway) only records what exists.
    """
    changed: dict[str, int] = {}
    for kind, _, _, _, scenes_document in RELATED_KINDS:
        changed[kind] = 0
        for obj in objects.get(kind, []):
            stamp = obj.get("updated_at")
            selector.result.note_stamp(stamp)
            if not isinstance(stamp, str):
                continue
            key = f"{kind}:{obj['id']}"
            # The name too: a rename in the very second of the last look has the same stamp.
            seen = f"{stamp}|{obj.get('name')}"
            if handled.get(key) == seen:
                continue
            handled[key] = seen
            if baseline:
                continue
            changed[kind] += 1
            protocol.debug(f"{kind} {obj['id']} '{obj.get('name')}' changed at {stamp}")
            _offer_scenes_of(ctx, selector, kind, scenes_document, str(obj["id"]))
    return changed


def _offer_scenes_of(ctx: TaskContext, selector: Selector, kind: str, document: str, object_id: str) -> None:
    """Queue the scenes carrying one changed object: synced ones forced, the rest as usual. With
    studio collections, a studio's parent shows in Plex: its sub-studios' scenes count too."""
    variables: dict[str, Any] = {"ids": [object_id]}
    if kind == "studio" and ctx.config.studio_collections:
        variables["depth"] = -1
    for rows, _, _ in pages(ctx.stash, document, variables, "findScenes", "scenes", per_page=PAGE_SIZE):
        batch = [(int(s["id"]), s.get("updated_at")) for s in rows]
        synced = [(i, s) for i, s in batch if ctx.sync_state.is_synced(i)]
        unsynced = [(i, s) for i, s in batch if not ctx.sync_state.is_synced(i)]
        selector.offer(unsynced)
        selector.offer(synced, force=True, reason=kind)
