"""A drain's Plex connection and path index, opened on first need.

A drain whose jobs are all unchanged never connects: zero Plex requests. The first job that needs
Plex pays for the connection (``GET /``) and the section check (``GET /library``,
``GET /library/sections``), once per drain; the index re-lists only changed sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plex.client import PlexSettings, call, connect
from plex.errors import PlexUnavailable
from plex.index import PlexIndex


class PlexSession:
    """One drain's (or one dry run's) Plex server object and path index."""

    def __init__(self, settings: PlexSettings, data_dir: Path | str, **timeouts: float) -> None:
        self.settings = settings
        self.data_dir = Path(data_dir)
        self.timeouts = timeouts
        self._server: Any = None
        self._index: PlexIndex | None = None

    @property
    def connected(self) -> bool:
        return self._server is not None

    @property
    def server(self) -> Any:
        """The plexapi server, connected and with the index brought up to date on first use."""
        if self._server is None:
            try:
                server = connect(self.settings, self.data_dir, **self.timeouts)
                index = PlexIndex(self.data_dir)
                try:
                    index.refresh(server, self.settings.libraries)
                except BaseException:
                    index.close()
                    raise
            except PlexUnavailable as exc:
                # A 5xx on the connection or the library listing is the server failing, not
                # this scene: an outage (no attempt counted), or a long one dead-letters scenes.
                exc.outage = True
                raise
            self._server, self._index = server, index
        return self._server

    @property
    def index(self) -> PlexIndex:
        self.server  # noqa: B018 - connects and refreshes the index on first use
        assert self._index is not None
        return self._index

    def fetch_item(self, rating_key: int) -> Any:
        """One GET of the item (``/library/metadata/{rk}``); PlexItemGone on 404."""
        server = self.server
        item = call(f"reading Plex item {rating_key}", server.fetchItem, int(rating_key))
        item._autoReload = False
        return item

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        if self._server is not None:
            try:
                self._server._session.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self._server = None
