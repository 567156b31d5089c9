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
* With ``preserve_plex_edits`` PlexSync tells its own values from a person's by the ledger (what it
  last wrote): a field that still holds PlexSync's value follows Stash, one a person changed is
  kept, and a field PlexSync never wrote is filled only when empty.
* Labels are shared with people (sharing restrictions, smart collections): PlexSync adds the ones
  Stash wants and removes only those it put there itself (the ledger's ``label.own``), never a
  label someone set in Plex. A field in ``skip_fields`` is released: no longer written, its lock
  (PlexSync's) lifted once, and the ledger stops owning it; its value stays.
* Actor photos go with the actor list (``actor[i].tag.thumb``); Plex keeps one photo per person
  for the whole server, so one is set only where the actor has none or holds PlexSync's own. A
  person new to the item may have a photo from another item, which Plex shows only once they are
  on this one: their photos are planned again after the write (``Plan.photos_pending``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from plex.client import call
from plex.current import CurrentState, photo_hash
from plex.mapping import SCALARS, TAGS, DesiredState
from plex.rules import OWN_LABELS

ALLOWED = {
    "movie": frozenset(SCALARS) | frozenset(TAGS),
    # Plex has no studio or genre on episodes (plexapi: no edit mixin for them).
    "episode": frozenset({"title", "summary", "originallyAvailableAt", "userRating", "actor", "collection",
                          "director", "label"}),
}
SEARCH_TYPE = {"movie": 1, "show": 2, "season": 3, "episode": 4, "collection": 18}

# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any
    lock_only: bool = False
    unlock: bool = False  # released by skip_fields: PlexSync's lock lifted, value kept

    def describe(self) -> str:
        if self.unlock:
            return f"{self.field}: unlocked, left to Plex from now on (skip_fields)"
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
    kept: list[str] = field(default_factory=list)  # preserve_plex_edits: a person's values left alone
    skipped: list[str] = field(default_factory=list)  # fields the item type cannot take
    params: dict[str, Any] = field(default_factory=dict)
    photos: dict[str, str] = field(default_factory=dict)  # actor name -> photo URL sent
    photos_pending: list[str] = field(default_factory=list)  # new to the item: photo unknown until written
    in_plex: dict[str, Any] = field(default_factory=dict)  # field -> Stash's value, locked in Plex afterwards
    released: list[str] = field(default_factory=list)  # fields the ledger stops owning (skip_fields)

    @property
    def photo_hashes(self) -> dict[str, str]:
        """The photos this plan sends as Plex reports them back (the URL's hash), for the ledger."""
        return {name: photo_hash(url) for name, url in self.photos.items()}

    @property
    def needs_write(self) -> bool:
        return bool(self.params)

    def owned_after(self, before: dict[str, Any]) -> dict[str, Any]:
        """What the ledger holds as PlexSync's after this plan, from what it held before."""
        after = {**before, **self.in_plex}
        for name in self.released:
            after.pop(name, None)
            if name == "label":
                after.pop(OWN_LABELS, None)
        return after

    def describe(self) -> list[str]:
        head = f"scene {self.scene_id} → Plex item {self.rating_key} ({self.item_type})"
        if not self.changes:
            return [f"{head}: up to date"]
        lines = [f"{head}: {len(self.changes)} change(s)"]
        lines += [f"    {change.describe()}" for change in self.changes]
        if self.photos_pending:
            lines.append("    actor photos: +" + ", +".join(self.photos_pending)
                         + " (where Plex has no photo of them yet)")
        if self.kept:
            lines.append(f"    kept Plex's own (preserve_plex_edits): {', '.join(self.kept)}")
        return lines

    def followed_by(self, later: Plan) -> Plan:
        """This plan (already sent) and ``later``, planned on the item as this one left it: what
        the two did together, for the ledger and the report."""
        fields = {c.field for c in self.changes}
        return Plan(self.scene_id, self.rating_key, self.item_type,
                    changes=self.changes + [c for c in later.changes if c.field not in fields],
                    kept=later.kept, skipped=self.skipped, params={**self.params, **later.params},
                    photos={**self.photos, **later.photos}, in_plex={**self.in_plex, **later.in_plex},
                    released=sorted({*self.released, *later.released}))


def _show(value: Any, limit: int = 80) -> str:
    if value in (None, "", []):
        return "(empty)"
    text = repr(value) if not isinstance(value, list) else ", ".join(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def same_scalar(name: str, current: Any, wanted: Any) -> bool:
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
           preserve_plex_edits: bool, ours: bool | None = None) -> str:
    """WRITE (value and lock), KEEP (Plex's differing value stays, reported) or SKIP (in sync).

    A field is in sync when its value equals Stash's AND it is locked (an unlocked value could be
    undone by the next agent refresh). Under ``preserve_plex_edits``, ``ours`` says whether Plex
    still holds what PlexSync last wrote (True: it follows Stash like any field), a person's
    value (False: kept) or PlexSync never wrote the field (None: filled only when empty, and
    never locked when left alone).
    """
    if preserve_plex_edits and ours is not True:
        if ours is False or not plex_empty:
            return SKIP if same else KEEP
        return SKIP if same or stash_empty else WRITE
    return SKIP if same and locked else WRITE


def build_plan(desired: DesiredState, current: CurrentState, *, preserve_plex_edits: bool,
               written: dict[str, Any] | None = None, photos_set: dict[str, str] | None = None) -> Plan:
    """Diff the desired state against the item and build the edit parameters (see ``decide``).

    ``written`` is what PlexSync last wrote to this item (the ledger; None: unknown), and
    ``photos_set`` the hashes of the actor photos it set there.
    """
    allowed = ALLOWED.get(current.item_type, ALLOWED["episode"])
    plan = Plan(desired.scene_id, current.rating_key, current.item_type)
    for name in (*SCALARS, *TAGS):
        if name in desired.released:
            if name in allowed:
                _plan_release(plan, name, current, written)
            continue
        if name == "label" and name in allowed and (name in desired.fields or (written or {}).get(OWN_LABELS)):
            # With no label wanted, the ones PlexSync put there (if any) come off.
            _plan_labels(plan, list(desired.fields.get(name, [])), current, preserve_plex_edits, written)
            continue
        if name not in desired.fields:
            continue
        if name not in allowed:
            plan.skipped.append(name)
        elif name in TAGS:
            _plan_list(plan, name, list(desired.fields[name]), current, preserve_plex_edits, written)
        else:
            _plan_scalar(plan, name, desired.fields[name], current, preserve_plex_edits, written)
    if "actor" in allowed and "actor" in desired.fields:
        _plan_photos(plan, desired, current, photos_set or {})
    return plan


def _ours(name: str, have: Any, written: dict[str, Any] | None) -> bool | None:
    """Does Plex still hold what PlexSync last wrote to this field? None: it never wrote it."""
    if written is None or name not in written:
        return None
    if name in TAGS:
        return set(have or []) == set(written[name] or [])
    return same_scalar(name, have, written[name])


def _plan_scalar(plan: Plan, name: str, wanted: Any, current: CurrentState, preserve: bool,
                 written: dict[str, Any] | None) -> None:
    have = current.scalars.get(name)
    same = same_scalar(name, have, wanted)
    plex_empty = have in (None, "") or (name == "title" and _is_placeholder_title(have, current.files))
    verdict = decide(same=same, locked=name in current.locked, plex_empty=plex_empty,
                     stash_empty=wanted in (None, ""), preserve_plex_edits=preserve,
                     ours=_ours(name, have, written))
    if verdict == KEEP:
        plan.kept.append(name)
        return
    if verdict == SKIP:
        if same and name in current.locked:
            plan.in_plex[name] = wanted  # Stash's value, locked: PlexSync's from now on
        return
    if name == "title" and not wanted:
        return  # never blank a Plex title
    plan.params[f"{name}.value"] = _value_param(name, wanted)
    plan.params[f"{name}.locked"] = 1
    plan.in_plex[name] = wanted
    plan.changes.append(FieldChange(name, have, wanted, lock_only=same))


def _plan_list(plan: Plan, prefix: str, wanted: list[str], current: CurrentState, preserve: bool,
               written: dict[str, Any] | None) -> None:
    have = list(current.tags.get(prefix, []))
    same = set(wanted) == set(have)
    verdict = decide(same=same, locked=prefix in current.locked, plex_empty=not have,
                     stash_empty=not wanted, preserve_plex_edits=preserve,
                     ours=_ours(prefix, have, written))
    if verdict == KEEP:
        plan.kept.append(prefix)
        return
    if verdict == WRITE or (same and prefix in current.locked):
        plan.in_plex[prefix] = wanted  # Stash's list, locked: PlexSync's from now on
    if verdict == WRITE:
        plan.params.update(tag_params(prefix, wanted, have))
        plan.changes.append(FieldChange(prefix, have, wanted, lock_only=same))


def _plan_labels(plan: Plan, wanted: list[str], current: CurrentState, preserve: bool,
                 written: dict[str, Any] | None) -> None:
    """Labels: Stash's are added, those PlexSync put there and Stash no longer wants removed, and
    every other label (a person's) stays. The ledger records the whole list left on the item
    (``label``, for the next comparison) and which of it is PlexSync's (``label.own``); a label
    that was there before PlexSync wanted it is never counted as PlexSync's."""
    have = list(current.tags.get("label", []))
    own_before = list((written or {}).get(OWN_LABELS) or [])
    drop = {name for name in own_before if name not in wanted}
    result = [name for name in have if name not in drop] + [name for name in wanted if name not in have]
    own_after = [name for name in wanted if name in own_before or name not in have]
    if not own_after and not drop:
        plan.in_plex["label"], plan.in_plex[OWN_LABELS] = have, []  # all of them a person's
        return
    same = set(result) == set(have)
    verdict = decide(same=same, locked="label" in current.locked, plex_empty=True, stash_empty=not wanted,
                     preserve_plex_edits=preserve, ours=_ours("label", have, written))
    if verdict == KEEP:
        plan.kept.append("label")
        return
    if verdict == WRITE or (same and "label" in current.locked):
        plan.in_plex["label"], plan.in_plex[OWN_LABELS] = result, own_after
    if verdict == WRITE:
        plan.params.update(tag_params("label", result, have))
        plan.changes.append(FieldChange("label", have, result, lock_only=same))


def _plan_release(plan: Plan, name: str, current: CurrentState, written: dict[str, Any] | None) -> None:
    """A field the user gave to Plex (skip_fields): the ledger stops owning it; its lock, when
    PlexSync set it and the value is still PlexSync's, is lifted so Plex's agent can refresh it."""
    if written is None or name not in written:
        return
    plan.released.append(name)
    have = current.tags.get(name, []) if name in TAGS else current.scalars.get(name)
    if name in current.locked and _ours(name, have, written):
        plan.params[f"{name}.locked"] = 0
        plan.changes.append(FieldChange(name, have, have, unlock=True))


def _plan_photos(plan: Plan, desired: DesiredState, current: CurrentState, photos_set: dict[str, str]) -> None:
    """Photos for the actors Plex gets: only where the person has none, or holds the one
    PlexSync set (or this very URL). They travel with the actor list, which is then sent even if
    it is unchanged. A person not on the item yet may have a photo from another item, which this
    item shows only once they are on it: pending, planned again after the write."""
    if "actor" in plan.kept:
        return
    actors = plan.in_plex.get("actor", [])
    wanted = {name: url for name, url in desired.photos.items() if name in actors}
    on_item = set(current.tags.get("actor", []))
    changed = []
    for name, url in wanted.items():
        if name not in on_item:
            plan.photos_pending.append(name)
            continue
        have = current.photos.get(name)
        if have is not None and have not in (photo_hash(url), photos_set.get(name)):
            continue  # someone else's photo for this person (by hand, or another tool): kept
        plan.photos[name] = url
        if have != photo_hash(url):
            changed.append(name)
    if not changed:
        return
    if not any(c.field == "actor" for c in plan.changes):
        plan.params.update(tag_params("actor", actors, list(current.tags.get("actor", []))))
        plan.changes.append(FieldChange("actor", actors, actors, lock_only=True))
    for index, name in enumerate(actors):
        if name in plan.photos:
            plan.params[f"actor[{index}].tag.thumb"] = plan.photos[name]
    plan.changes.append(FieldChange("actor photos", None, sorted(changed)))


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


def edit_path(section_key: int, item_type: str, rating_key: int, params: dict[str, Any]) -> str:
    """The edit request plexapi's ``item.edit`` sends (``PUT /library/sections/{id}/all?...``),
    built without fetching the item first."""
    from plexapi import utils

    args = {**params, "id": str(rating_key), "type": SEARCH_TYPE.get(item_type, 1)}
    return f"/library/sections/{section_key}/all{utils.joinArgs(args)}"


def send_plan(server: Any, plan: Plan, section_key: int) -> None:
    """Send the plan's parameters as ONE edit request (no reload)."""
    if plan.params:
        path = edit_path(section_key, plan.item_type, plan.rating_key, plan.params)
        call(f"writing scene {plan.scene_id} to Plex item {plan.rating_key}",
             server.query, path, method=server._session.put)


def upload_poster(server: Any, rating_key: int, data: bytes) -> None:
    """Upload an image as the item's poster (what plexapi's ``uploadPoster`` sends)."""
    call(f"uploading the poster of Plex item {rating_key}", server.query,
         f"/library/metadata/{int(rating_key)}/posters", method=server._session.post, data=data)


def poster_sha1(data: bytes) -> str:
    """The image's SHA-1: what Plex itself names an uploaded poster by."""
    return hashlib.sha1(data).hexdigest()  # noqa: S324 - content fingerprint, not security
