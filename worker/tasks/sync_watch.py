"""The *Sync watch state* task: the play-state exchange on demand (PlexSync.js asks for it when
Stash is opened, at most every 10 minutes per browser).

Every drain exchanges watch state before it ends, so the task is a drain: queued edits are
written too, and the exchange runs under the drain's lease, never beside another one.
"""

from __future__ import annotations

from typing import Any

from stash import protocol
from worker.context import TaskContext
from worker.drain.engine import run_drain


def run_sync_watch(ctx: TaskContext) -> tuple[dict[str, Any], str | None]:
    if ctx.config.watch_state == "off":
        message = ("watch_state is off, so nothing is exchanged: set it to plex_to_stash or both "
                   "(Settings → Plugins → PlexSync)")
        protocol.info(message)
        return {"status": "off", "message": message}, None
    output, error = run_drain(ctx)
    watched = (output.get("convergence") or {}).get("watch_state") if isinstance(output, dict) else None
    if output.get("status") == "already_running":
        protocol.info("a drain is running; it exchanges watch state before it ends")
    return {"watch_state": watched or {}, "drain": output}, error
