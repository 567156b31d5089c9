"""The dry run of the sync tasks: per scene, what a sync would change in Plex; nothing written.

The selection is made as for a real run (nothing queued), then each selected scene goes through
the processor's preview: the same read, match and plan as a real write, without the write and
without touching the inbox, the sync state or the cursor.
"""

from __future__ import annotations

from typing import Any

from stash import protocol
from worker.context import TaskContext
from worker.drain.progress import Progress
from worker.drain.selection import Selection

PREVIEW_OUTPUT_LIMIT = 200


def preview_scenes(ctx: TaskContext, scene_ids: list[int], *, progress: Progress,
                   read_plex: bool = False) -> tuple[list[dict[str, Any]], str | None]:
    """Log, per scene, what a sync would change in Plex; returns the reports and any error.
    ``read_plex``: compare with each item as Plex has it, not the ledger (a re-sync looks)."""
    from plex.errors import PlexAuthError, PlexSetupError, PlexUnavailable
    from plex.session import PlexSession
    from worker.drain.processor import Processor

    config = ctx.config
    session = PlexSession(config, ctx.data_dir)
    processor = Processor(ctx, config, session)
    reports: list[dict[str, Any]] = []
    error = None
    try:
        for number, scene_id in enumerate(scene_ids, start=1):
            try:
                outcome = processor.preview(scene_id, read_plex=read_plex)
            except (PlexAuthError, PlexSetupError, PlexUnavailable) as exc:
                error = f"dry run stopped: {exc}"
                protocol.error(error)
                break
            reports.append(_report(scene_id, outcome))
            progress(number / len(scene_ids))
    finally:
        session.close()
    progress(1.0)
    return reports, error


def _report(scene_id: int, outcome: Any) -> dict[str, Any]:
    plan = outcome.plan
    changes = [{"field": c.field, "old": c.old, "new": c.new} for c in (plan.changes if plan else [])]
    lines = (outcome.message or "").splitlines() or [f"scene {scene_id}: nothing to report"]
    if plan is None:
        lines[0] = f"scene {scene_id}: would not be written: {lines[0]}"
    for line in lines:
        protocol.info(f"[dry run] {line}")
    return {"scene_id": scene_id, "plex_item": outcome.rating_key, "changes": changes,
            "summary": lines[0], "details": lines[1:]}


def dry_run_output(mode: str, selection: Selection, reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The task output of a dry run: counts, and the first reports."""
    would_change = [r for r in reports if r["changes"]]
    return {
        "mode": mode,
        "dry_run": True,
        "would_queue": len(selection.queued),
        "would_change": len(would_change),
        "scenes": reports[:PREVIEW_OUTPUT_LIMIT],
        "scenes_truncated": max(0, len(reports) - PREVIEW_OUTPUT_LIMIT),
    }
