"""Play state for the Plex stand-in: what the token's account has watched, and the play history.

Plex keeps play state per account. The stand-in serves one token, the server owner's (local
account 1, the account plexapi's ``MyPlexAccount.history`` asks an owned server for), so an
item's ``viewCount``, ``lastViewedAt`` and ``viewOffset`` are the owner's; plays by other
accounts only appear in the server-wide history (``/status/sessions/history/all``), which the
owner's token may read for every account.

What the endpoints do (facts: /work/shared/reference/watch-state-facts.md, plexapi
``markPlayed``/``markUnplayed``/``updateProgress``/``PlexServer.history``):

* ``/:/scrobble``: one more completed play (``viewCount`` + 1, ``lastViewedAt`` = now) and the
  resume point cleared. No history entry: a play marked by hand is not a viewing session.
* ``/:/unscrobble``: ``viewCount`` 0, no ``lastViewedAt``, no resume point; history is kept.
* ``/:/progress?time=<ms>``: the resume point, and ``lastViewedAt`` = now (what Plex's Continue
  Watching orders by). ``time=0`` changes nothing (plexapi: "setting the time to 0 will not work").

Unverified against a real server (the reference notes leave them open, README says so): that a
resume point moves ``lastViewedAt``, that a scrobble clears the resume point and leaves no
history entry.

Tests drive plays with ``play`` (a completed play or a stopped one, by any account, at any time)
and read state back with ``play_state`` / ``history``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

OWNER_ACCOUNT = 1
IDENTIFIER = "com.plexapp.plugins.library"
# Filter fields a listing accepts once items carry play state.
PLAY_DATE_FIELDS = frozenset({"lastViewedAt"})
PLAY_INTEGER_FIELDS = frozenset({"viewCount", "viewOffset"})


class PlayStateError(Exception):
    """A request the real server refuses: (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PlayState:
    """The owner's state of one item."""

    views: int = 0
    last_viewed: int | None = None
    offset_ms: int = 0


@dataclass
class HistoryEntry:
    id: int
    rating_key: int
    section: int
    viewed_at: int
    account_id: int
    title: str
    type: str


@dataclass
class PlayBook:
    """Every item's owner state and the server's history (the stand-in's lock guards it)."""

    states: dict[int, PlayState] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    next_history_id: int = 1

    def state(self, rating_key: int) -> PlayState:
        return self.states.setdefault(rating_key, PlayState())

    # -- what the endpoints and tests change ----------------------------------------------------

    def completed(self, rating_key: int, section: int, title: str, kind: str, *, at: int,
                  account_id: int, history: bool) -> None:
        if account_id == OWNER_ACCOUNT:
            state = self.state(rating_key)
            state.views += 1
            state.last_viewed = at
            state.offset_ms = 0
        if history:
            self.history.append(HistoryEntry(self.next_history_id, rating_key, section, at, account_id,
                                             title, kind))
            self.next_history_id += 1

    def stopped(self, rating_key: int, offset_ms: int, *, at: int) -> None:
        if offset_ms <= 0:
            return
        state = self.state(rating_key)
        state.offset_ms = int(offset_ms)
        state.last_viewed = at

    def unplayed(self, rating_key: int) -> None:
        self.states[rating_key] = PlayState()

    # -- rendering -------------------------------------------------------------------------------

    def attributes(self, rating_key: int) -> str:
        """The owner's play attributes of an item element, as Plex emits them (absent when unset)."""
        state = self.states.get(rating_key)
        if state is None:
            return ""
        out = []
        if state.views:
            out.append(f' viewCount="{state.views}"')
        if state.offset_ms:
            out.append(f' viewOffset="{state.offset_ms}"')
        if state.last_viewed is not None:
            out.append(f' lastViewedAt="{state.last_viewed}"')
        return "".join(out)

    def number(self, rating_key: int, name: str) -> float | None:
        """A play field's value for the listing filters (None: the item has none)."""
        state = self.states.get(rating_key)
        if state is None:
            return None
        value = {"viewCount": state.views or None, "viewOffset": state.offset_ms or None,
                 "lastViewedAt": state.last_viewed}[name]
        return None if value is None else float(value)

    def history_entries(self, params: dict[str, str]) -> list[HistoryEntry]:
        """``/status/sessions/history/all``: filters ``accountID``, ``metadataItemID``,
        ``librarySectionID``, ``viewedAt>`` (plexapi's ``mindate``: sent as ``viewedAt>=<unix>``),
        ``viewedAt<``; ``sort=viewedAt:desc`` or ``:asc`` (oldest first by default)."""
        entries = list(self.history)
        for key, attr in (("accountID", "account_id"), ("metadataItemID", "rating_key"),
                          ("librarySectionID", "section")):
            if params.get(key):
                wanted = _int(params[key], key)
                entries = [e for e in entries if getattr(e, attr) == wanted]
        if params.get("viewedAt>"):
            since = _int(params["viewedAt>"], "viewedAt")
            entries = [e for e in entries if e.viewed_at >= since]
        if params.get("viewedAt<"):
            until = _int(params["viewedAt<"], "viewedAt")
            entries = [e for e in entries if e.viewed_at <= until]
        sort = params.get("sort", "viewedAt:asc")
        entries.sort(key=lambda e: (e.viewed_at, e.id), reverse=sort.endswith(":desc"))
        return entries


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise PlayStateError(400, f"bad value for {name}") from None


def now() -> int:
    return int(time.time())


def history_xml(entry: HistoryEntry, esc: Any) -> bytes:
    """One history element, as plexapi's ``PlexHistory`` reads it."""
    return (f'<Video historyKey="/status/sessions/history/{entry.id}" key="/library/metadata/'
            f'{entry.rating_key}" ratingKey="{entry.rating_key}" librarySectionID="{entry.section}"'
            f' title="{esc(entry.title)}" type="{entry.type}" viewedAt="{entry.viewed_at}"'
            f' accountID="{entry.account_id}" deviceID="1"/>').encode()


def item_key(params: dict[str, str]) -> int:
    """The ratingKey of a ``/:/`` request; Plex refuses a request without key or identifier."""
    if params.get("identifier") != IDENTIFIER:
        raise PlayStateError(400, "identifier must be com.plexapp.plugins.library")
    return _int(params.get("key") or "", "key")


def progress_time(params: dict[str, str]) -> int:
    if params.get("state", "stopped") not in ("stopped", "paused", "playing", "buffering"):
        raise PlayStateError(400, "bad state")
    return _int(params.get("time") or "", "time")
