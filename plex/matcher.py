"""Which Plex item is this Stash scene? Lookups in the path index, scored HIGH or LOW.

Rules, in order:
1. Every file of the scene is mapped into Plex's namespace (``path_map``) and looked up by exact
   full path. Any exact hit wins; the scene's other files only add candidates.
2. With no exact hit anywhere, the lower-cased file name is looked up (Stash and Plex may see the
   library under different roots that no rule maps).
3. Candidates are deduplicated by rating key (several files of one item, or one file listed
   twice, are one candidate). One candidate is HIGH confidence; several are LOW.

``worker.drain.matching`` decides which of these to ask for (a file in a library folder is never
matched by name alone) and how sure a name match is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plex.index import PlexIndex
    from plex.pathmap import PathMap


class MatchConfidence(Enum):
    """How sure the match is: HIGH = exactly one Plex item; LOW = several could be the file."""

    HIGH = "high"
    LOW = "low"


@dataclass(frozen=True)
class Candidate:
    """One Plex item that could hold the scene's file."""

    rating_key: int
    section_key: int
    item_type: str
    files: tuple[str, ...]
    matched_by: str  # "path" (exact full path) or "basename"
    stash_path: str  # the scene file that matched
    plex_path: str  # that file, mapped into Plex's namespace
    matched_files: tuple[str, ...] = field(default=())  # the item's files that matched

    @property
    def display_path(self) -> str:
        return self.matched_files[0] if self.matched_files else (self.files[0] if self.files else "?")


def score_match_confidence(
    candidates: list[Candidate], stash_path: str
) -> tuple[MatchConfidence, Candidate | None]:
    """HIGH with the item when there is exactly one candidate; LOW with None otherwise.

    No candidates at all is "not found", which the caller handles before scoring (it is retried:
    Plex may not have scanned the file yet); scoring it returns LOW, None. ``stash_path`` is the
    scene's file, for the caller's messages.
    """
    del stash_path  # kept in the signature: callers log it next to the verdict
    if len(candidates) == 1:
        return MatchConfidence.HIGH, candidates[0]
    return MatchConfidence.LOW, None


def exact_candidates(index: PlexIndex, stash_paths: Iterable[str], path_map: PathMap) -> list[Candidate]:
    """Items holding one of the scene's files at exactly its mapped path."""
    return _collect(index, [p for p in stash_paths if p], path_map, by="path")


def name_candidates(index: PlexIndex, stash_paths: Iterable[str], path_map: PathMap) -> list[Candidate]:
    """Items holding a file of the same name as one of the scene's (case-insensitive)."""
    return _collect(index, [p for p in stash_paths if p], path_map, by="basename")


def _collect(index: PlexIndex, paths: list[str], path_map: PathMap, *, by: str) -> list[Candidate]:
    found: dict[int, Candidate] = {}
    for stash_path in paths:
        plex_path = path_map.to_plex(stash_path)
        hits = index.by_path(plex_path) if by == "path" else index.by_basename(plex_path)
        for hit in hits:
            previous = found.get(hit.rating_key)
            if previous is not None:
                if hit.file not in previous.matched_files:
                    found[hit.rating_key] = Candidate(
                        previous.rating_key, previous.section_key, previous.item_type,
                        previous.files, previous.matched_by, previous.stash_path,
                        previous.plex_path, previous.matched_files + (hit.file,),
                    )
                continue
            found[hit.rating_key] = Candidate(
                rating_key=hit.rating_key,
                section_key=hit.section_key,
                item_type=hit.item_type,
                files=tuple(index.files_of(hit.rating_key)),
                matched_by=by,
                stash_path=stash_path,
                plex_path=plex_path,
                matched_files=(hit.file,),
            )
    return sorted(found.values(), key=lambda c: c.rating_key)


def best_candidate(candidates: list[Candidate]) -> Candidate:
    """The most plausible of several (permissive matching): most trailing path parts in common.

    ``/media/a/Studio/x.mp4`` beats ``/media/b/Other/x.mp4`` for a scene at
    ``/data/Studio/x.mp4``; ties go to the lowest rating key, so the choice is stable.
    """
    if not candidates:
        raise ValueError("no candidates")

    def score(candidate: Candidate) -> tuple[int, int, int]:
        wanted = _components(candidate.plex_path)
        common = max((_common_tail(wanted, _components(f)) for f in candidate.matched_files), default=0)
        exact = 1 if candidate.matched_by == "path" else 0
        return (exact, common, -candidate.rating_key)

    return max(candidates, key=score)


def shared_tail(a: str, b: str) -> int:
    """How many trailing path components two paths have in common (case-insensitive)."""
    return _common_tail(_components(a), _components(b))


def _components(path: str) -> list[str]:
    return [part.lower() for part in path.replace("\\", "/").split("/") if part]


def _common_tail(a: list[str], b: list[str]) -> int:
    count = 0
    for x, y in zip(reversed(a), reversed(b), strict=False):
        if x != y:
            break
        count += 1
    return count
