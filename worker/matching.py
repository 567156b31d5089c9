"""Finding the Plex item a scene is written to, and reading its current state.

The stored binding first (one GET); a 404 on it, or an item that no longer holds the scene's
file, drops the binding and matches again. Then the path index: exact mapped path, else file name
(``plex.matcher``); LOW confidence per the ``strict_matching`` setting; nothing → retry later
(Plex may not have scanned the file yet). A stale index is re-listed at most once per drain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plex.errors import PlexItemGone
from plex.mapping import DesiredState
from plex.matcher import (
    Candidate,
    MatchConfidence,
    best_candidate,
    find_candidates,
    item_has_scene_file,
    score_match_confidence,
)
from plex.pathmap import PathMap
from plex.session import PlexSession
from plex.writer import CurrentState, read_item
from queue.inbox import REVIEW
from stash import protocol
from worker import retry
from worker.outcomes import Park, RetryLater


def rating_key_of(value: Any) -> int | None:
    """The rating key in a stored binding: ``"1234"`` or ``"/library/metadata/1234"``."""
    if value is None:
        return None
    text = str(value).rstrip("/").rsplit("/", 1)[-1]
    return int(text) if text.isdigit() else None


@dataclass
class Target:
    """The matched item (a plexapi object), its state, and the Plex requests matching took."""

    item: Any
    current: CurrentState
    requests: int


class ItemFinder:
    """Matches scenes to Plex items for one drain (one Plex session, one set of settings)."""

    def __init__(self, plex: PlexSession, path_map: PathMap, *, strict_matching: bool,
                 forget_binding: Callable[[int], None] | None = None) -> None:
        """``forget_binding(scene_id)`` drops a binding whose item is gone (None: a dry run,
        which changes nothing)."""
        self.plex = plex
        self.path_map = path_map
        self.strict_matching = strict_matching
        self.forget_binding = forget_binding

    def find(self, scene_id: int, desired: DesiredState, bound: int | None) -> Target:
        """The item for the scene; raises RetryLater (not in Plex yet) or Park (needs review).

        ``bound`` is the stored binding's rating key. A binding that broke (404, or the item no
        longer holds the file) is reported in ``Target`` by a different rating key; the caller
        records the new binding with its result.
        """
        requests = 0
        if bound:
            found, requests = self._bound_item(scene_id, desired, bound)
            if found is not None:
                return found
        return self._from_index(scene_id, desired, requests)

    def _bound_item(self, scene_id: int, desired: DesiredState, bound: int) -> tuple[Target | None, int]:
        try:
            item = self.plex.fetch_item(bound)
        except PlexItemGone:
            protocol.info(f"scene {scene_id}: its Plex item {bound} is gone (404); matching again")
            if self.forget_binding is not None:
                self.forget_binding(scene_id)
            return None, 1
        current = read_item(item)
        if item_has_scene_file(current.files, desired.files, self.path_map):
            return Target(item, current, 1), 1
        protocol.info(f"scene {scene_id}: Plex item {bound} no longer has the scene's file; matching again")
        return None, 1

    def _from_index(self, scene_id: int, desired: DesiredState, requests: int) -> Target:
        index = self.plex.index
        for attempt in range(2):
            candidates = find_candidates(index, desired.files, self.path_map)
            if not candidates:
                if attempt == 0 and index.refresh_after_miss(self.plex.server):
                    continue
                raise RetryLater(retry.NOT_FOUND, self.not_found_reason(desired))
            confidence, chosen = score_match_confidence(candidates, desired.files[0])
            if confidence is MatchConfidence.LOW:
                if attempt == 0 and index.relist_all_once(self.plex.server):
                    continue  # two items for one file may be a stale row: list everything once
                chosen = self._choose_among(scene_id, candidates)
            assert chosen is not None
            try:
                item = self.plex.fetch_item(chosen.rating_key)
                return Target(item, read_item(item), requests + 1)
            except PlexItemGone:
                requests += 1
                # The index is older than Plex: list again (once per drain) and retry the match.
                if attempt == 0 and index.relist_all_once(self.plex.server):
                    continue
                raise RetryLater(retry.NOT_FOUND, f"Plex item {chosen.rating_key} for "
                                 f"{chosen.display_path} is gone; waiting for Plex to rescan") from None
        raise RetryLater(retry.NOT_FOUND, self.not_found_reason(desired))

    def _choose_among(self, scene_id: int, candidates: list[Candidate]) -> Candidate:
        """Several candidates: needs review under strict matching, else the most plausible."""
        paths = [c.display_path for c in candidates]
        stash_path = candidates[0].stash_path
        if self.strict_matching:
            raise Park(
                REVIEW,
                f"{len(candidates)} Plex items could be this scene's file (strict_matching is on)",
                {"stash_path": stash_path, "candidates": paths},
            )
        chosen = best_candidate(candidates)
        others = [c.display_path for c in candidates if c is not chosen]
        protocol.warning(
            f"scene {scene_id}: {len(candidates)} Plex items match {stash_path}; writing "
            f"{chosen.display_path} (item {chosen.rating_key}), not: {'; '.join(others)}"
        )
        return chosen

    def not_found_reason(self, desired: DesiredState) -> str:
        mapped = self.path_map.to_plex(desired.files[0])
        libraries = ", ".join(f"'{s.title}'" for s in self.plex.index.sections) or "none"
        more = f" (and {len(desired.files) - 1} more file(s))" if len(desired.files) > 1 else ""
        return (
            f"no Plex item has the file {mapped}{more}, by full path or by file name, in the "
            f"libraries {libraries}; check path_map and that Plex has scanned the folder"
        )
