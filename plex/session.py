"""A drain's (or a dry run's) Plex: the HTTP client, the path index and the plexapi server, each
opened on first need.

A drain whose jobs are all unchanged never contacts Plex for them. Matching needs the index: one
``GET /library/sections`` and a listing of what changed, once per drain. Reading an item or
writing one needs plexapi's server (one ``GET /``), once per drain. The end-of-drain check for
edits made in Plex lists only what changed (``check_changes``), without either of those.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from plex.client import PlexSettings, call, connect
from plex.current import CurrentState, read_item
from plex.errors import PlexUnavailable
from plex.http import PlexHttp
from plex.index import OnListed, PlexIndex
from plex.sections import SectionInfo
from plex.writer import Plan, send_plan, upload_poster

SCAN_ACTIVITY = "library.update.section"


class PlexSession:
    """One drain's view of one Plex server."""

    def __init__(self, settings: PlexSettings, data_dir: Path | str, *, on_listed: OnListed | None = None,
                 on_connected: Callable[[str], None] | None = None, **timeouts: float) -> None:
        self.settings = settings
        self.data_dir = Path(data_dir)
        self.timeouts = timeouts
        self.on_listed = on_listed
        # Told the server's machineIdentifier once plexapi has connected (it costs no request:
        # the connection's own GET / carries it).
        self.on_connected = on_connected
        self._http: PlexHttp | None = None
        self._server: Any = None
        self._index: PlexIndex | None = None
        self._refreshed = False

    @property
    def connected(self) -> bool:
        """Whether anything was asked of Plex yet (a drain of unchanged scenes never is)."""
        return self._http is not None

    @property
    def http(self) -> PlexHttp:
        if self._http is None:
            self._http = PlexHttp(self.settings, self.data_dir, **self.timeouts)
        return self._http

    @property
    def index(self) -> PlexIndex:
        """The path index, brought up to date on first use in this session."""
        index = self._open_index()
        if not self._refreshed:
            self._as_outage(index.refresh, self.http, self.settings.libraries)
            self._refreshed = True
        return index

    def _open_index(self) -> PlexIndex:
        if self._index is None:
            self._index = PlexIndex(self.data_dir, on_listed=self.on_listed)
        return self._index

    @property
    def server(self) -> Any:
        """plexapi's server, for reading and writing items (connected on first use)."""
        if self._server is None:
            self._server = self._as_outage(connect, self.settings, self.data_dir, **self.timeouts)
            if self.on_connected is not None:
                self.on_connected(str(getattr(self._server, "machineIdentifier", None) or ""))
        return self._server

    @staticmethod
    def _as_outage(operation: Any, *args: Any) -> Any:
        """A 5xx while connecting or listing is the server failing, not a scene: an outage (no
        attempt counted), or a long one would dead-letter scenes."""
        try:
            return operation(*args)
        except PlexUnavailable as exc:
            exc.outage = True
            raise

    def check_changes(self) -> int:
        """List what changed in Plex since the last look (one request per indexed library)."""
        return self._as_outage(self._open_index().check_changes, self.http)

    def indexed_sections(self) -> list[SectionInfo]:
        """The libraries the path index lists (no request)."""
        return self._open_index().indexed_sections()

    def fetch(self, rating_key: int) -> CurrentState:
        """One GET of the item (``/library/metadata/{rk}``); PlexItemGone on 404."""
        item = call(f"reading Plex item {rating_key}", self.server.fetchItem, int(rating_key))
        item._autoReload = False
        return read_item(item)

    def write(self, plan: Plan, section_key: int) -> None:
        """The plan as one edit request."""
        send_plan(self.server, plan, section_key)

    def upload_poster(self, rating_key: int, data: bytes) -> None:
        upload_poster(self.server, rating_key, data)

    def request_scan(self, section_key: int, folder: str) -> None:
        """Ask Plex to scan one folder of a library (returns at once; the scan runs in Plex).

        The request plexapi's ``LibrarySection.update(path=...)`` sends.
        """
        self.http.query(f"/library/sections/{int(section_key)}/refresh?path={quote(folder, safe='')}",
                        what=f"asking Plex to scan {folder}")

    def scanning_sections(self) -> set[int]:
        """Libraries with a scan running now, from ``/activities``."""
        container = self.http.query("/activities", what="asking Plex which scans are running")
        running: set[int] = set()
        for activity in container if container is not None else ():
            if activity.attrib.get("type") != SCAN_ACTIVITY:
                continue
            for context in activity.iter("Context"):
                section = context.attrib.get("librarySectionID", "")
                if section.isdigit():
                    running.add(int(section))
        return running

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
        if self._http is not None:
            self._http.close()
            self._http = None
