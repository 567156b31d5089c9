"""Play state on the Plex side, spoken over the raw HTTP client: the requests the watch-state
exchange makes, and nothing else.

Plex keeps play state per account; every request here carries the plex_token, so what it reads
and changes is that account's (the server owner's: PlexSync needs an owner token anyway).

* ``played_since``: one library listing filtered on ``lastViewedAt>>=`` (strictly after, like
  Plex's date filters) carrying each item's ``viewCount``, ``lastViewedAt`` and ``viewOffset``;
  with no ``since`` the whole library (the first look, which only counts).
* ``history_since``: the play history, one entry per completed play with its own time
  (``/status/sessions/history/all``, owner only, filtered to the owner's local account 1 as
  plexapi's ``MyPlexAccount.history`` does on an owned server).
* ``scrobble``, ``set_progress``, ``item_state``: mark one play, set the resume point, read one item.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from plex.errors import PlexItemGone
from plex.http import PlexHttp
from plex.sections import LISTING_TYPE, SectionInfo

PAGE_SIZE = 1000
HISTORY_PAGES = 20  # at most 20,000 history entries read per look
OWNER_ACCOUNT = 1
IDENTIFIER = "com.plexapp.plugins.library"

# The owner's state of one item: completed plays, unix time of the last one, resume point (ms).
PlayState = namedtuple("PlayState", "rating_key views last_viewed offset_ms")


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _state(element: Any) -> PlayState | None:
    key = _int(element.attrib.get("ratingKey"))
    if key is None:
        return None
    attrib = element.attrib
    return PlayState(key, _int(attrib.get("viewCount")) or 0, _int(attrib.get("lastViewedAt")),
                     _int(attrib.get("viewOffset")) or 0)


def _pages(http: PlexHttp, path: str, what: str, limit: int | None = None) -> Iterator[Any]:
    """The elements of a paged container, page by page (paging in the headers, as plexapi does)."""
    start = 0
    pages = 0
    while limit is None or pages < limit:
        headers = {"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(PAGE_SIZE)}
        container = http.query(path, headers=headers, what=what)
        pages += 1
        if container is None:
            return
        elements = list(container)
        yield from elements
        start += len(elements)
        total = container.attrib.get("totalSize") or container.attrib.get("size")
        if not elements or total is None or start >= int(total):
            return


def played_since(http: PlexHttp, section: SectionInfo, since: int | None) -> list[PlayState]:
    """Items of one library whose ``lastViewedAt`` is after ``since`` (every item when None)."""
    listing_type = LISTING_TYPE.get(section.type)
    if listing_type is None:
        return []
    path = f"/library/sections/{int(section.key)}/all?type={listing_type}&includeGuids=0"
    if since is not None:
        path += f"&lastViewedAt>>={int(since)}"
    found = []
    for element in _pages(http, path, f"listing what was played in Plex library '{section.title}'"):
        state = _state(element)
        if state is not None:
            found.append(state)
    return found


def history_since(http: PlexHttp, since: int) -> dict[int, list[int]]:
    """Item → the times of the owner's completed plays since ``since`` (inclusive), newest first."""
    path = f"/status/sessions/history/all?sort=viewedAt:desc&accountID={OWNER_ACCOUNT}&viewedAt>={int(since)}"
    found: dict[int, list[int]] = {}
    for element in _pages(http, path, "reading Plex's play history", HISTORY_PAGES):
        key = _int(element.attrib.get("ratingKey"))
        viewed = _int(element.attrib.get("viewedAt"))
        if key is not None and viewed is not None:
            found.setdefault(key, []).append(viewed)
    return found


def item_state(http: PlexHttp, rating_key: int) -> PlayState | None:
    """One item's state (``GET /library/metadata/{rk}``), None when it is gone."""
    try:
        container = http.query(f"/library/metadata/{int(rating_key)}", what=f"reading Plex item {rating_key}")
    except PlexItemGone:
        return None
    for element in container if container is not None else ():
        state = _state(element)
        if state is not None:
            return state
    return None


def scrobble(http: PlexHttp, rating_key: int) -> None:
    """Mark one play of the item (plexapi ``markPlayed``): ``viewCount`` + 1."""
    http.query(f"/:/scrobble?key={int(rating_key)}&identifier={quote(IDENTIFIER)}",
               what=f"marking Plex item {rating_key} played", once=True)


def set_progress(http: PlexHttp, rating_key: int, offset_ms: int) -> None:
    """Set the item's resume point (plexapi ``updateProgress``; 0 cannot be set this way)."""
    http.query(f"/:/progress?key={int(rating_key)}&identifier={quote(IDENTIFIER)}"
               f"&time={int(offset_ms)}&state=stopped", what=f"setting the resume point of Plex item {rating_key}")
