"""Where PlexSync keeps its data, and the one setting a hook must know before it opens anything.

Standard library ``os`` only: ``hooks/triage.py`` asks this before the database is opened. An
organized toggle shows in Plex only while ``organized_label`` is set, and it is the commonest edit
Plex does not show, so the setting is an empty file in the data folder (a ``stat`` to read) rather
than a row in the database (opening it would cost the hook several times as much). Every task that
reads the settings keeps the file in step (worker/context.py).
"""

from __future__ import annotations

import os

ORGANIZED_LABEL_MARK = "organized_label.on"


def data_dir_of(server_connection: dict | None) -> str:
    """``$PLEXSYNC_DATA_DIR`` if set, else ``<PluginDir>/data``; not created here."""
    path = os.environ.get("PLEXSYNC_DATA_DIR")
    if path:
        return path
    plugin_dir = (server_connection or {}).get("PluginDir")
    base = plugin_dir or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(base, "data")


def organized_label_marked(data_dir: str) -> bool:
    """Did the last task find ``organized_label`` set? (False before any task ran.)"""
    return bool(data_dir) and os.path.exists(os.path.join(data_dir, ORGANIZED_LABEL_MARK))


def mark_organized_label(data_dir: str, on: bool) -> None:
    """Create or remove the mark; a stat only when it is already right."""
    path = os.path.join(data_dir, ORGANIZED_LABEL_MARK)
    if on == os.path.exists(path):
        return
    if on:
        with open(path, "w", encoding="utf-8") as mark:
            mark.write("organized_label is set: an organized toggle reaches Plex\n")
    else:
        os.remove(path)
