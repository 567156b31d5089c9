"""From a Stash scene to one Plex edit: the desired state, the diff, and the single PUT.

The writer is where "Stash wins" is made precise:

* The desired state comes from ``plex.mapping`` (the scene alone, cleaned), so its hash tells the
  worker whether anything Plex-relevant changed since the last successful write.
* It is compared with the item's current values first; an item already equal to Stash (and
  locked) costs no write at all.
* Everything that differs goes into ONE ``PUT /library/sections/{id}/all`` (plexapi's
  ``item.edit``), with every written field locked so an agent refresh cannot undo it.
* Lists (genres, actors, collections) are written as the complete desired list plus explicit
  ``{tag}[].tag.tag-=`` removals for names Plex has that Stash does not, and a name is never in
  both parts of one request. That is right whether the server merges indexed tags into the
  existing list or replaces the list with them (the Plex stand-in does either).
* With ``preserve_plex_edits`` only empty Plex fields and empty lists are filled.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from plex.mapping import SCALARS, TAGS, DesiredState

ALLOWED = {
    "movie": frozenset(SCALARS) | frozenset(TAGS),
    # Plex has no studio or genre on episodes (plexapi: no edit mixin for them).
    "episode": frozenset({"title", "summary", "originallyAvailableAt", "userRating", "actor", "collection"}),
}

# -- reading the item -----------------------------------------------------------------------


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


_TAG_ELEMENTS = {"Genre": "genre", "Role": "actor", "Collection": "collection"}


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
    for child in element:
        kind = _TAG_ELEMENTS.get(child.tag)
        if kind is not None:
            name = child.attrib.get("tag")
            if name:
                tags[kind].append(name)
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
    )


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any
    lock_only: bool = False

    def describe(self) -> str:
        if self.lock_only:
            return f"{self.field}: lock (value already {_show(self.new)})"
        if isinstance(self.new, list):
            old = set(self.old or [])
            new = set(self.new)
            added = [n for n in self.new if n not in old]
            removed = [o for o in self.old or [] if o not in new]
            parts = []
            if added:
                parts.append("+" + ", +".join(added))
            if removed:
                parts.append("-" + ", -".join(removed))
            return f"{self.field}: " + ("; ".join(parts) or "reorder")
        return f"{self.field}: {_show(self.old)} → {_show(self.new)}"


@dataclass
class Plan:
    """What one scene's write would change in one Plex item (also the dry-run report)."""

    scene_id: int
    rating_key: int
    item_type: str
    changes: list[FieldChange] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # preserve_plex_edits: non-empty fields left alone
    skipped: list[str] = field(default_factory=list)  # fields the item type cannot take
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_write(self) -> bool:
        return bool(self.params)

    def describe(self) -> list[str]:
        head = f"scene {self.scene_id} → Plex item {self.rating_key} ({self.item_type})"
        if not self.changes:
            return [f"{head}: up to date"]
        lines = [f"{head}: {len(self.changes)} change(s)"]
        lines += [f"    {change.describe()}" for change in self.changes]
        if self.kept:
            lines.append(f"    kept Plex's own (preserve_plex_edits): {', '.join(self.kept)}")
        return lines


