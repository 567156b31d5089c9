"""The user's choices about what Plex shows: fields PlexSync leaves alone, tags that never reach
Plex, tags that become labels, the organized label and studio collections.

Tag choices name tags, but a tag's place in Stash's hierarchy decides its role: every tag below a
named one (at any depth) shares its role, so moving a tag under an excluded parent excludes it.
The hierarchy is read once per task (``resolve_tag_roles``, ``resolve_studio_chains``); mapping a
scene is then a dictionary lookup per tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# skip_fields names (what the settings page shows) -> the Plex field PlexSync writes.
SKIPPABLE: dict[str, str] = {
    "title": "title", "summary": "summary", "date": "originallyAvailableAt", "studio": "studio",
    "actors": "actor", "genres": "genre", "labels": "label", "collections": "collection",
    "rating": "userRating", "poster": "poster", "director": "director",
}
EXCLUDE, LABEL = "exclude", "label"
# The ledger's record of which labels PlexSync put on an item (``written[OWN_LABELS]``): labels are
# shared with people (sharing restrictions, smart collections), so only these are ever removed.
OWN_LABELS = "label.own"


def name_key(name: object) -> str:
    """How a tag named in the settings is compared with Stash's names: case and runs of spaces
    do not matter."""
    return " ".join(str(name or "").split()).casefold()


def split_names(text: str) -> list[str]:
    """Comma-separated names, trimmed, empty ones and case-insensitive repeats dropped."""
    found: list[str] = []
    seen: set[str] = set()
    for raw in text.split(","):
        name, key = " ".join(raw.split()), name_key(raw)
        if name and key not in seen:
            seen.add(key)
            found.append(name)
    return found


def parse_skip_fields(text: str) -> frozenset[str]:
    """The Plex fields named by ``skip_fields``; ValueError naming the allowed names otherwise."""
    names = split_names(text)
    unknown = [name for name in names if name.casefold() not in SKIPPABLE]
    if unknown:
        raise ValueError(f"names {', '.join(repr(n) for n in unknown)}, which PlexSync does not know; "
                         f"use any of: {', '.join(SKIPPABLE)} (comma-separated)")
    return frozenset(SKIPPABLE[name.casefold()] for name in names)


@dataclass(frozen=True)
class MappingRules:
    """Everything the settings change about a scene's Plex values, resolved against Stash."""

    skip: frozenset[str] = frozenset()  # Plex fields (and "poster") PlexSync leaves to Plex
    tag_roles: Mapping[str, str] = field(default_factory=dict)  # Stash tag id -> EXCLUDE or LABEL
    organized_label: str = ""
    # studio id -> its name and its parents' names, nearest first; None: studio_collections off
    studio_chains: Mapping[str, tuple[str, ...]] | None = None

    def split_tags(self, tags: Iterable[Any]) -> tuple[list[Any], list[Any]]:
        """The scene's tag names as (genres, labels); excluded tags are in neither."""
        genres: list[Any] = []
        labels: list[Any] = []
        for tag in tags:
            if not isinstance(tag, dict):
                continue
            role = self.tag_roles.get(str(tag.get("id")))
            if role == EXCLUDE:
                continue
            (labels if role == LABEL else genres).append(tag.get("name"))
        return genres, labels

    def studio_collections(self, studio: Any) -> list[Any]:
        """The scene's studio and each studio above it, as collection names (none when off)."""
        if self.studio_chains is None or not isinstance(studio, dict):
            return []
        return list(self.studio_chains.get(str(studio.get("id")), (studio.get("name"),)))


NO_RULES = MappingRules()


def resolve_tag_roles(tags: Iterable[dict[str, Any]], excluded: Iterable[str],
                      labelled: Iterable[str]) -> dict[str, str]:
    """Tag id -> role for every tag at or below a named one (a name Stash has no tag for: none).

    ``tags`` is Stash's whole tag list with each tag's parents. Names match case-insensitively;
    an excluded tree wins over a label tree (a tag below both never reaches Plex).
    """
    by_name: dict[str, list[str]] = {}
    children: dict[str, list[str]] = {}
    for tag in tags:
        tag_id = str(tag["id"])
        by_name.setdefault(name_key(tag.get("name")), []).append(tag_id)
        for parent in tag.get("parents") or ():
            children.setdefault(str(parent["id"]), []).append(tag_id)
    roles: dict[str, str] = {}
    for role, names in ((LABEL, labelled), (EXCLUDE, excluded)):  # EXCLUDE last: it wins
        for name in names:
            for tag_id in _below(by_name.get(name_key(name), []), children):
                roles[tag_id] = role
    return roles


def resolve_studio_chains(studios: Iterable[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    """Studio id -> (its name, its parent's name, ...): the collections studio_collections adds."""
    parent_of: dict[str, str | None] = {}
    name_of: dict[str, str] = {}
    for studio in studios:
        studio_id = str(studio["id"])
        name_of[studio_id] = str(studio.get("name") or "")
        parent = studio.get("parent_studio")
        parent_of[studio_id] = str(parent["id"]) if isinstance(parent, dict) else None
    chains: dict[str, tuple[str, ...]] = {}
    for studio_id in name_of:
        chain: list[str] = []
        seen: set[str] = set()
        current: str | None = studio_id
        while current is not None and current in name_of and current not in seen:  # a cycle ends it
            seen.add(current)
            chain.append(name_of[current])
            current = parent_of.get(current)
        chains[studio_id] = tuple(chain)
    return chains


def _below(roots: list[str], children: dict[str, list[str]]) -> set[str]:
    found = set(roots)
    frontier = list(roots)
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found
