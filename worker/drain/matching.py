"""Finding the Plex item a scene is written to, from the path index alone (no Plex request).

Exact mapped path first, else file name (``plex.matcher``). One exact candidate is HIGH. A match
by file name is HIGH only if the name is unique on both sides: one Plex item with that file name,
and no other Stash scene with a file of that name (asked of Stash): otherwise editing a new
``/videos/2024/clip.mp4`` Plex has not scanned yet would overwrite the item of
``/videos/2019/clip.mp4``. LOW confidence follows ``strict_matching``. A stale index is re-listed
at most once per drain.

A file whose mapped path lies in a library folder but that no item holds at that path is not in
Plex yet (new, or moved): Plex is asked to scan its folder (``NotInPlexYet``), and matching by
file name is not tried, since the name may be another file's. Matching by name is for files
that lie in no library folder (Stash and Plex see the library under roots that ``path_map`` does
not map); a file that matches nothing there is parked at once, with the locations named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from plex.index import basename_key
from plex.mapping import DesiredState
from plex.matcher import (
    Candidate,
    MatchConfidence,
    best_candidate,
    exact_candidates,
    name_candidates,
    score_match_confidence,
    shared_tail,
)
from plex.pathmap import PathMap
from plex.sections import describe_locations, folder_of, holding_location
from plex.session import PlexSession
from queue.inbox import FAILED, REVIEW
from stash import protocol, queries
from stash.graphql import StashClient
from stash.paging import pages
from worker.drain import retry
from worker.drain.outcomes import Park, RetryLater

# Other Stash scenes holding a file of a given name: (scene id, path) pairs.
NameOwners = Callable[[int, str], list[tuple[int, str]]]
NAME_PAGE = 100


def name_pattern(name: str) -> str:
    """What to ask Stash for to find every file called ``name`` as the match by file name compares
    names (case-insensitively). Stash's ``EQUALS`` is SQL ``LIKE``, which folds the case of ASCII
    letters only: a non-ASCII letter that has a case becomes ``_`` (any one character), so that
    ``Été_1.mp4`` is found for ``été_1.mp4``. ``_`` and ``%`` in the name are wildcards already."""
    return "".join("_" if not char.isascii() and char.lower() != char.upper() else char for char in name)


def scenes_with_file_name(stash: StashClient, name: str) -> list[tuple[int, str]]:
    """Stash scenes with a file called ``name`` (a ``basename_key``), and those files' paths.

    Stash answers a superset (``clip_1.mp4`` brings ``clipA1.mp4`` too), read to its last page:
    the names are compared here, exactly as the index compares them."""
    owners = []
    for scenes, _count, _page in pages(stash, queries.SCENES_WITH_FILE_NAME, {"name": name_pattern(name)},
                                       "findScenes", "scenes", per_page=NAME_PAGE):
        for scene in scenes:
            for file in scene.get("files") or []:
                if basename_key(str(file.get("path") or "")) == name:
                    owners.append((int(scene["id"]), str(file["path"])))
    return owners


@dataclass(frozen=True)
class Target:
    """The item a scene is written to, as the index knows it."""

    rating_key: int
    section_key: int
    item_type: str
    plex_path: str  # the scene's file as Plex names it (through path_map)
    matched_file: str  # the item's file that matched
    matched_by: str  # "path" or "basename"
    updated_at: int | None  # the item's updatedAt in the index


class NotInPlexYet(Exception):
    """The scene's file lies in a library folder but no item holds it: Plex must scan it."""

    def __init__(self, section_key: int, folder: str, plex_path: str, same_name: tuple[str, ...] = ()) -> None:
        super().__init__(f"Plex has no item for {plex_path} yet")
        self.section_key = section_key
        self.folder = folder
        self.plex_path = plex_path
        self.same_name = same_name  # Plex files elsewhere with the same name: a hint, never a match


