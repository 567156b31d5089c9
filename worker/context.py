"""What every task needs: where the data lives, how to reach Stash, and the validated settings.

Settings are loaded on first use, so tasks that need no Plex (status) still run when the
settings are wrong, and tell the user what is wrong.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stash import protocol, queries
from stash.graphql import StashClient
from sync import db
from sync.state import SyncState

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig


def truthy_arg(value: object) -> bool:
    """Task args from defaultArgs arrive as strings ("true"); from args_map they may be booleans."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


class TaskContext:
    def __init__(self, server_connection: dict, args: dict[str, Any], *, data_dir: Path | None = None) -> None:
        self.server_connection = server_connection
        self.args = args
        self.data_dir = data_dir or db.data_dir_for(server_connection)
        self.db_path = self.data_dir / db.DB_NAME
        self.stash = StashClient(server_connection, timeout=30.0)
        self._config: PlexSyncConfig | None = None
        self._sync_state: SyncState | None = None

    @property
    def dry_run(self) -> bool:
        return truthy_arg(self.args.get("dry_run", False))

    @property
    def requested_by_hook(self) -> bool:
        """A drain a hook asked for (``queries.HOOK_DRAIN_ARGS``); any other run was started by a
        person (the Tasks page sends the manifest's defaultArgs only) or a sync task."""
        return self.args.get("requested_by") == queries.HOOK_DRAIN_ARGS["requested_by"]

    @property
    def sync_state(self) -> SyncState:
        if self._sync_state is None:
            self._sync_state = SyncState(str(self.db_path))
        return self._sync_state

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection to the plugin database."""
        return self.sync_state.connection

    @property
    def config(self) -> PlexSyncConfig:
        """Validated settings; raises validation.settings.ConfigError with a clear message."""
        if self._config is None:
            from sync.meta import HookFlags
            from sync.paths import mark_organized_label
            from validation.settings import build_config, load_settings

            self._config = build_config(load_settings(self.stash))
            try:
                flags = self._config.hook_flags  # what the hooks must watch for
                HookFlags(self.conn).save(flags)
                mark_organized_label(str(self.data_dir), flags["organized"])
            except (sqlite3.Error, db.DatabaseError, OSError) as exc:  # the task reports the database itself
                protocol.debug(f"could not note the settings for the hooks: {exc}")
        return self._config

    def close(self) -> None:
        if self._sync_state is not None:
            self._sync_state.close()
            self._sync_state = None
