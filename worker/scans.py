"""The scanning tasks: resync_scene, sync_recent and sync_all, and their dry runs.

They find scenes that need Plex's attention, put them in the inbox through the same
``hooks.handlers.enqueue_scenes`` the hook uses, and then drain in this same task.

Late-update detection (``sync_recent``) is built around one fact about Stash: its
``updated_at > ?`` filter is a *string* comparison against values stored in the server's local
offset (``2026-01-11T18:07:53+11:00``, or ``...Z`` in a UTC container). A cursor in any other
format compares wrongly: a UTC ``Z`` cursor on a server west of UTC skips edits, east of UTC it
re-reads hours of them. So the cursor is always a timestamp Stash itself returned, and the value
sent is that instant minus an overlap margin (commit lag, plus one hour for the end of DST),
written in the offset Stash uses. When Stash's offset changes for good (a moved container), the
offsets seen so far are remembered and the earliest rendering is sent, and a scan that meets a
new offset is read again in that offset.

A rename of a performer, tag or studio changes no scene row, so ``sync_recent`` also lists those
objects changed since the cursor and queues their scenes.

A dry run (``dry_run`` arg) makes the same selection, then logs per scene what would change in
Plex (old → new) using the processor's preview: no Plex write, no inbox, sync-state or cursor
change.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from hooks.handlers import enqueue_scenes
from queue.inbox import Inbox
from stash import protocol, queries
from sync import db
from sync.detector import needs_resync
from sync.timestamps import parse_instant
from worker.context import TaskContext

PAGE_SIZE = 250
# Rows committed a moment after a later-stamped row was read, and clock jitter, are re-read...
COMMIT_OVERLAP_S = 120
# ...and so is one hour more: when DST ends (e.g. +11:00 → +10:00), rows written in the next
# hour carry wall clocks up to an hour *earlier* than the cursor's, and would sort before it.
# Re-reading costs ids and stamps only; needs_resync filters out everything already synced.
DST_GUARD_S = 3600
OVERLAP_S = COMMIT_OVERLAP_S + DST_GUARD_S
# A listing that changed under us (an edit moved a row between pages) is read again, this often.
MAX_PASSES = 3
MAX_ZONES = 6
PREVIEW_OUTPUT_LIMIT = 200

CURSOR_KEY = "sync_recent.cursor"
ZONES_KEY = "sync_recent.zones"
HANDLED_KEY = "sync_recent.related_handled"

SCAN_SHARE = 0.3  # progress: scanning takes 0..0.3, the drain or preview the rest

TaskResult = tuple[Any, "str | None"]

# ----------------------------------------------------------------------------- Stash timestamps

_STAMP = re.compile(
    r"^(?P<wall>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)


def stamp_zone(stamp: str | None) -> str | None:
    """The offset suffix of a Stash timestamp ("Z" or "+11:00"), or None if it is not RFC3339."""
    match = _STAMP.match(stamp.strip()) if isinstance(stamp, str) else None
    if match is None:
        return None
    zone = match.group("zone")
    return "Z" if zone in ("Z", "z") else zone


def _tz(zone: str) -> timezone:
    if zone == "Z":
        return timezone.utc
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_in_zone(instant: float, zone: str) -> str:
    """``instant`` written the way Stash writes it in that offset (RFC3339, whole seconds).

    Fractions are floored away, which only moves a cursor earlier: safe.
    """
    moment = datetime.fromtimestamp(math.floor(instant), _tz(zone))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + zone


def shift_stamp(stamp: str, seconds: float) -> str:
    """``stamp`` moved by ``seconds``, in the same offset and format as ``stamp``."""
    instant, zone = parse_instant(stamp), stamp_zone(stamp)
    if instant is None or zone is None:
        raise ValueError(f"not a Stash timestamp: {stamp!r}")
    return format_in_zone(instant + seconds, zone)


def query_since(cursor: str, zones: Iterable[str] = (), margin_s: float = OVERLAP_S) -> str:
    """The value to send as ``updated_at > ?``: the cursor minus the margin, in Stash's offsets.

    With one offset this is simply the cursor shifted back, in the cursor's own offset. When
    Stash has used several (DST), a row stored in offset Z is found only if the value's wall
    clock is earlier than the row's in Z; the earliest rendering over all offsets covers them all.
    """
    instant = parse_instant(cursor)
    own = stamp_zone(cursor)
    if instant is None or own is None:
        raise ValueError(f"the stored cursor {cursor!r} is not a Stash timestamp")
    return min(format_in_zone(instant - margin_s, zone) for zone in {own, *zones})


def _later(stamp: str | None, than: str | None) -> bool:
    """Compare two Stash stamps as instants (strings in different offsets do not compare)."""
    a, b = parse_instant(stamp), parse_instant(than)
    if a is None:
        return False
    return b is None or a > b


# ----------------------------------------------------------------------------- meta table


def meta_get(conn: Any, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _meta_set(conn: Any, values: dict[str, str]) -> None:
    def work(c: Any) -> None:
        for key, value in values.items():
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    db.transaction(conn, work)


def _known_zones(conn: Any) -> list[str]:
    try:
        zones = json.loads(meta_get(conn, ZONES_KEY) or "[]")
    except ValueError:
        return []
    return [z for z in zones if isinstance(z, str) and stamp_zone("2000-01-01T00:00:00" + z)]


# ----------------------------------------------------------------------------- progress


@contextmanager
def progress_band(low: float, high: float) -> Iterator[None]:
    """Map progress reported inside the block (0..1, e.g. by the drain) into low..high.

    The drain reports its own 0..1; inside a sync task it is the second half of the work, and a
    bar that jumps back to 0 after the scan would read as a restart.
    """
    original = protocol.progress

    def scaled(fraction: float) -> None:
        original(low + (high - low) * min(1.0, max(0.0, float(fraction))))

    protocol.progress = scaled  # type: ignore[assignment]
    try:
        yield
    finally:
        protocol.progress = original  # type: ignore[assignment]


# ----------------------------------------------------------------------------- listing


def _pages(
    ctx: TaskContext, document: str, variables: dict[str, Any], root: str, items: str,
    *, per_page: int = PAGE_SIZE,
) -> Iterator[tuple[list[dict[str, Any]], int, int]]:
    """Yield (rows, total count, page number) until a short page or the count is reached."""
    page = 1
    while True:
        data = ctx.stash.execute(document, {**variables, "page": page, "per_page": per_page})
        result = data.get(root) or {}
        rows = list(result.get(items) or [])
        count = int(result.get("count") or 0)
        yield rows, count, page
        if len(rows) < per_page or page * per_page >= count:
            return
        page += 1


@dataclass
class Selection:
    """What a scan decided, scene by scene; the counts feed the output and the summary."""

    seen: dict[int, str | None] = field(default_factory=dict)  # scene id -> updated_at read
    queued: dict[int, str | None] = field(default_factory=dict)  # scene id -> reason
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
        if self.max_stamp is None or _later(stamp, self.max_stamp):
            self.max_stamp = stamp


class Selector:
    """Decides which scenes to queue and queues them (or, in a dry run, only collects them)."""

    def __init__(self, ctx: TaskContext, reason: str, *, dry_run: bool) -> None:
        self.ctx = ctx
        self.reason = reason
        self.dry_run = dry_run
        self.result = Selection()

    def _inbox_rows(self, ids: list[int]) -> dict[int, tuple[str, bool, str | None]]:
        rows: dict[int, tuple[str, bool, str | None]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for scene_id, state, force, stamp in self.ctx.conn.execute(
                f"SELECT scene_id, state, force, stash_updated_at FROM inbox WHERE scene_id IN ({marks})",  # noqa: S608 - placeholders only
                chunk,
            ):
                rows[int(scene_id)] = (state, bool(force), stamp)
        return rows

    def offer(self, batch: list[tuple[int, str | None]], *, force: bool = False, reason: str | None = None) -> None:
        """Consider scenes read from Stash; queue those Plex has not got yet.

        Not queued: a scene already waiting (the worker reads the scene when it gets to it),
        a scene whose last successful sync covers its ``updated_at``, and a failed or
        needs-review scene with no edit since it was parked (it would fail the same way).
        ``force`` (renames, resync) queues synced scenes too and upgrades a waiting job.
        """
        fresh = []
        for scene_id, stamp in batch:
            self.result.note_stamp(stamp)
            if scene_id in self.result.seen and self.result.seen[scene_id] == stamp and (
                not force or scene_id in self.result.forced
            ):
                continue  # read twice (overlap, a repeated pass): decided already
            self.result.seen[scene_id] = stamp
            fresh.append((scene_id, stamp))
        if not fresh:
            return
        inbox = self._inbox_rows([scene_id for scene_id, _ in fresh])
        chosen: list[tuple[int, str | None]] = []
        for scene_id, stamp in fresh:
            row = inbox.get(scene_id)
            if row is not None and row[0] == "pending" and (row[1] or not force):
                self.result.already_queued += 1
                continue
            if not force and row is not None and row[0] in ("failed", "review") and not _later(stamp, row[2]):
                self.result.parked += 1
                continue
            if not force and not needs_resync(scene_id, stamp, self.ctx.sync_state):
                self.result.already_synced += 1
                continue
            chosen.append((scene_id, stamp))
        if not chosen:
            return
        why = reason or self.reason
        if not self.dry_run:
            enqueue_scenes(self.ctx.conn, chosen, reason=why, force=force)
        for scene_id, _ in chosen:
            self.result.queued[scene_id] = why
            if force:
                self.result.forced.add(scene_id)


def _scan_scene_pages(
    ctx: TaskContext, selector: Selector, document: str, variables: dict[str, Any],
    *, progress: Callable[[float], None],
) -> bool:
    """One pass over a findScenes listing; False if the listing changed while it was read.

    Sorted by updated_at, an edit during the scan moves its scene to the end: rows after it shift
    one place back and one row would be skipped. That shows as a scene read twice, or a count
    that changed, and the caller reads again.
    """
    seen_in_pass: set[int] = set()
    counts: set[int] = set()
    repeated = False
    for rows, count, page in _pages(ctx, document, variables, "findScenes", "scenes"):
        counts.add(count)
        batch = [(int(s["id"]), s.get("updated_at")) for s in rows]
        repeated = repeated or any(scene_id in seen_in_pass for scene_id, _ in batch)
        seen_in_pass.update(scene_id for scene_id, _ in batch)
        selector.offer(batch)
        pages = max(1, math.ceil(count / PAGE_SIZE))
        progress(min(1.0, page / pages))
    total = next(iter(counts)) if len(counts) == 1 else -1
    return not repeated and len(counts) <= 1 and len(seen_in_pass) >= total


def _scan_since(
    ctx: TaskContext, selector: Selector, cursor: str, zones: list[str], *,
    progress: Callable[[float], None],
) -> str:
    """Every scene changed since ``cursor``; repeated if the listing moved or a new offset appeared.

    Returns the ``since`` value finally used (for the output and the log).
    """
    known = {*zones, stamp_zone(cursor) or "Z"}
    since = query_since(cursor, known)
    unstable_passes = 0
    for _ in range(MAX_PASSES + MAX_ZONES):
        since = query_since(cursor, known)
        stable = _scan_scene_pages(
            ctx, selector, queries.SCENE_STAMPS_SINCE, {"since": since}, progress=progress
        )
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
)


def _scan_related(
    ctx: TaskContext, selector: Selector, since: str, handled: dict[str, str], *, baseline: bool = False
) -> dict[str, int]:
    """Performers, tags and studios changed since ``since``: queue the scenes that carry them.

    Their scenes' rows did not change, so their sync state looks current; they are queued with
    ``force`` so the worker compares them with Plex instead of trusting the timestamp. Any edit
    of the object counts (Stash does not say which field changed); the worker writes only when
    the Plex item actually differs.

    The overlap margin returns the same objects on every run for an hour; ``handled`` (object →
    the updated_at already acted on) keeps each change to one round of work. ``baseline`` (the
    first run, which checks every scene anyway) only records what exists.
    """
    changed: dict[str, int] = {}
    for kind, document, root, items, scenes_document in RELATED_KINDS:
        objects: list[dict[str, Any]] = []
        for rows, _, _ in _pages(ctx, document, {"since": since}, root, items):
            objects.extend(rows)
        changed[kind] = 0
        for obj in objects:
            stamp = obj.get("updated_at")
            selector.result.note_stamp(stamp)
            key = f"{kind}:{obj['id']}"
            if handled.get(key) == stamp:
                continue
            handled[key] = stamp
            if baseline:
                continue
            changed[kind] += 1
            protocol.debug(f"{kind} {obj['id']} '{obj.get('name')}' changed at {stamp}")
            for rows, _, _ in _pages(ctx, scenes_document, {"ids": [str(obj["id"])]}, "findScenes", "scenes"):
                batch = [(int(s["id"]), s.get("updated_at")) for s in rows]
                synced = [(i, s) for i, s in batch if _synced(ctx, i)]
                unsynced = [(i, s) for i, s in batch if not _synced(ctx, i)]
                selector.offer(unsynced)
                selector.offer(synced, force=True, reason=kind)
    return changed


def _trim_handled(handled: dict[str, str], cursor: str | None) -> dict[str, str]:
    """Keep only objects still inside the overlap window; older ones are never listed again."""
    floor = (parse_instant(cursor) or 0.0) - OVERLAP_S - 60 if cursor else None
    return {
        key: stamp for key, stamp in handled.items()
        if floor is None or (parse_instant(stamp) or 0.0) >= floor
    }


def _synced(ctx: TaskContext, scene_id: int) -> bool:
    record = ctx.sync_state.get(scene_id)
    return record is not None and record.status == "success"


# ----------------------------------------------------------------------------- dry run


def _preview(ctx: TaskContext, scene_ids: list[int], *, low: float) -> tuple[list[dict[str, Any]], str | None]:
    """Log, per scene, what a sync would change in Plex; write nothing anywhere."""
    from plex.errors import PlexAuthError, PlexSetupError, PlexUnavailable
    from worker.processor import PlexSession, Processor

    config = ctx.config
    session = PlexSession(config, ctx.data_dir)
    processor = Processor(ctx, config, session)
    reports: list[dict[str, Any]] = []
    error = None
    try:
        for number, scene_id in enumerate(scene_ids, start=1):
            try:
                outcome = processor.preview(scene_id)
            except (PlexAuthError, PlexSetupError, PlexUnavailable) as exc:
                error = f"dry run stopped: {exc}"
                protocol.error(error)
                break
            plan = outcome.plan
            changes = [
                {"field": c.field, "old": c.old, "new": c.new} for c in (plan.changes if plan else [])
            ]
            lines = (outcome.message or "").splitlines() or [f"scene {scene_id}: nothing to report"]
            if plan is None:
                lines[0] = f"scene {scene_id}: would not be written: {lines[0]}"
            for line in lines:
                protocol.info(f"[dry run] {line}")
            reports.append(
                {
                    "scene_id": scene_id,
                    "plex_item": outcome.rating_key,
                    "changes": changes,
                    "summary": lines[0],
                    "details": lines[1:],
                }
            )
            protocol.progress(low + (1 - low) * number / len(scene_ids))
    finally:
        session.close()
    protocol.progress(1.0)
    return reports, error


def _dry_run_output(mode: str, selection: Selection, reports: list[dict[str, Any]]) -> dict[str, Any]:
    would_change = [r for r in reports if r["changes"]]
    return {
        "mode": mode,
        "dry_run": True,
        "would_queue": len(selection.queued),
        "would_change": len(would_change),
        "scenes": reports[:PREVIEW_OUTPUT_LIMIT],
        "scenes_truncated": max(0, len(reports) - PREVIEW_OUTPUT_LIMIT),
    }


# ----------------------------------------------------------------------------- draining


def _drain(ctx: TaskContext) -> TaskResult:
    from worker.drain import run_drain

    with progress_band(SCAN_SHARE, 1.0):
        return run_drain(ctx)


def _drain_summary(output: Any) -> str:
    if not isinstance(output, dict):
        return "drain: no result"
    if output.get("status") == "already_running":
        return "drain: another drain is running and will write them"
    return (
        f"drain: {output.get('written', 0)} written, {output.get('unchanged', 0)} already up to date, "
        f"{output.get('needs_review', 0)} need review, {output.get('failed', 0)} failed, "
        f"{output.get('retry_later', 0)} to retry later"
    )


# ----------------------------------------------------------------------------- sync_recent


def run_sync_recent(ctx: TaskContext) -> TaskResult:
    """Find every scene changed in Stash since its last sync, queue exactly those, drain."""
    dry_run = ctx.dry_run
    ctx.config  # noqa: B018 - wrong settings end the task before anything is queued
    conn = ctx.conn
    cursor = meta_get(conn, CURSOR_KEY)
    zones = _known_zones(conn)
    selector = Selector(ctx, "sync_recent", dry_run=dry_run)

    def scan_progress(fraction: float) -> None:
        protocol.progress(SCAN_SHARE * fraction)

    try:
        handled = json.loads(meta_get(conn, HANDLED_KEY) or "{}")
    except ValueError:
        handled = {}
    related: dict[str, int] = {}
    if cursor is None:
        since = None
        protocol.info("first 'Sync recent changes': checking every scene against the sync state")
        selector.result.stable = _scan_scene_pages(
            ctx, selector, queries.FIND_SCENE_STAMPS, {}, progress=scan_progress
        )
        scenes_read = len(selector.result.seen)
        if selector.result.max_stamp is not None:
            # Every scene was just checked: today's performers, tags and studios are the baseline.
            _scan_related(ctx, selector, query_since(selector.result.max_stamp), handled, baseline=True)
    else:
        since = _scan_since(ctx, selector, cursor, zones, progress=scan_progress)
        scenes_read = len(selector.result.seen)
        related = _scan_related(
            ctx, selector, query_since(cursor, set(zones) | selector.result.zones), handled
        )
    result = selector.result

    new_cursor = cursor
    if result.max_stamp is not None and (cursor is None or _later(result.max_stamp, cursor)):
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
        reports, error = _preview(ctx, list(result.queued), low=SCAN_SHARE)
        output = {**base, **_dry_run_output("sync_recent", result, reports), "cursor": cursor}
        protocol.info(
            f"PlexSync sync_recent (dry run): {scenes_read} scene(s) changed since "
            f"{since or 'the beginning'}, {len(result.queued)} would be synced, "
            f"{output['would_change']} with changes in Plex; nothing was written"
        )
        return output, error

    # Everything found is in the inbox now: only then may the cursor move past it.
    if new_cursor is not None:
        _meta_set(conn, {
            CURSOR_KEY: new_cursor,
            ZONES_KEY: json.dumps(all_zones),
            HANDLED_KEY: json.dumps(_trim_handled(handled, new_cursor), sort_keys=True),
        })
    protocol.progress(SCAN_SHARE)
    drain_output, error = _drain(ctx)
    output = {**base, "cursor": new_cursor, "drain": drain_output}
    protocol.info(
        f"PlexSync sync_recent: {scenes_read} scene(s) changed since {since or 'the beginning'}"
        + (f" (+ scenes of {sum(related.values())} renamed/edited performer(s)/tag(s)/studio(s))" if any(related.values()) else "")
        + f"; {len(result.queued)} queued, {result.already_synced} already synced, "
        f"{result.already_queued} already queued, {result.parked} failed/needs review without a new edit; "
        f"{_drain_summary(drain_output)}"
    )
    return output, error


# ----------------------------------------------------------------------------- sync_all


def _prune(ctx: TaskContext, present: set[int], *, dry_run: bool) -> list[int]:
    """Forget sync state and waiting jobs of scenes Stash no longer has.

    Candidates are confirmed missing with one more query first: a scene created after the
    listing (its hook may already have queued or synced it) must not lose its state.
    Jobs a drain has taken (``queued``) are left to that drain, which drops deleted scenes itself.
    """
    conn = ctx.conn
    known = {int(r[0]) for r in conn.execute("SELECT scene_id FROM sync_state")}
    known |= {int(r[0]) for r in conn.execute("SELECT scene_id FROM inbox WHERE state != 'queued'")}
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
            for scene_id in gone:
                state.forget(scene_id, conn=c)
                c.execute("DELETE FROM inbox WHERE scene_id = ? AND state != 'queued'", (scene_id,))

        db.transaction(conn, work)
    return gone


def run_sync_all(ctx: TaskContext) -> TaskResult:
    """Every scene, paged: queue those Plex has not got, forget scenes Stash deleted, drain."""
    dry_run = ctx.dry_run
    ctx.config  # noqa: B018 - wrong settings end the task before anything is queued
    selector = Selector(ctx, "sync_all", dry_run=dry_run)

    def scan_progress(fraction: float) -> None:
        protocol.progress(SCAN_SHARE * 0.9 * fraction)

    stable = False
    for attempt in range(1, MAX_PASSES + 1):
        # Sorted by id, edits do not move rows; a deletion or creation during the scan does.
        stable = _scan_scene_pages(ctx, selector, queries.FIND_SCENE_STAMPS, {}, progress=scan_progress)
        if stable:
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
        pruned = _prune(ctx, present, dry_run=dry_run)
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
        reports, error = _preview(ctx, list(result.queued), low=SCAN_SHARE)
        output = {**base, **_dry_run_output("sync_all", result, reports)}
        protocol.info(
            f"PlexSync sync_all (dry run): {len(present)} scene(s) in Stash, {len(result.queued)} "
            f"would be synced, {output['would_change']} with changes in Plex, {len(pruned)} deleted "
            "scene(s) would be forgotten; nothing was written"
        )
        return output, error

    drain_output, error = _drain(ctx)
    output = {**base, "drain": drain_output}
    protocol.info(
        f"PlexSync sync_all: {len(present)} scene(s) in Stash; {len(result.queued)} queued, "
        f"{result.already_synced} already synced, {result.already_queued} already queued, "
        f"{result.parked} failed/needs review without a new edit, {len(pruned)} deleted scene(s) "
        f"forgotten; {_drain_summary(drain_output)}"
    )
    return output, error


# ----------------------------------------------------------------------------- resync_scene


class ArgumentError(ValueError):
    """A task argument is malformed; the message names the value."""


def parse_scene_ids(value: object) -> list[int]:
    """``scene_id`` as Stash or the scene-page button sends it: 12, "12", "12, 15", [12, "15"]."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ArgumentError(
            "resync_scene needs the argument scene_id: one scene id or a comma-separated list, e.g. 12,15"
        )
    if isinstance(value, bool):
        raise ArgumentError(f"scene_id {value!r} is not a scene id")
    if isinstance(value, (list, tuple)):
        parts: list[object] = list(value)
    elif isinstance(value, (int, float)):
        parts = [value]
    else:
        parts = [p for p in str(value).split(",")]
    ids: list[int] = []
    for part in parts:
        text = str(part).strip()
        if isinstance(part, float) and part.is_integer():
            text = str(int(part))
        if not text.isdigit() or int(text) <= 0:
            raise ArgumentError(
                f"scene_id {text!r} is not a scene id (from {value!r}); expected positive whole "
                "numbers separated by commas, e.g. 12,15"
            )
        if int(text) not in ids:
            ids.append(int(text))
    return ids


