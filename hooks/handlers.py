"""What a Stash hook does. Stash waits for every hook process before it answers the user's save,
and runs one per scene in a bulk edit, so this path imports only the standard library, never
talks to Plex, and makes at most two small GraphQL calls (the scene's timestamp, only for a
scene synced before, and asking Stash to start the drain task when none is pending).
"""

from __future__ import annotations

import os
import sqlite3
from collections import namedtuple

from queue import lease
from queue.inbox import Inbox
from queue.lease import enqueue_scenes
from stash import protocol, queries
from stash.graphql import StashClient, StashError, StashUnavailable
from sync import db
from sync.detector import needs_resync
from sync.state import SyncState

# Fields of SceneUpdateInput / BulkSceneUpdateInput whose change Plex can show. Play counts,
# o-counter, resume time, organized and the like change nothing in Plex.
PLEX_FIELDS = frozenset(
    {
        "title", "details", "date", "studio_id", "performer_ids", "tag_ids", "groups", "movies",
        "movie_ids", "group_ids", "rating100", "rating", "cover_image", "urls", "url", "code",
        "director", "primary_file_id",
    }
)
# A rename of one of these changes every scene that carries it (handled in hooks/related.py).
RELATED_TYPES = ("Performer.Update.Post", "Tag.Update.Post", "Studio.Update.Post", "Group.Update.Post")
# Scene hooks that carry a change for Plex (Create: a new file; Update: an edit, or with a null
# input a scan that saw the file moved, changed or matched by fingerprint).
SCENE_CHANGE_TYPES = {"Scene.Update.Post": "hook", "Scene.Create.Post": "create"}
HOOK_GRAPHQL_TIMEOUT_S = 3.0


class HookOutcome(namedtuple("HookOutcome", "action reason scene_ids drain_requested", defaults=((), False))):
    """What the hook did: action is "queued", "skipped" or "removed"."""

    __slots__ = ()

    def as_output(self) -> dict:
        return {
            "action": self.action,
            "reason": self.reason,
            "scene_ids": list(self.scene_ids),
            "drain_requested": self.drain_requested,
        }


def changed_fields(update_data: object, input_fields: list | None, scene_id: int | None) -> set[str]:
    """The input keys of this scene's change, whatever shape Stash sent.

    ``scenesUpdate`` sends the whole array as input (with this scene's keys in inputFields),
    ``bulkSceneUpdate`` the whole bulk input; scan hooks send null.
    """
    if input_fields:
        return {str(f) for f in input_fields}
    if isinstance(update_data, dict):
        return set(update_data)
    if isinstance(update_data, list):
        for entry in update_data:
            if isinstance(entry, dict) and str(entry.get("id")) == str(scene_id):
                return set(entry)
    return set()


def requires_plex_sync(update_data: object, input_fields: list | None = None, scene_id: int | None = None) -> bool:
    """Is this a change Plex cares about?

    A null input comes from Stash itself: a scan that created the scene, moved or renamed its
    file, or matched a file to it by fingerprint. The Plex binding must follow the file, so
    that always counts.
    """
    if update_data is None:
        return True  # scan and create hooks: no metadata change to carry
    return bool(changed_fields(update_data, input_fields, scene_id) & PLEX_FIELDS)


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
                "args_map": {"mode": "process_queue"},
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
        from hooks.related import organized_shows  # only for edits Plex would not see otherwise

        if not organized_shows(conn, changed_fields(update_data, input_fields, scene_id)):
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


def handle_hook(server_connection: dict, hook_context: dict, data_dir: str) -> HookOutcome:
    """Entry for PlexSync.py: route one hook by its type."""
    hook_type = str(hook_context.get("type") or "")
    try:
        object_id = int(hook_context.get("id") or 0)
    except (TypeError, ValueError):
        object_id = 0
    input_fields = hook_context.get("inputFields")
    if not isinstance(input_fields, list):
        input_fields = None
    if hook_type not in (*SCENE_CHANGE_TYPES, "Scene.Destroy.Post", *RELATED_TYPES):
        return HookOutcome("skipped", f"hook type {hook_type or '(none)'} is not handled")
    if object_id <= 0:
        return HookOutcome("skipped", "hook has no object id")
    stash = StashClient(server_connection, timeout=HOOK_GRAPHQL_TIMEOUT_S)
    sync_state = SyncState(os.path.join(data_dir, db.DB_NAME))
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
        sync_state.close()
