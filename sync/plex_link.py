"""The scene page's *Open in Plex* link, answered from PlexSync's own database.

PlexSync.js asks for it with ``runPluginOperation`` every time a scene page opens, and Stash
waits for the plugin process before it answers the page, so this path is like a hook's: standard
library only, no request to Plex or Stash, no write. The ledger knows which Plex item the scene
is bound to; the server's ``machineIdentifier`` was recorded by the last task that connected to
Plex (``sync.meta.PlexServerIdentity``). Plex Web opens an item from those two alone, wherever
the user is signed in, whatever address Stash uses for Plex.
"""

from __future__ import annotations

import os
import sqlite3

from sync import db
from sync.ledger import RECREATED, Ledger
from sync.meta import PlexServerIdentity

MODE = "plex_link"
PLEX_WEB_ITEM = "https://app.plex.tv/desktop/#!/server/{server}/details?key=%2Flibrary%2Fmetadata%2F{key}"


def plex_web_url(machine_identifier: str, rating_key: int) -> str:
    """Plex Web's page of one item (the key is ``/library/metadata/<rating key>``, URL-encoded)."""
    return PLEX_WEB_ITEM.format(server=machine_identifier, key=int(rating_key))


def plex_link(connection: dict, args: dict) -> tuple[dict | None, str | None]:
    """``(output, error)`` for the operation: ``{"scene_id", "url"}``, where ``url`` is None and
    ``reason`` says why when the scene has no Plex item PlexSync knows of."""
    raw = args.get("scene_id")
    scene = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not scene.isdigit() or not scene.isascii():
        return None, f"plex_link needs scene_id, the Stash scene id (digits); got {raw!r}"
    path = os.path.join(db.data_dir_path(connection), db.DB_NAME)
    if not os.path.exists(path):  # nothing synced yet; do not create the database for a look
        return _none(scene, "PlexSync has not synced any scene yet"), None
    try:
        conn = db.connect(path)
        try:
            entry = Ledger(conn).get(int(scene))
            server = PlexServerIdentity(conn).get()
        finally:
            conn.close()
    except (db.DatabaseError, sqlite3.DatabaseError) as exc:
        return None, str(db.explain(exc, path))
    if entry is None:
        return _none(scene, "this scene is not synced to a Plex item yet"), None
    if entry.drift == RECREATED:
        return _none(scene, "the scene's Plex item was replaced; the next sync binds the new one"), None
    if server is None:
        return _none(scene, "no task has connected to Plex since this release was installed"), None
    return {"scene_id": scene, "url": plex_web_url(server, entry.rating_key)}, None


def _none(scene: str, reason: str) -> dict:
    return {"scene_id": scene, "url": None, "reason": reason}
