"""What a Stash hook does. Stash waits for every hook process before it answers the user's save,
and runs one per scene in a bulk edit, so this path imports only the standard library, never
talks to Plex, and makes at most two small GraphQL calls (the scene's timestamp, only for a
scene synced before, and asking Stash to start the drain task when none is pending).

A hook whose input alone settles it (hooks/triage.py) never loads this module. The filter and
the outcome live there and are importable from here as before.
"""

from __future__ import annotations

import os

from hooks.triage import (
    PLEX_FIELDS,
    SCENE_CHANGE_TYPES,
    HookOutcome,
    changed_fields,
    hook_fields,
    organized_shows,
    requires_plex_sync,
    settled_by_input,
)
from queue import lease
from queue.inbox import Inbox
from queue.lease import enqueue_scenes
from stash import protocol, queries
from stash.graphql import StashClient, StashError, StashUnavailable
from sync import db
from sync.detector import needs_resync
from sync.state import SyncState

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Literal

__all__ = [
    "HOOK_GRAPHQL_TIMEOUT_S", "PLEX_FIELDS", "RELATED_TYPES", "SCENE_CHANGE_TYPES", "HookOutcome",
    "changed_fields", "handle_hook", "on_scene_destroy", "on_scene_update", "request_drain",
    "requires_plex_sync",
]

# A rename of one of these changes every scene that carries it (handled in hooks/related.py).
RELATED_TYPES = ("Performer.Update.Post", "Tag.Update.Post", "Studio.Update.Post", "Group.Update.Post")
HOOK_GRAPHQL_TIMEOUT_S = 3.0
# A hook's queued edit can be found again (the drain's catch-up), so its commit need not wait
# for the disk as PlexSync's own records do (sync.db.connect; README, Benchmarks).
HOOK_SYNCHRONOUS: Literal["FULL", "NORMAL"] = "NORMAL"


def _scene_updated_at(stash: StashClient | None, scene_id: int) -> tuple[bool, str | None]:
    """(scene exists, updated_at); a Stash that cannot answer counts as "exists, unknown"."""
    if stash is None:
        return True, None
    try:
        data = stash.execute(
            queries.SCENE_UPDATED_AT, {"id": str(scene_id)}, timeout=HOOK_GRAPHQL_TIMEOUT_S
        )
    except (StashUnavailable, StashError) as exc:
        protocol.warning(f"scene {scene_id}: could not read its timestamp from Stash ({exc}); queuing it anyway")
        return True, None
    scene = data.get("findScene")
    if not scene:
        return False, None
    return True, scene.get("updated_at")


def request_drain(conn: sqlite3.Connection, stash: StashClient | None) -> bool:
    """Ask Stash to run the drain task; on failure clear the request so the next hook retries."""
    if stash is None:
        lease.forget_wake(conn)
        return False
    try:
        stash.execute(
            queries.RUN_PLUGIN_TASK,
            {
                "plugin_id": queries.PLUGIN_ID,
                "task_name": queries.PROCESS_QUEUE_TASK,
                "description": "PlexSync: writing queued edits to Plex",
                "args_map": dict(queries.HOOK_DRAIN_ARGS),
            },
            timeout=HOOK_GRAPHQL_TIMEOUT_S,
        )
        return True
    except (StashUnavailable, StashError) as exc:
        protocol.warning(
            f"could not start the Process queue task ({exc}); the edit is queued and the next "
            "edit or a manual 'Process queue' run will write it"
        )
        lease.forget_wake(conn)
        return False


