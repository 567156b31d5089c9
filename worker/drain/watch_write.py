"""The watch-state exchange's writes, each one settled in the watch ledger after it landed.

Every play to write already has its row (written before, in the transaction that recorded the
look), so a crash between a write and its settling leaves a row marked unconfirmed. The next
exchange settles those first, checking the other side instead of trusting either guess:

* a copy to Stash is there when Stash's history holds that time more often than the plays
  PlexSync already accounts for at that time (two plays in the same second are one play to
  both servers, so a time is as good as an id);
* a scrobble landed when the item's ``viewCount`` reached the count the scrobble was to make.

Resume points need no such care: writing the same value twice changes nothing, and the look
settles a resume point both sides already agree on without writing it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from plex.errors import PlexItemGone
from plex.http import PlexHttp
from plex.watch import item_state, scrobble, set_progress
from stash import protocol, queries
from stash.graphql import StashClient, StashError, StashUnavailable
from sync.timestamps import parse_instant, utc_text
from sync.watch_ledger import Play, WatchLedger

_IDS_PAGE = 500
RENEW_EVERY_S = 5.0  # the drain's lease lasts 30 s


class LeaseLost(Exception):
    """Another drain took the queue over: this one writes no more (its rows stay unconfirmed)."""


@dataclass
class WatchCounts:
    plays_to_stash: int = 0
    plays_to_plex: int = 0
    resume_to_stash: int = 0
    resume_to_plex: int = 0
    settled_after_interruption: int = 0
    stash_mutations: int = 0
    plex_writes: int = 0

    def as_output(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if v}


def _by(plays: list[Play], key: Callable[[Play], int]) -> dict[int, list[Play]]:
    grouped: dict[int, list[Play]] = {}
    for play in plays:
        grouped.setdefault(key(play), []).append(play)
    return grouped


@dataclass
class WatchWriter:
    """Writes plays and resume points to either side and settles them."""

    stash: StashClient
    http: Callable[[], PlexHttp]
    watch: WatchLedger
    still_holding: Callable[[], bool] = lambda: True
    counts: WatchCounts = field(default_factory=WatchCounts)
    renewed: float = field(default_factory=time.monotonic)

    def _hold(self) -> None:
        """Before a write: renew the drain's lease every few seconds; raise LeaseLost once lost."""
        now = time.monotonic()
        if now - self.renewed >= RENEW_EVERY_S:
            self.renewed = now
            if not self.still_holding():
                raise LeaseLost("another drain took over the queue")

    # -- to Stash -------------------------------------------------------------------------------

    def plays_to_stash(self, plays: list[Play], *, check: bool = False) -> None:
        """Add each scene's plays (one mutation per scene). ``check``: rows an earlier exchange
        left unconfirmed; only what Stash's history lacks is added. Raises StashError."""
        by_scene = _by(plays, lambda p: p.scene_id)
        present = self._stash_histories(list(by_scene)) if check else {}
        settled = self.watch.known_times(by_scene, settled_only=True) if check else {}
        for scene, rows in by_scene.items():
            wanted = Counter(row.played_at for row in rows)
            if check:
                if scene not in present:  # the scene is gone from Stash: nothing to add to
                    self._settle(rows, check)
                    continue
                wanted -= present[scene] - settled.get(scene, Counter())
            if wanted:
                times = [utc_text(t) for t in sorted(wanted.elements())]
                if not self._to_stash(queries.ADD_PLAYS, {"id": str(scene), "times": times}):
                    continue  # stays unconfirmed: the next drain checks and adds it
                self.counts.plays_to_stash += sum(wanted.values())
            self._settle(rows, check)

    def _stash_histories(self, scenes: list[int]) -> dict[int, Counter[int]]:
        found: dict[int, Counter[int]] = {}
        for start in range(0, len(scenes), _IDS_PAGE):
            chunk = scenes[start : start + _IDS_PAGE]
            data = self.stash.execute(queries.PLAY_HISTORY_BY_IDS, {"ids": [str(s) for s in chunk],
                                                                    "per_page": len(chunk)})
            for row in (data.get("findScenes") or {}).get("scenes") or []:
                times = (parse_instant(t) for t in row.get("play_history") or [])
                found[int(row["id"])] = Counter(int(t) for t in times if t is not None)
        return found

    def resume_to_stash(self, values: dict[int, float]) -> None:
        """Scene → the resume point to give it (seconds). Raises StashError."""
        for scene, seconds in values.items():
            if self._to_stash(queries.SAVE_RESUME, {"id": str(scene), "resume_time": round(seconds, 3)}):
                self.counts.resume_to_stash += 1
                self.watch.set_resumes({scene: seconds})

    def _to_stash(self, document: str, variables: dict) -> bool:
        """One mutation; False when Stash refused it for this scene (deleted meanwhile, say).
        Raises StashUnavailable: Stash itself is not answering; LeaseLost."""
        self._hold()
        try:
            self.stash.execute(document, variables)
        except StashUnavailable:
            raise
        except StashError as exc:
            protocol.debug(f"watch state: scene {variables['id']}: Stash refused the write ({exc})")
            return False
        self.counts.stash_mutations += 1
        return True

    # -- to Plex --------------------------------------------------------------------------------

    def plays_to_plex(self, plays: list[Play], *, check: bool = False) -> None:
        """One scrobble per Stash play, settled one by one. ``check``: rows an earlier exchange
        left unconfirmed; the item's count says which scrobbles landed. Raises PlexError."""
        for key, rows in _by(plays, lambda p: p.rating_key).items():
            rows.sort(key=lambda p: (p.plex_views or 0, p.id))
            views = None
            if check:
                state = item_state(self.http(), key)
                if state is None:  # the item is gone from Plex
                    self._settle(rows, check)
                    continue
                views = state.views
            try:
                self._scrobble(key, rows, views, check)
            except PlexItemGone:  # deleted meanwhile: the next drain's check settles its rows
                protocol.debug(f"watch state: Plex item {key} is gone; its plays are not marked")

    def _scrobble(self, key: int, rows: list[Play], views: int | None, check: bool) -> None:
        for row in rows:
            if views is None or row.plex_views is None or views < row.plex_views:
                self._hold()
                scrobble(self.http(), key)
                self.counts.plex_writes += 1
                self.counts.plays_to_plex += 1
            self._settle([row], check, {key: row.plex_views} if row.plex_views else None)

    def resume_to_plex(self, values: dict[int, tuple[int, float]]) -> None:
        """Scene → (item, resume point in seconds) to set in Plex. Raises PlexError."""
        for scene, (key, seconds) in values.items():
            self._hold()
            try:
                set_progress(self.http(), key, round(seconds * 1000))
            except PlexItemGone:
                continue
            self.counts.plex_writes += 1
            self.counts.resume_to_plex += 1
            self.watch.set_resumes({scene: seconds})

    def _settle(self, rows: list[Play], check: bool, views: dict[int, int] | None = None) -> None:
        self.watch.settle([row.id for row in rows], views)
        if check:
            self.counts.settled_after_interruption += len(rows)