class ItemFinder:
    """Matches scenes to Plex items for one drain (one Plex session, one set of settings)."""

    def __init__(self, plex: PlexSession, path_map: PathMap, *, strict_matching: bool,
                 name_owners: NameOwners) -> None:
        self.plex = plex
        self.path_map = path_map
        self.strict_matching = strict_matching
        self.name_owners = name_owners
        self._owners: dict[tuple[int, str], list[tuple[int, str]]] = {}

    def find(self, scene_id: int, desired: DesiredState) -> Target:
        """The item for the scene; raises NotInPlexYet, RetryLater or Park."""
        self._owners.clear()  # Stash may have changed since the last scene
        index = self.plex.index
        for attempt in range(2):
            candidates = exact_candidates(index, desired.files, self.path_map)
            held = None if candidates else self._library_folder(desired)
            if not candidates and held is None:
                candidates = name_candidates(index, desired.files, self.path_map)
            if not candidates:
                if attempt == 0 and index.refresh_after_miss(self.plex.http):
                    continue
                if held is not None:
                    held.same_name = tuple(c.display_path for c in name_candidates(index, desired.files, self.path_map))
                    raise held
                raise self.not_found(desired)
            chosen, candidates = self._confident(scene_id, candidates)
            if chosen is None and attempt == 0 and index.relist_all_once(self.plex.http):
                continue  # two items for one file may be a stale row: list everything once
            if chosen is None:
                chosen = self._choose_among(scene_id, candidates)
            return Target(chosen.rating_key, chosen.section_key, chosen.item_type, chosen.plex_path,
                          chosen.display_path, chosen.matched_by, index.updated_at(chosen.rating_key))
        raise self.not_found(desired)

    def _library_folder(self, desired: DesiredState) -> NotInPlexYet | None:
        """The scan that would bring the scene's file into Plex, if it lies in a library folder."""
        for stash_path in desired.files:
            mapped = self.path_map.to_plex(stash_path)
            held = holding_location(mapped, self.plex.index.sections)
            if held is not None:
                return NotInPlexYet(held[0].key, folder_of(mapped), mapped)
        return None

    def relist(self) -> bool:
        """The index proved stale (an item it lists is gone): list everything, once per drain."""
        return self.plex.index.relist_all_once(self.plex.http)

    def _confident(self, scene_id: int, candidates: list[Candidate]) -> tuple[Candidate | None, list[Candidate]]:
        """The one candidate when the match is HIGH confidence (else None), and the candidates
        that may be this scene's item at all."""
        if candidates[0].matched_by == "basename":
            return self._confident_by_name(scene_id, candidates)
        confidence, chosen = score_match_confidence(candidates, candidates[0].stash_path)
        return (chosen if confidence is MatchConfidence.HIGH else None), candidates

    def _confident_by_name(self, scene_id: int, candidates: list[Candidate]) -> tuple[Candidate | None, list[Candidate]]:
        """HIGH only if the name is unique on both sides. A Plex file that another Stash scene's
        file matches more closely is that scene's item and never this one's."""
        others = self._others_with_name(scene_id, candidates[0])
        own = [c for c in candidates if not self._belongs_to_another(c, others)]
        if not own:
            names = ", ".join(f"scene {s}" for s, _ in others)
            raise RetryLater(retry.NOT_FOUND, (
                f"Plex has no item for {candidates[0].plex_path}: the only item(s) with that file name "
                f"({', '.join(c.display_path for c in candidates)}) belong to {names}, whose file "
                "matches more closely; check path_map"))
        return (own[0] if len(own) == 1 and not others else None), own

    def _belongs_to_another(self, candidate: Candidate, others: list[tuple[int, str]]) -> bool:
        ours = shared_tail(candidate.plex_path, candidate.display_path)
        return any(shared_tail(self.path_map.to_plex(path), candidate.display_path) > ours for _, path in others)

    def _others_with_name(self, scene_id: int, chosen: Candidate) -> list[tuple[int, str]]:
        """Other Stash scenes with a file of this name (asked of Stash once per name and scene)."""
        key = (scene_id, basename_key(chosen.plex_path))
        if key not in self._owners:
            self._owners[key] = [(other, path) for other, path in self.name_owners(*key) if other != scene_id]
        return self._owners[key]

    def _choose_among(self, scene_id: int, candidates: list[Candidate]) -> Candidate:
        """Not HIGH: needs review under strict matching, else the most plausible one."""
        paths = [c.display_path for c in candidates]
        stash_path = candidates[0].stash_path
        others = self._others_with_name(scene_id, candidates[0]) if candidates[0].matched_by == "basename" else []
        if self.strict_matching:
            if others and len(candidates) == 1:
                reason = (f"only the file name matches ({paths[0]}), and other Stash scenes have a file "
                          f"of that name: {', '.join(f'scene {s}' for s, _ in others)} (strict_matching is on)")
            else:
                reason = f"{len(candidates)} Plex items could be this scene's file (strict_matching is on)"
            detail = {"stash_path": stash_path, "candidates": paths,
                      "other_scenes": [{"scene_id": s, "path": p} for s, p in others]}
            raise Park(REVIEW, reason, detail)
        chosen = best_candidate(candidates)
        rest = [c.display_path for c in candidates if c is not chosen]
        protocol.warning(
            f"scene {scene_id}: {len(candidates)} Plex item(s) match {stash_path} only loosely; writing "
            f"{chosen.display_path} (item {chosen.rating_key})"
            + (f", not: {'; '.join(rest)}" if rest else "")
            + (f"; other Stash scenes with that file name: {', '.join(str(s) for s, _ in others)}" if others else "")
        )
        return chosen

    def not_found(self, desired: DesiredState) -> Exception:
        """No item holds any of the scene's files, and none of them lies in a library folder."""
        sections = self.plex.index.sections
        mapped = self.path_map.to_plex(desired.files[0])
        more = f" (and {len(desired.files) - 1} more file(s))" if len(desired.files) > 1 else ""
        if any(s.locations for s in sections):
            return Park(FAILED, (
                f"not found in Plex: {mapped}{more} (the scene's file as Plex sees it through path_map) "
                f"is in none of the library folders ({describe_locations(sections)}); path_map is "
                "likely wrong, so no scan was asked for"))
        libraries = ", ".join(f"'{s.title}'" for s in sections) or "none"
        return RetryLater(retry.NOT_FOUND, (
            f"no Plex item has the file {mapped}{more}, by full path or by file name, in the "
            f"libraries {libraries}; check path_map and that Plex has scanned the folder"))