def _drain_recording(ctx: TaskContext) -> tuple[Any, str | None, dict[int, Any]]:
    """The drain, keeping every scene's outcome for the per-scene report."""
    from worker.drain import run_drain

    outcomes: dict[int, Any] = {}

    def keep(outcome: Any) -> None:
        if outcome.kind != "stale":
            outcomes[int(outcome.scene_id)] = outcome

    with progress_band(0.05, 1.0):
        output, error = run_drain(ctx, on_outcome=keep)
    return output, error, outcomes


def _describe(scene_id: int, outcome: Any, inbox_row: Any) -> dict[str, Any]:
    """One scene's result in the words the user sees."""
    if outcome is not None:
        kind = outcome.kind
        if kind == "written":
            return {"scene_id": scene_id, "result": "synced", "plex_item": outcome.rating_key,
                    "changed": list(outcome.changes)}
        if kind in ("unchanged", "covered"):
            return {"scene_id": scene_id, "result": "unchanged", "plex_item": outcome.rating_key,
                    "reason": "the Plex item already matches Stash"}
        if kind == "review":
            return {"scene_id": scene_id, "result": "needs review", "reason": outcome.message}
        if kind == "failed":
            return {"scene_id": scene_id, "result": "failed", "reason": outcome.message}
        if kind == "deleted":
            return {"scene_id": scene_id, "result": "not found in Stash", "reason": "deleted in Stash"}
        if kind == "retry" and not outcome.transient:
            return {"scene_id": scene_id, "result": "not found in Plex", "reason": outcome.message,
                    "retry": "automatically, with growing delays"}
        if kind == "retry":
            return {"scene_id": scene_id, "result": "failed", "reason": outcome.message,
                    "retry": "automatically, with growing delays"}
    if inbox_row is not None:
        parked = {"failed": "failed", "review": "needs review"}.get(inbox_row.state)
        if parked:
            return {"scene_id": scene_id, "result": parked, "reason": inbox_row.last_error}
        reason = inbox_row.last_error or "the drain stopped before reaching it"
        return {"scene_id": scene_id, "result": "still queued", "reason": reason}
    return {"scene_id": scene_id, "result": "unknown", "reason": "no result was recorded"}


