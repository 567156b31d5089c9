"""Watched in Plex, watched in Stash: the play-state exchange every drain makes before it ends
(the ``watch_state`` setting: ``off``, ``plex_to_stash`` or ``both``).

Watching fires no hook in Stash and nothing PlexSync could hear from Plex, so every drain looks:
one listing per Plex library and, with ``both``, one Stash query; nothing else when nothing was
played. In order:

1. settle what an interrupted exchange left unconfirmed (a crash, a side that failed);
2. look at Plex, then at Stash (reads only);
3. record each look in one transaction: the counts PlexSync now accounts for, a row per play
   about to be written, and where the next look starts;
4. write plays from Plex into Stash (``sceneAddPlay`` at Plex's times) and Stash plays into Plex
   (one scrobble each), then resume points; each write is settled after it landed.

The plays are the plex_token account's. Plays from before the exchange first looked at a side
are not copied (a library's first listing only counts). ``off`` asks nothing of either side and
pauses the exchange: turned on again, it continues from where it last looked, so plays made
meanwhile are exchanged then (``plex_to_stash`` likewise pauses the Stash side). A play unmarked
in Plex (unwatched) removes nothing from Stash. The drain holds its lease throughout, so two
exchanges never overlap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from plex.errors import PlexAuthError, PlexError
from plex.session import PlexSession
from stash import protocol
from stash.graphql import StashError
from sync.ledger import Ledger
from sync.watch_ledger import PLEX, NewPlay, Play, WatchLedger
from worker.context import TaskContext
from worker.drain.watch_look import News, look_at_plex, look_at_stash
from worker.drain.watch_write import LeaseLost, WatchWriter

RESUME_TOLERANCE_S = 1.0


def exchange(ctx: TaskContext, plex: PlexSession, still_holding: Callable[[], bool] = lambda: True) -> dict[str, Any]:
    """One exchange; its figures (empty when off). Raises PlexAuthError (the token was refused);
    any other failure of a side is logged and its plays wait for the next drain.

    ``still_holding`` renews the drain's lease while the writes go on (a long exchange after a
    pause must not let another drain take over and write the same plays); once it says the lease
    is lost, writing stops and the plays not written stay unconfirmed for the holder."""
    mode = ctx.config.watch_state
    if mode == "off":
        return {}
    started = time.monotonic()
    watch = WatchLedger(ctx.conn)
    marks = watch.marks()
    writer = WatchWriter(ctx.stash, lambda: plex.http, watch, still_holding)
    _settle_interrupted(writer, watch.pending())
    ledger = Ledger(ctx.conn)
    try:
        look = look_at_plex(plex.http, plex.indexed_sections(), watch, ledger, marks)
    except PlexAuthError:
        raise
    except PlexError as exc:
        protocol.warning(f"watch state: Plex could not be read ({exc}); the next drain tries again")
        return {"mode": mode, "skipped": "plex"}
    stash_news: list[News] = []
    stash_marks: dict[str, str | None] = {}
    if ctx.config.stash_to_plex:
        try:
            stash_news, stash_marks = look_at_stash(ctx.stash, watch, ledger, marks, time.time())
        except StashError as exc:
            protocol.warning(f"watch state: Stash's plays could not be read ({exc}); the next drain tries again")
            stash_news, stash_marks = [], {}
    to_stash = watch.record_plex_look(look.items, look.plays(), look.marks)
    to_plex = watch.record_stash_look(_scrobbles(watch, stash_news), stash_marks) if ctx.config.stash_to_plex else []
    _write(writer, to_stash, to_plex, look.news, stash_news, watch)
    report = {"mode": mode, **writer.counts.as_output(), "plex_listings": look.requests,
              "seconds": round(time.monotonic() - started, 2)}
    if look.counted:
        report["libraries_counted"] = look.counted
        protocol.info(f"watch state: plays in {', '.join(look.counted)} counted; from now on new plays are "
                      "exchanged (earlier ones are not copied)")
    _log(writer)
    return report


def _settle_interrupted(writer: WatchWriter, pending: list[Play]) -> None:
    if not pending:
        return
    protocol.info(f"watch state: {len(pending)} play(s) an interrupted exchange left unconfirmed are checked")
    try:
        writer.plays_to_stash([p for p in pending if p.origin == PLEX], check=True)
    except (StashError, LeaseLost) as exc:
        protocol.warning(f"watch state: Stash could not be checked ({exc}); the next drain tries again")
    try:
        writer.plays_to_plex([p for p in pending if p.origin != PLEX], check=True)
    except PlexAuthError:
        raise
    except (PlexError, LeaseLost) as exc:
        protocol.warning(f"watch state: Plex could not be checked ({exc}); the next drain tries again")


def _scrobbles(watch: WatchLedger, news: list[News]) -> list[NewPlay]:
    """One scrobble per new Stash play, each with the count its item reaches once it lands."""
    counts = {key: seen.views for key, seen in watch.seen(n.rating_key for n in news).items()}
    plays = []
    for item in news:
        for played_at in item.times:
            counts[item.rating_key] = counts.get(item.rating_key, 0) + 1
            plays.append(NewPlay(item.scene_id, item.rating_key, played_at, counts[item.rating_key]))
    return plays


def _write(writer: WatchWriter, to_stash: list[Play], to_plex: list[Play], plex_news: list[News],
           stash_news: list[News], watch: WatchLedger) -> None:
    scenes = {n.scene_id for n in plex_news} | {n.scene_id for n in stash_news}
    resume_stash, resume_plex, agreed = _resumes(plex_news, stash_news, watch.resumes(scenes),
                                                 {p.scene_id for p in to_plex})
    watch.set_resumes(agreed)
    try:
        writer.plays_to_stash(to_stash)
        writer.resume_to_stash(resume_stash)
    except (StashError, LeaseLost) as exc:
        protocol.warning(f"watch state: writing to Stash stopped ({exc}); the next drain finishes it")
    try:
        writer.plays_to_plex(to_plex)
        writer.resume_to_plex(resume_plex)
    except PlexAuthError:
        raise
    except (PlexError, LeaseLost) as exc:
        protocol.warning(f"watch state: writing to Plex stopped ({exc}); the next drain finishes it")


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= RESUME_TOLERANCE_S


def _resumes(plex_news: list[News], stash_news: list[News], exchanged: dict[int, float],
             scrobbled: set[int]) -> tuple[dict[int, float], dict[int, tuple[int, float]], dict[int, float]]:
    """Which resume points go where: (to Stash, to Plex, already equal on both sides).

    A side moved when its resume point differs from the one last exchanged; when both moved, the
    one played more recently wins (a tie goes to Plex, whose stamp moves with the resume point).
    Plex cannot be given a resume point of 0; a Stash play scrobbled now clears Plex's anyway.
    """
    plex = {n.scene_id: n for n in plex_news}
    stash = {n.scene_id: n for n in stash_news}
    to_stash: dict[int, float] = {}
    to_plex: dict[int, tuple[int, float]] = {}
    agreed: dict[int, float] = {}
    for scene in sorted(plex.keys() | stash.keys()):
        last = exchanged.get(scene, 0.0)
        p, s = plex.get(scene), stash.get(scene)
        if p is not None and s is not None and _same(p.resume_s, s.resume_s):
            if not _same(p.resume_s, last):
                agreed[scene] = p.resume_s
            continue
        p_moved = p is not None and not _same(p.resume_s, last)
        s_moved = s is not None and not _same(s.resume_s, last)
        if p is not None and p_moved and (s is None or not s_moved or p.at >= s.at):
            to_stash[scene] = p.resume_s
        elif s is not None and s_moved:
            if s.resume_s > 0:
                to_plex[scene] = (s.rating_key, s.resume_s)
            elif scene in scrobbled:
                agreed[scene] = 0.0
    return to_stash, to_plex, agreed


def _log(writer: WatchWriter) -> None:
    c = writer.counts
    parts = [f"{n} {what}" for n, what in (
        (c.plays_to_stash, "play(s) from Plex added in Stash"),
        (c.plays_to_plex, "Stash play(s) marked in Plex"),
        (c.resume_to_stash, "resume point(s) from Plex"),
        (c.resume_to_plex, "resume point(s) from Stash"),
        (c.settled_after_interruption, "unconfirmed play(s) settled"),
    ) if n]
    if parts:
        protocol.info("watch state: " + ", ".join(parts))