def _show(value: Any, limit: int = 80) -> str:
    if value in (None, "", []):
        return "(empty)"
    text = repr(value) if not isinstance(value, list) else ", ".join(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _same_scalar(name: str, current: Any, wanted: Any) -> bool:
    if name == "userRating":
        if current in (None, "") or wanted in (None, ""):
            return current in (None, "") and wanted in (None, "")
        try:
            return abs(float(current) - float(wanted)) < 0.05
        except (TypeError, ValueError):
            return False
    return (current or "") == (wanted or "")


def _is_placeholder_title(title: str, files: tuple[str, ...]) -> bool:
    """Plex's title for an item no agent matched is derived from the file name."""
    if not title:
        return True
    wanted = _fold(title)
    for path in files:
        stem = os.path.splitext(path.replace("\\", "/").rsplit("/", 1)[-1])[0]
        if _fold(stem) == wanted:
            return True
    return False


def _fold(text: str) -> str:
    return " ".join(text.replace(".", " ").replace("_", " ").split()).casefold()


def _value_param(name: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if name == "userRating":
        return f"{float(value):.1f}"
    return str(value)


WRITE, KEEP, SKIP = "write", "keep", "skip"


def decide(*, same: bool, locked: bool, plex_empty: bool, stash_empty: bool,
           preserve_plex_edits: bool) -> str:
    """WRITE (value and lock), KEEP (Plex's differing value stays, reported) or SKIP (in sync).

    A field is in sync when its value equals Stash's AND it is locked (an unlocked value could be
    undone by the next agent refresh), except under ``preserve_plex_edits``, where PlexSync only
    fills empty fields and never locks what it did not write.
    """
    if preserve_plex_edits:
        if not plex_empty:
            return SKIP if same else KEEP
        return SKIP if same or stash_empty else WRITE
    return SKIP if same and locked else WRITE


def build_plan(desired: DesiredState, current: CurrentState, *, preserve_plex_edits: bool) -> Plan:
    """Diff the desired state against the item and build the edit parameters (see ``decide``)."""
    allowed = ALLOWED.get(current.item_type, ALLOWED["episode"])
    plan = Plan(desired.scene_id, current.rating_key, current.item_type)
    for name in (*SCALARS, *TAGS):
        if name not in desired.fields:
            continue
        if name not in allowed:
            plan.skipped.append(name)
        elif name in TAGS:
            _plan_list(plan, name, list(desired.fields[name]), list(current.tags.get(name, [])),
                       current, preserve_plex_edits)
        else:
            _plan_scalar(plan, name, desired.fields[name], current, preserve_plex_edits)
    return plan


def _plan_scalar(plan: Plan, name: str, wanted: Any, current: CurrentState, preserve: bool) -> None:
    have = current.scalars.get(name)
    same = _same_scalar(name, have, wanted)
    plex_empty = have in (None, "") or (name == "title" and _is_placeholder_title(have, current.files))
    verdict = decide(same=same, locked=name in current.locked, plex_empty=plex_empty,
                     stash_empty=wanted in (None, ""), preserve_plex_edits=preserve)
    if verdict == KEEP:
        plan.kept.append(name)
    if verdict != WRITE or (name == "title" and not wanted):
        return  # never blank a Plex title
    plan.params[f"{name}.value"] = _value_param(name, wanted)
    plan.params[f"{name}.locked"] = 1
    plan.changes.append(FieldChange(name, have, wanted, lock_only=same))


def _plan_list(plan: Plan, prefix: str, wanted: list[str], have: list[str], current: CurrentState,
               preserve: bool) -> None:
    same = set(wanted) == set(have)
    verdict = decide(same=same, locked=prefix in current.locked, plex_empty=not have,
                     stash_empty=not wanted, preserve_plex_edits=preserve)
    if verdict == KEEP:
        plan.kept.append(prefix)
    if verdict != WRITE:
        return
    plan.params.update(tag_params(prefix, wanted, have))
    plan.changes.append(FieldChange(prefix, have, wanted, lock_only=same))


def tag_params(prefix: str, wanted: list[str], have: list[str]) -> dict[str, Any]:
    """Edit parameters that leave exactly ``wanted`` in Plex, whatever the server's semantics.

    The full desired list as ``{p}[i].tag.tag`` (a merging server adds the missing ones, a
    replacing server sets the list) plus ``{p}[].tag.tag-`` for every current name Stash does not
    have (needed by a merging server, harmless for a replacing one). A name is never in both:
    removals are only names absent from ``wanted``. Removal names are quoted and comma-joined
    exactly as plexapi's own ``removeGenre`` does (the server splits, then unquotes each).
    """
    params: dict[str, Any] = {f"{prefix}.locked": 1}
    for index, name in enumerate(wanted):
        params[f"{prefix}[{index}].tag.tag"] = name
    wanted_set = set(wanted)
    removals = [name for name in dict.fromkeys(have) if name not in wanted_set]
    if removals:
        params[f"{prefix}[].tag.tag-"] = ",".join(quote(name) for name in removals)
    return params


def apply_plan(item: Any, plan: Plan) -> None:
    """Send the plan's parameters as one edit (plexapi ``item.edit``: one PUT, no reload)."""
    if plan.params:
        item.edit(**plan.params)


def poster_sha1(data: bytes) -> str:
    """The image's SHA-1: what Plex itself names an uploaded poster by."""
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - content fingerprint, not security