def _log_scene_result(item: dict[str, Any]) -> None:
    scene_id, result = item["scene_id"], item["result"]
    if result == "synced":
        changed = ", ".join(item.get("changed") or []) or "no field"
        protocol.info(f"scene {scene_id}: synced to Plex item {item.get('plex_item')} ({changed})")
    elif result == "unchanged":
        protocol.info(f"scene {scene_id}: unchanged: Plex item {item.get('plex_item')} already matches Stash")
    else:
        level = protocol.warning if result in ("failed", "needs review", "not found in Plex") else protocol.info
        level(f"scene {scene_id}: {result}: {item.get('reason')}")


def run_resync_scene(ctx: TaskContext) -> TaskResult:
    """Sync the given scenes now, even if sync_state says they are current; report each."""
    try:
        scene_ids = parse_scene_ids(ctx.args.get("scene_id"))
    except ArgumentError as exc:
        return None, str(exc)
    dry_run = ctx.dry_run
    ctx.config  # noqa: B018 - wrong settings end the task before anything is queued
    data = ctx.stash.execute(
        queries.SCENE_STAMPS_BY_IDS, {"ids": [str(i) for i in scene_ids], "per_page": len(scene_ids)}
    )
    found = {int(s["id"]): s.get("updated_at") for s in (data.get("findScenes") or {}).get("scenes") or []}
    missing = [i for i in scene_ids if i not in found]
    present = [i for i in scene_ids if i in found]
    for scene_id in missing:
        protocol.warning(f"scene {scene_id}: not found in Stash; nothing to sync")
    protocol.progress(0.05)

    if dry_run:
        reports, error = _preview(ctx, present, low=0.05)
        reports += [{"scene_id": i, "plex_item": None, "changes": [], "summary": "not found in Stash",
                     "details": []} for i in missing]
        protocol.info(
            f"PlexSync resync_scene (dry run): {len(present)} scene(s) previewed, "
            f"{sum(1 for r in reports if r['changes'])} with changes in Plex, "
            f"{len(missing)} not found in Stash; nothing was written"
        )
        return {"mode": "resync_scene", "dry_run": True, "scenes": reports}, error

    if present:
        # force: the user asked for it, so neither the timestamp nor the payload hash may skip it.
        enqueue_scenes(ctx.conn, [(i, found[i]) for i in present], reason="resync", force=True)
        # A scene waiting out a retry delay is due now: the user asked for it now.
        marks = ",".join("?" * len(present))
        db.with_retry(lambda: ctx.conn.execute(
            f"UPDATE inbox SET not_before = 0 WHERE state = 'pending' AND scene_id IN ({marks})",  # noqa: S608 - placeholders only
            present,
        ))
    drain_output, error, outcomes = _drain_recording(ctx)
    inbox = Inbox(ctx.conn)
    results = []
    for scene_id in scene_ids:
        if scene_id in missing:
            item = {"scene_id": scene_id, "result": "not found in Stash",
                    "reason": "no scene with this id in Stash"}
        elif drain_output.get("status") == "already_running" and scene_id not in outcomes:
            item = {"scene_id": scene_id, "result": "queued",
                    "reason": "a drain already running will sync it"}
        else:
            item = _describe(scene_id, outcomes.get(scene_id), inbox.get(scene_id))
        _log_scene_result(item)
        results.append(item)
    counts: dict[str, int] = {}
    for item in results:
        counts[item["result"]] = counts.get(item["result"], 0) + 1
    protocol.info(
        f"PlexSync resync_scene: {len(scene_ids)} scene(s): "
        + ", ".join(f"{n} {r}" for r, n in counts.items())
    )
    return {"mode": "resync_scene", "scenes": results, "drain": drain_output}, error
