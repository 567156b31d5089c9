"""A library's collections, and the two edits that make one look like its Stash group.

Plex makes a collection item (type 18) the first time an item carries the collection tag, so the
scene writes create them; PlexSync then gives the item its group's synopsis (an edit of type 18,
``PUT /library/sections/{id}/all?type=18&id=..&summary.value=..``) and front image (an upload to
``/library/metadata/{collection}/posters``), once per collection rather than once per scene.
"""

from __future__ import annotations

from collections import namedtuple

from plex.http import PlexHttp
from plex.writer import edit_path

PAGE_SIZE = 1000

ListedCollection = namedtuple("ListedCollection", "rating_key title summary")


def list_collections(http: PlexHttp, section_key: int) -> dict[str, ListedCollection]:
    """Every collection of one library by title (``/library/sections/{id}/collections``, paged)."""
    found: dict[str, ListedCollection] = {}
    start = 0
    while True:
        container = http.query(
            f"/library/sections/{int(section_key)}/collections",
            headers={"X-Plex-Container-Start": str(start), "X-Plex-Container-Size": str(PAGE_SIZE)},
            what=f"listing the collections of Plex library {section_key}",
        )
        rows = [d for d in container if d.tag == "Directory"] if container is not None else []
        for row in rows:
            key = row.attrib.get("ratingKey", "")
            title = row.attrib.get("title")
            if key.isdigit() and title:
                found[title] = ListedCollection(int(key), title, row.attrib.get("summary") or "")
        start += len(rows)
        total = int((container.attrib.get("totalSize") if container is not None else None) or start)
        if not rows or start >= total:
            return found


def write_summary(http: PlexHttp, section_key: int, rating_key: int, summary: str) -> None:
    """Set (and lock) the collection's summary: one edit request."""
    path = edit_path(section_key, "collection", rating_key, {"summary.value": summary, "summary.locked": 1})
    http.query(path, method="PUT", what=f"writing the summary of Plex collection {rating_key}")


def upload_poster(http: PlexHttp, rating_key: int, data: bytes) -> None:
    """Upload an image as the collection's poster (Plex selects and locks it)."""
    http.query(f"/library/metadata/{int(rating_key)}/posters", method="POST", data=data,
               what=f"uploading the poster of Plex collection {rating_key}")
