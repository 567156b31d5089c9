"""The status and retry_failed tasks: what is waiting, what failed and why, what needs review."""

from __future__ import annotations

import json
import time
from typing import Any

from queue.inbox import FAILED, PENDING, QUEUED, REVIEW
from queue.inbox_tasks import TaskInbox
from stash import protocol
from sync import db
from sync.error_log import ErrorLog
from sync.ledger import Ledger
from sync.meta import LastReport
from sync.watch_ledger import WatchLedger
from worker.context import TaskContext

RECENT_ERRORS = 10


def collect_status(ctx: TaskContext) -> dict[str, Any]:
    conn = ctx.conn
    inbox = TaskInbox(conn)
    counts = inbox.counts()
    errors = [
        {"at": e.at, "scene_id": e.scene_id, "message": e.message} for e in ErrorLog(conn).recent(RECENT_ERRORS)
    ]
    review = []
    for entry in inbox.entries(REVIEW):
        detail = json.loads(entry.detail) if entry.detail else {}
        review.append(
            {
                "scene_id": entry.scene_id,
                "reason": entry.last_error,
                "stash_path": detail.get("stash_path"),
                "candidates": detail.get("candidates", []),
                "other_scenes": detail.get("other_scenes", []),
            }
        )
    failed = [
        {"scene_id": e.scene_id, "reason": e.last_error, "attempts": e.attempts}
        for e in inbox.entries(FAILED)
    ]
    waiting = [
        {"scene_id": e.scene_id, "folder": e.plex_wait, "next_try": e.not_before, "reason": e.last_error}
        for e in inbox.waiting_for_plex()
    ]
    ledger = Ledger(conn)
    kept = [{"scene_id": scene_id, "fields": fields} for scene_id, fields in ledger.kept_for_people(50)]
    return {
        "pending": counts[PENDING],
        "waiting_retry": counts["waiting_retry"],
        "in_progress": counts[QUEUED],
        "failed": counts[FAILED],
        "needs_review": counts[REVIEW],
        "synced": ctx.sync_state.count(),
        "failed_scenes": failed,
        "needs_review_scenes": review,
        "waiting_for_plex": waiting,
        "kept_for_person": ledger.count_kept(),
        "kept_scenes": kept,
        "drifted_in_plex_unchecked": ledger.drift_counts(),
        "last_sync_all": LastReport(conn).load(),
        "last_errors": errors,
        "plays_exchanged": WatchLedger(conn).counts(),
    }


def log_status(status: dict[str, Any]) -> None:
    protocol.info(
        f"PlexSync status: {status['synced']} synced, {status['pending']} pending"
        f" ({status['waiting_retry']} waiting to retry), {status['in_progress']} in progress,"
        f" {status['failed']} failed, {status['needs_review']} need review"
    )
    if "plex" in status:
        plex = status["plex"]
        (protocol.info if plex["ok"] else protocol.warning)(f"Plex: {plex['detail']}")
    for item in status["failed_scenes"]:
        protocol.info(f"failed: scene {item['scene_id']}: {item['reason']}")
    for item in status["needs_review_scenes"]:
        protocol.info(
            f"needs review: scene {item['scene_id']} ({item['stash_path']}) matches "
            f"{len(item['candidates'])} Plex items:"
        )
        for candidate in item["candidates"]:
            protocol.info(f"    candidate: {candidate}")
        for other in item.get("other_scenes") or []:
            protocol.info(f"    another Stash scene with that file name: scene {other['scene_id']} ({other['path']})")
    for item in status["waiting_for_plex"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item["next_try"]))
        protocol.info(f"waiting for Plex: scene {item['scene_id']}: Plex has not scanned {item['folder']} "
                      f"yet; next try {when}")
    for item in status["kept_scenes"]:
        protocol.info(f"kept for a person's edit in Plex: scene {item['scene_id']}: {', '.join(item['fields'])}")
    last = status.get("last_sync_all")
    if last:
        protocol.info(
            f"last Sync all: {last.get('checked')} checked, {last.get('differed_in_stash')} differed in "
            f"Stash, {last.get('drifted_in_plex')} drifted in Plex, {last.get('recreated_in_plex')} "
            f"re-created in Plex, {last.get('kept_for_person')} kept for a person's edit, "
            f"{last.get('written')} written")
    plays = status.get("plays_exchanged") or {}
    if any(plays.values()):
        protocol.info(f"watch state: {plays['from_plex']} play(s) copied from Plex to Stash, {plays['from_stash']} "
                      f"Stash play(s) marked in Plex, {plays['unconfirmed']} not confirmed yet (the next drain checks them)")
    for err in status["last_errors"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(err["at"]))
        protocol.info(f"recent error {when}: scene {err['scene_id']}: {err['message']}")


def check_plex(ctx: TaskContext) -> dict[str, Any]:
    """Can PlexSync reach Plex with the configured token? One request, through requests.

    Status must answer even when the settings are wrong, so a settings problem is reported
    here rather than failing the task.
    """
    from stash.graphql import StashError
    from validation.settings import ConfigError

    try:
        config = ctx.config
    except (ConfigError, StashError) as exc:
        return {"ok": False, "detail": str(exc)}
    import requests

    try:
        response = requests.get(
            # Not /identity: Plex answers it without a token, so it cannot tell a wrong one.
            f"{config.plex_url}/",
            headers={"X-Plex-Token": config.plex_token, "Accept": "application/xml"},
            timeout=(5, 10),
            verify=config.tls_verify,
        )
    except requests.RequestException as exc:
        return {"ok": False, "detail": f"cannot reach Plex at {config.plex_url}: {type(exc).__name__}"}
    if response.status_code == 401:
        return {"ok": False, "detail": "Plex rejected the token: check the plex_token setting"}
    if response.status_code != 200:
        return {"ok": False, "detail": f"Plex answered HTTP {response.status_code}"}
    return {"ok": True, "detail": f"Plex reachable at {config.plex_url}"}


def run_status(ctx: TaskContext) -> tuple[dict[str, Any], str | None]:
    status = collect_status(ctx)
    status["plex"] = check_plex(ctx)
    log_status(status)
    if status["plex"]["ok"]:
        ctx.config.log_config()  # the settings in force (secrets masked), for a support request
    return status, None


def requeue_failed(ctx: TaskContext) -> int:
    count = db.transaction(ctx.conn, lambda c: TaskInbox(c).requeue_parked())
    protocol.info(f"put {count} failed or needs-review scene(s) back in the queue")
    return count
