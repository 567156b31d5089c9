"""The *Re-sync scenes* task (and the scene page's Sync to Plex button): the given scenes now,
even if they look up to date, with a result per scene in the words the user sees.

A re-sync looks: each scene's item is read from Plex (one GET) and what differs is written, never
judged from the ledger alone. Plex stamps ``updatedAt`` in whole seconds, so an edit made in Plex
in the second of PlexSync's own write (or one that moves no stamp) shows only in the values.
"""

from __future__ import annotations

from typing import Any

from queue.inbox import FAILED, REVIEW, InboxEntry
from queue.inbox_tasks import TaskInbox
from queue.lease import enqueue_scenes
from stash import protocol, queries
from sync import db
from sync.ledger import Ledger
from worker.context import TaskContext
from worker.drain.engine import run_drain
from worker.drain.outcomes import Outcome
from worker.drain.preview import preview_scenes
from worker.drain.progress import band

TaskResult = tuple[Any, "str | None"]


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


def _drain_recording(ctx: TaskContext) -> tuple[Any, str | None, dict[int, Outcome]]:
    """The drain, keeping every scene's outcome for the per-scene report."""
    outcomes: dict[int, Outcome] = {}

    def keep(outcome: Outcome) -> None:
        if outcome.kind != "stale":
            outcomes[int(outcome.scene_id)] = outcome

    output, error = run_drain(ctx, on_outcome=keep, progress=band(0.05, 1.0))
    return output, error, outcomes


def _describe(scene_id: int, outcome: Outcome | None, inbox_row: InboxEntry | None) -> dict[str, Any]:
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
        parked = {FAILED: "failed", REVIEW: "needs review"}.get(inbox_row.state)
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
        reports, error = preview_scenes(ctx, present, progress=band(0.05, 1.0), read_plex=True)
        reports += [{"scene_id": i, "plex_item": None, "changes": [], "summary": "not found in Stash",
                     "details": []} for i in missing]
        protocol.info(
            f"PlexSync resync_scene (dry run): {len(present)} scene(s) previewed, "
            f"{sum(1 for r in reports if r['changes'])} with changes in Plex, "
            f"{len(missing)} not found in Stash; nothing was written"
        )
        return {"mode": "resync_scene", "dry_run": True, "scenes": reports}, error

    if present:
        # Asked for: the item is read from Plex rather than taken from the ledger (the mark goes
        # first: should the task stop before queueing, the next drain still checks the scene) ...
        Ledger(ctx.conn).ask_check(present)
        # ... and forced, so neither the timestamp nor the payload hash may skip it.
        enqueue_scenes(ctx.conn, [(i, found[i]) for i in present], reason="resync", force=True)
        # A scene waiting out a retry delay is due now: the user asked for it now.
        db.transaction(ctx.conn, lambda c: TaskInbox(c).make_due(present))
    drain_output, error, outcomes = _drain_recording(ctx)
    inbox = TaskInbox(ctx.conn)
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
        counts[str(item["result"])] = counts.get(str(item["result"]), 0) + 1
    protocol.info(
        f"PlexSync resync_scene: {len(scene_ids)} scene(s): "
        + ", ".join(f"{n} {r}" for r, n in counts.items())
    )
    return {"mode": "resync_scene", "scenes": results, "drain": drain_output}, error
