"""The watch-state exchange's look at both sides: what was played since the last look.

Plex: one listing per library filtered on ``lastViewedAt`` after the newest one seen there (less
a margin: stamps of different items need not arrive in order). An item's ``viewCount`` above what
PlexSync accounted for is that many new completed plays. One new play happened at
``lastViewedAt``. Several since the last look each get their own time from Plex's play history
(one request, only then): the listing alone cannot tell them apart. Where the history lacks some
(deleted, or a play marked by hand, which has no history entry) they take the last play's time.
The history also settles the one case the counts cannot: an item marked unwatched and played
again as often as before shows its old count with a newer ``lastViewedAt``.
A library listed for the first time is only counted: plays from before the exchange began are
not copied.

Stash: one query for the scenes whose last play is after the last look, less a window (Stash's
player keeps moving the resume point after the play that brought the scene up). A play in its
history that PlexSync has no row for is new; the rows (plays copied from Plex among them) are
what keeps a play from coming back.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from plex.errors import PlexAuthError, PlexError
from plex.http import PlexHttp
from plex.sections import SectionInfo
from plex.watch import PlayState, history_since, played_since
from stash import paging, protocol, queries
from stash.graphql import StashClient
from sync.ledger import Ledger
from sync.timestamps import parse_instant, utc_text
from sync.watch_ledger import NewPlay, Seen, WatchLedger

MARGIN_S = 300
STASH_WINDOW_S = 6 * 3600
STASH_PAGE = 1000
STASH_MARK, STASH_FROM = "stash", "stash_from"


@dataclass
class News:
    """One bound scene's news from one side: new plays (unix times) and the resume point now."""

    scene_id: int
    rating_key: int
    times: list[int]
    resume_s: float
    at: float  # when that side last saw the scene played (its lastViewedAt / last_played_at)


@dataclass
class PlexLook:
    items: dict[int, Seen] = field(default_factory=dict)  # counts to record, as listed
    news: list[News] = field(default_factory=list)
    marks: dict[str, str | None] = field(default_factory=dict)
    counted: list[str] = field(default_factory=list)  # libraries listed for the first time
    requests: int = 0

    def plays(self) -> list[NewPlay]:
        return [NewPlay(n.scene_id, n.rating_key, t) for n in self.news for t in n.times]


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def look_at_plex(http: PlexHttp, sections: list[SectionInfo], watch: WatchLedger, ledger: Ledger,
                 marks: dict[str, str]) -> PlexLook:
    """What every library shows since its mark (reads only; the caller records it)."""
    look = PlexLook()
    several: dict[int, _Lookup] = {}  # items whose new plays the history tells
    for section in sections:
        name = f"section:{section.key}"
        after = _number(marks.get(name))
        since = None if after is None else max(0, int(after) - MARGIN_S)
        states = played_since(http, section, since)
        look.requests += 1
        stamps = [s.last_viewed for s in states if s.last_viewed is not None]
        look.marks[name] = str(int(max([after or 0, *stamps])))
        known = watch.seen(s.rating_key for s in states)
        bound: dict[int, list[int]] = {}
        if after is not None:
            for row in ledger.rows_for_items(s.rating_key for s in states):
                bound.setdefault(row.rating_key, []).append(row.scene_id)
        else:
            look.counted.append(section.title)
        for state in states:
            before = known.get(state.rating_key)
            if before is None or before != (state.views, state.last_viewed, False):
                look.items[state.rating_key] = Seen(state.views, state.last_viewed)
            new, ask, pad = _new_plays(state, before)
            for scene in bound.get(state.rating_key, ()):
                times = [state.last_viewed] if new == 1 and not ask and state.last_viewed is not None else []
                look.news.append(News(scene, state.rating_key, times, state.offset_ms / 1000.0,
                                      float(state.last_viewed or 0)))
                if ask:
                    first = (before.viewed_at + 1) if before and before.viewed_at else (since or 0)
                    several[state.rating_key] = _Lookup(state, new, first, pad)
    if several:
        _times_from_history(http, look, several)
    return look


@dataclass
class _Lookup:
    """An item whose new plays Plex's history tells: at most ``new`` of them since ``first``;
    ``pad``: there surely are ``new`` (the count says so), at the last play's time if need be."""

    state: PlayState
    new: int
    first: int
    pad: bool


def _new_plays(state: PlayState, before: Seen | None) -> tuple[int, bool, bool]:
    """Completed plays since PlexSync accounted for the item; whether the history must give their
    times (several) or tell whether there are any (at most that many: no padding).

    A count below the accounted one means the item was marked unwatched meanwhile: every play it
    shows is new. A ``lastViewedAt`` that moved with the count unchanged and no resume point can
    be the same (unwatched, then played as often as before) unless the count is PlexSync's own
    scrobble showing up: only the history can tell.
    """
    accounted = before.views if before else 0
    new = state.views - accounted if state.views >= accounted else state.views
    moved = (before is not None and not before.own and state.last_viewed is not None
             and state.last_viewed > (before.viewed_at or 0))
    if new <= 0 and moved and state.views and not state.offset_ms:
        return state.views, True, False
    return new, new > 1, new > 1


def _times_from_history(http: PlexHttp, look: PlexLook, several: dict[int, _Lookup]) -> None:
    """New plays get their own times from Plex's history (one request for every such item). A
    history Plex will not give (a server that keeps none) leaves the last play's time."""
    try:
        history = history_since(http, min(lookup.first for lookup in several.values()))
    except PlexAuthError:
        raise
    except PlexError as exc:
        protocol.debug(f"watch state: Plex's play history could not be read ({exc})")
        history = {}
    look.requests += 1
    for news in look.news:
        lookup = several.get(news.rating_key)
        if lookup is None:
            continue
        times = [t for t in history.get(news.rating_key, []) if t >= lookup.first][:lookup.new]
        if lookup.pad:
            times += [lookup.state.last_viewed or int(time.time())] * (lookup.new - len(times))
        news.times = sorted(times)


def look_at_stash(stash: StashClient, watch: WatchLedger, ledger: Ledger, marks: dict[str, str],
                  now: float) -> tuple[list[News], dict[str, str | None]]:
    """Bound scenes played in Stash since the last look, with the plays PlexSync has no row for,
    and the marks to record. The first look only sets the marks."""
    after, start = _number(marks.get(STASH_MARK)), _number(marks.get(STASH_FROM))
    if after is None or start is None:
        # Stash records whole seconds: a play in this very second is after the start.
        return [], {STASH_MARK: repr(now), STASH_FROM: repr(float(int(now) - 1))}
    since = max(start, after - STASH_WINDOW_S)
    rows: list[dict] = []
    for page, _, _ in paging.pages(stash, queries.PLAYED_SINCE, {"since": utc_text(since)}, "findScenes",
                                   "scenes", per_page=STASH_PAGE):
        rows += page
    bound = ledger.bindings(int(row["id"]) for row in rows)
    known = watch.known_times(bound)
    news = []
    for row in rows:
        scene = int(row["id"])
        if scene not in bound:
            continue
        played = [parse_instant(t) for t in row.get("play_history") or []]
        recent = Counter(int(t) for t in played if t is not None and t > since)
        new = recent - known.get(scene, Counter())
        news.append(News(scene, bound[scene], sorted(new.elements()), float(row.get("resume_time") or 0.0),
                         parse_instant(row.get("last_played_at")) or 0.0))
    return news, {STASH_MARK: repr(now)}