def on_scene_update(
    scene_id: int,
    update_data: object,
    conn: sqlite3.Connection,
    sync_state: SyncState,
    stash: StashClient | None,
    *,
    input_fields: list | None = None,
    reason: str = "hook",
) -> HookOutcome:
    """Filter, check the timestamp, dedupe and enqueue one scene; ask for a drain if needed."""
    if not requires_plex_sync(update_data, input_fields, scene_id):
        data_dir = os.path.dirname(getattr(conn, "path", "") or "")  # the organized-label mark's folder
        if not organized_shows(data_dir, changed_fields(update_data, input_fields, scene_id)):
            return HookOutcome("skipped", "no field Plex shows changed", (scene_id,))
    if Inbox(conn).pending_force(scene_id) is not None:
        # Already waiting: the worker reads the scene when it processes it, so it gets this
        # edit too. A read only; duplicate hooks never take the write lock.
        return HookOutcome("skipped", "already queued", (scene_id,))
    stamp = None
    if sync_state.is_synced(scene_id):
        # Only a scene synced before can turn out to be current; a new one (a scan's
        # Scene.Create.Post) or one never synced is queued without asking Stash anything.
        exists, stamp = _scene_updated_at(stash, scene_id)
        if not exists:
            return HookOutcome("skipped", "scene no longer exists in Stash", (scene_id,))
        if stamp is not None and not needs_resync(scene_id, stamp, sync_state):
            return HookOutcome("skipped", f"already synced (updated_at {stamp})", (scene_id,))
    wake = enqueue_scenes(conn, [(scene_id, stamp)], reason=reason)
    requested = request_drain(conn, stash) if wake else False
    return HookOutcome("queued", "queued for Plex", (scene_id,), requested)


def on_scene_destroy(scene_id: int, conn: sqlite3.Connection, sync_state: SyncState) -> HookOutcome:
    """Drop the deleted scene's pending job, sync state and ledger row, so none grows forever."""

    from sync.ledger import Ledger  # only this hook needs it: every hook loads what it uses

    def work(c: sqlite3.Connection) -> None:
        Inbox(c).remove(scene_id)
        sync_state.forget(scene_id, conn=c)
        Ledger(c).forget(scene_id)

    db.transaction(conn, work)
    return HookOutcome("removed", "scene deleted in Stash", (scene_id,))


def handle_hook(server_connection: dict, hook_context: dict, data_dir: str, *, leave_open: bool = False) -> HookOutcome:
    """Route one hook by its type.

    ``leave_open``: the caller's process exits right after (hooks/run.py). Closing the last
    connection to a WAL database folds the log into the file (a checkpoint, with two fsyncs:
    on a spinning disk more than the whole hook) and deletes it; a connection left to the exit
    leaves the log for the next process to read back, which is cheap while the log is short.
    So the connection is left open until the log has grown (sync.db.log_is_short), then closed.
    """
    hook_type, object_id, input_fields = hook_fields(hook_context)
    if hook_type not in (*SCENE_CHANGE_TYPES, "Scene.Destroy.Post", *RELATED_TYPES):
        return HookOutcome("skipped", f"hook type {hook_type or '(none)'} is not handled")
    settled = settled_by_input(hook_context, data_dir)  # a scene hook the input alone decides
    if settled is not None:
        return settled
    if object_id <= 0:
        return HookOutcome("skipped", "hook has no object id")
    stash = StashClient(server_connection, timeout=HOOK_GRAPHQL_TIMEOUT_S)
    sync_state = SyncState(os.path.join(data_dir, db.DB_NAME), synchronous=HOOK_SYNCHRONOUS)
    conn = sync_state.connection  # one connection for the state check and the enqueue
    try:
        if hook_type in SCENE_CHANGE_TYPES:
            return on_scene_update(
                object_id, hook_context.get("input"), conn, sync_state, stash, input_fields=input_fields,
                reason=SCENE_CHANGE_TYPES[hook_type],
            )
        if hook_type == "Scene.Destroy.Post":
            return on_scene_destroy(object_id, conn, sync_state)
        from hooks.related import on_related_update

        return on_related_update(hook_type, object_id, input_fields, conn, stash)
    finally:
        if not (leave_open and db.log_is_short(conn)):
            sync_state.close()
