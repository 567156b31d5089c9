"""What PlexSync knows of one scene, for the scene page: its *Open in Plex* link and sync state.

PlexSync.js asks with ``runPluginOperation`` (``mode: scene_status``) when a scene page opens
and when a *Sync to Plex* job has ended: Stash reports a plugin task's error only in its log, so
the job alone cannot tell a sync that failed from one that worked. Stash waits for the plugin
process before it answers the page, so this path is like a hook's: standard library only, no
request to Plex or Stash, no write. The ledger knows which Plex item the scene is bound to; the
server's ``machineIdentifier`` was recorded by the last task that connected to Plex
(``sync.meta.PlexServerIdentity``); Plex Web opens an item from those two alone, wherever the
user is signed in, whatever address Stash uses for Plex.
"""

from __future__ import annotations

import os
import sqlite3

from queue.inbox import ACTIVE_STATES, FAILED, REVIEW, Inbox
from sync import db
from sync.ledger import RECREATED, Ledger
from sync.meta import PlexServerIdentity
from sync.state import SUCCESS, SyncState

MODE = "scene_status"
PLEX_WEB_ITEM = "https://app.plex.tv/desktop/#!/server/{server}/details?key=%2Flibrary%2Fmetadata%2F{key}"
# Sync states the page shows (the button's icon and tooltip).
SYNCED, QUEUED, NOT_SYNCED = "synced", "queued", "not_synced"


def plex_web_url(machine_identifier: str, rating_key: int) -> str:
    """Plex Web's page of one item (the key is ``/library/metadata/<rating key>``, URL-encoded)."""
    return PLEX_WEB_ITEM.format(server=machine_identifier, key=int(rating_key))


def scene_status(connection: dict, args: dict) -> tuple[dict | None, str | None]:
    """``(output, error)`` for the operation. The output: ``scene_id``; ``url`` (None, with
    ``no_link`` saying why, when the scene has no Plex item PlexSync knows of); ``state``
    (synced, queued, failed, review or not_synced) with ``detail`` (the waiting or failure
    reason) and ``synced_at`` (epoch seconds of the last successful sync)."""
    raw = args.get("scene_id")
    scene = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not scene.isdigit() or not scene.isascii():
        return None, f"scene_status needs scene_id, the Stash scene id (digits); got {raw!r}"
    path = os.path.join(db.data_dir_path(connection), db.DB_NAME)
    if not os.path.exists(path):  # nothing synced yet; do not create the database for a look
        return _answer(scene, None, "PlexSync has not synced any scene yet", NOT_SYNCED), None
    try:
        state = SyncState(path)
        try:
            return _read(scene, state), None
        finally:
            state.close()
    except (db.DatabaseError, sqlite3.DatabaseError) as exc:
        return None, str(db.explain(exc, path))


def _read(scene: str, state: SyncState) -> dict:
    conn = state.connection
    entry = Ledger(conn).get(int(scene))
    server = PlexServerIdentity(conn).get()
    row = Inbox(conn).get(int(scene))
    record = state.get(int(scene))
    synced_at = record.last_synced_at if record is not None and record.status == SUCCESS else None
    if row is not None and row.state in (FAILED, REVIEW):
        sync_state, detail = row.state, row.last_error
    elif row is not None and row.state in ACTIVE_STATES:
        sync_state, detail = QUEUED, row.last_error
    else:
        sync_state, detail = (SYNCED, None) if synced_at is not None else (NOT_SYNCED, None)
    if entry is None:
        url, no_link = None, "this scene is not synced to a Plex item yet"
    elif entry.drift == RECREATED:
        url, no_link = None, "the scene's Plex item was replaced; the next sync binds the new one"
    elif server is None:
        url, no_link = None, "no task has connected to Plex since this release was installed"
    else:
        url, no_link = plex_web_url(server, entry.rating_key), None
    return _answer(scene, url, no_link, sync_state, detail, synced_at)


def _answer(scene: str, url: str | None, no_link: str | None, state: str, detail: str | None = None,
            synced_at: float | None = None) -> dict:
    answer: dict = {"scene_id": scene, "url": url, "state": state, "detail": detail, "synced_at": synced_at}
    if url is None:
        answer["no_link"] = no_link
    return answer
