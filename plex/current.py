"""What a Plex item holds now: read from one GET of the item, or, when the path index shows the
item unchanged since PlexSync's last write, taken from the ledger without asking Plex.

Actor photos are kept as hashes of their URLs: a URL PlexSync set may carry Stash's API key,
and the ledger (a file on disk) must never hold it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from plex.mapping import SCALARS, TAGS


def photo_hash(url: str) -> str:
    """How a photo URL is compared and remembered: its SHA-256."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CurrentState:
    """The item's values as Plex has them (from one GET of the item)."""

    rating_key: int
    item_type: str
    section_key: int | None
    scalars: dict[str, Any]
    tags: dict[str, list[str]]
    locked: frozenset[str]
    files: tuple[str, ...]
    has_thumb: bool
    photos: dict[str, str] = field(default_factory=dict)  # actor name -> SHA-256 of the photo URL
    updated_at: int | None = None
    from_ledger: bool = False  # built from what PlexSync wrote, without asking Plex


_TAG_ELEMENTS = {"Genre": "genre", "Role": "actor", "Collection": "collection", "Director": "director",
                 "Label": "label"}


def read_item(item: Any) -> CurrentState:
    """Read a fetched plexapi item without any request, in one pass over its XML element.

    plexapi's list attributes build an object per tag and may auto-reload a partial object when
    a list is empty; reading the element the item was built from does neither (and is what
    plexapi itself reads). Items without an element fall back to the attributes.
    """
    item._autoReload = False  # belt and braces: an empty attribute must not cost a GET
    element = getattr(item, "_data", None)
    if element is None:
        return _read_attributes(item)
    attrib = element.attrib
    tags: dict[str, list[str]] = {prefix: [] for prefix in TAGS}
    locked: set[str] = set()
    files: list[str] = []
    photos: dict[str, str] = {}
    for child in element:
        kind = _TAG_ELEMENTS.get(child.tag)
        if kind is not None:
            name = child.attrib.get("tag")
            if name:
                tags[kind].append(name)
                if kind == "actor" and child.attrib.get("thumb"):
                    photos[name] = photo_hash(child.attrib["thumb"])
        elif child.tag == "Field":
            if child.attrib.get("locked") in ("1", "true") and child.attrib.get("name"):
                locked.add(child.attrib["name"])
        elif child.tag == "Media":
            files.extend(p.attrib["file"] for p in child.iter("Part") if p.attrib.get("file"))
    rating = attrib.get("userRating")
    try:
        user_rating = float(rating) if rating not in (None, "") else None
    except ValueError:
        user_rating = None
    section = attrib.get("librarySectionID")
    return CurrentState(
        rating_key=int(attrib.get("ratingKey") or item.ratingKey),
        item_type=attrib.get("type") or item.type,
        section_key=int(section) if section and section.isdigit() else item.librarySectionID,
        scalars={
            "title": attrib.get("title") or "",
            "summary": attrib.get("summary") or "",
            "originallyAvailableAt": (attrib.get("originallyAvailableAt") or "")[:10],
            "studio": attrib.get("studio") or "",
            "userRating": user_rating,
        },
        tags=tags,
        locked=frozenset(locked),
        files=tuple(files),
        has_thumb=bool(attrib.get("thumb")),
        photos=photos,
        updated_at=int(attrib["updatedAt"]) if (attrib.get("updatedAt") or "").isdigit() else None,
    )


def _read_attributes(item: Any) -> CurrentState:
    date = getattr(item, "originallyAvailableAt", None)
    files = [part.file for media in getattr(item, "media", None) or [] for part in media.parts or [] if part.file]
    return CurrentState(
        rating_key=int(item.ratingKey),
        item_type=item.type,
        section_key=item.librarySectionID,
        scalars={
            "title": item.title or "",
            "summary": item.summary or "",
            "originallyAvailableAt": date.strftime("%Y-%m-%d") if date else "",
            "studio": getattr(item, "studio", None) or "",
            "userRating": item.userRating,
        },
        tags={prefix: [t.tag for t in getattr(item, attr, None) or [] if t.tag] for prefix, attr in TAGS.items()},
        locked=frozenset(f.name for f in item.fields if f.locked),
        files=tuple(files),
        has_thumb=bool(item.thumb),
        photos={r.tag: photo_hash(r.thumb) for r in getattr(item, "roles", None) or [] if r.tag and r.thumb},
    )


def from_ledger(rating_key: int, item_type: str, section_key: int | None, files: Iterable[str],
                written: dict[str, Any], photos: dict[str, str], updated_at: int | None) -> CurrentState:
    """The item as PlexSync left it: every written field holds its value and is locked (PlexSync
    locks what it writes), the photos are the ones it set. Only valid while the index shows the
    item's ``updatedAt`` unchanged since then, which the caller checks."""
    return CurrentState(
        rating_key=rating_key,
        item_type=item_type,
        section_key=section_key,
        scalars={name: written[name] for name in SCALARS if name in written},
        tags={prefix: list(written.get(prefix) or []) for prefix in TAGS},
        locked=frozenset(name for name in written if name in SCALARS or name in TAGS),
        files=tuple(files),
        has_thumb=True,
        photos=dict(photos),
        updated_at=updated_at,
        from_ledger=True,
    )
