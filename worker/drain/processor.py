"""Processing one job: read the scene, decide whether Plex needs anything, match, write, record.

The order is chosen so that the cheap checks come first and every Plex request is needed:

1. The inbox row must still be ``queued`` for this job (else the job is stale and dropped).
2. **Read**: the scene from Stash now (the latest data wins; a deleted scene is dropped).
3. **Short-circuit**: unless forced, ``sync_state`` may already cover this ``updated_at`` (a later
   sync did it), or the desired Plex state's hash may equal the one recorded with the binding
   while the item shows no drift: recorded as synced with ZERO Plex requests.
4. **Match**: the path index (no request) names the item (``worker.drain.matching``).
5. **Write**: what differs from the item's values (the ledger's or one GET's), and the record
   (``worker.drain.write``).

Plex outages, a refused token and an unreachable Stash are raised to the drain, which stops; every
other problem is decided here (retry later, wait for a scan, needs review, failed) and recorded
with its reason. The dry run (``preview``) reads, matches and plans, and writes nothing anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plex.errors import PermanentSyncError, PlexItemGone, PlexUnavailable
from plex.mapping import DesiredState
from plex.session import PlexSession
from plex.writer import poster_sha1
from queue.inbox import FAILED, QUEUED, REVIEW, InboxEntry
from queue.inbox_tasks import TaskInbox
from stash import protocol, queries
from stash.graphql import StashError, StashUnavailable
from sync import db
from sync.detector import needs_resync
from sync.error_log import ErrorLog
from sync.ledger import Ledger, LedgerEntry
from sync.state import SyncRecord
from worker.drain import retry
from worker.drain.group_collections import GroupCollectionWriter
from worker.drain.images import fetch_image
from worker.drain.matching import ItemFinder, NotInPlexYet, scenes_with_file_name
from worker.drain.outcomes import Outcome, Park, RetryLater
from worker.drain.plex_scans import FINISHED, PlexScans
from worker.drain.scene_rules import SceneMapper
from worker.drain.write import Prepared, WriteStep, same_item

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig
    from worker.context import TaskContext

# A scene waiting for Plex to scan its folder is tried again by the drain that asked for the
# scan as soon as it finished; otherwise not before this (no attempt counted).
SCAN_WAIT_S = 600.0


@dataclass(frozen=True)
class Prefetched:
    """Scenes read from Stash for a batch of jobs: when, and each scene (None = deleted)."""

    fetched_at: float
    scenes: dict[int, dict[str, Any] | None]


class Processor:
    """Processes jobs for one drain (one worker thread)."""

    def __init__(self, ctx: TaskContext, config: PlexSyncConfig, plex: PlexSession, *,
                 scans: PlexScans | None = None, now: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.config = config
        self.plex = plex
        self.scans = scans
        self.path_map = config.path_rules
        self.mapper = SceneMapper(ctx, config)  # the settings' tag, label and studio rules
        self.collections = GroupCollectionWriter(ctx, plex, config)  # written at the drain's end
        self.now = now
        self.finder = ItemFinder(plex, self.path_map, strict_matching=config.strict_matching,
                                 name_owners=lambda _scene, name: scenes_with_file_name(ctx.stash, name))
        self.writer = WriteStep(ctx, config, plex, collections=self.collections, now=now)

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.ctx.conn)

    # -- entry points -----------------------------------------------------------------------

    def prefetch(self, scene_ids: list[int]) -> Prefetched:
        """Read several scenes from Stash in one request (the worker's batch, just before use).

        A scene missing from the answer was deleted. An edit made after this read gives its
        inbox row a newer generation, so the job is not acknowledged away: the scene is
        processed again with the newer data.
        """
        fetched_at = self.now()
        data = self.ctx.stash.execute(
            queries.FIND_SCENES_BY_IDS,
            {"ids": [str(i) for i in scene_ids], "per_page": len(scene_ids)},
        )
        scenes = {int(s["id"]): s for s in (data.get("findScenes") or {}).get("scenes") or []}
        return Prefetched(fetched_at, {i: scenes.get(int(i)) for i in scene_ids})

    def process(self, job: dict[str, Any], prefetched: Prefetched | None = None) -> Outcome:
        """Process one queued job, with all inbox, sync-state and ledger bookkeeping.

        Raises PlexUnavailable (outage), PlexAuthError and StashUnavailable for the drain to stop;
        the job's inbox row is then still ``queued`` and the drain puts it back.
        """
        scene_id = int(job["scene_id"])
        generation = int(job["generation"])
        entry = TaskInbox(self.ctx.conn).get(scene_id)
        if entry is None or entry.state != QUEUED:
            return Outcome("stale", scene_id, "already handled")
        try:
            return self._sync(scene_id, generation, force=bool(job.get("force")), prefetched=prefetched)
        except NotInPlexYet as missing:
            return self._not_in_plex(entry, missing)
        except RetryLater as wait:
            return self._retry(entry, wait)
        except Park as parked:
            return self._park(entry, generation, parked)

    def preview(self, scene_id: int, *, read_plex: bool = False) -> Outcome:
        """Dry run for one scene: what would change in Plex. Writes nothing, records nothing.
        ``read_plex``: compare with the item as Plex has it (a re-sync's dry run), never the ledger."""
        scene_id = int(scene_id)
        try:
            scene, fetched_at = self._read(scene_id, None)
            if not scene:
                return Outcome("dry_run", scene_id, "the scene no longer exists in Stash")
            prepared = self._prepare(scene, fetched_at)
            record = self.ctx.sync_state.get(scene_id)
            with _plex_problems():
                target = self.finder.find(scene_id, prepared.desired)
                entry = same_item(self.ledger.get(scene_id), target)
                look = self.writer.look(target, entry, prepared.desired, read_plex=read_plex)
        except NotInPlexYet as missing:
            return Outcome("dry_run", scene_id, f"{missing}: PlexSync would ask Plex to scan {missing.folder}")
        except (RetryLater, Park) as problem:
            return Outcome("dry_run", scene_id, problem.reason)
        plan = self.writer.plan(prepared.desired, look.current, entry)
        lines = [protocol.redact(line) for line in plan.describe()]
        if self.writer.poster_to_upload(prepared, record, look.current) is not None:
            lines.append("    poster: would upload the Stash screenshot")
        return Outcome("dry_run", scene_id, "\n".join(lines), rating_key=look.current.rating_key,
                       plan=plan, plex_requests=look.requests)

    # -- the work ---------------------------------------------------------------------------

    def _sync(self, scene_id: int, generation: int, *, force: bool, prefetched: Prefetched | None) -> Outcome:
        scene, fetched_at = self._read(scene_id, prefetched)
        if not scene:
            return self._deleted(scene_id)
        if not force and not needs_resync(scene_id, scene.get("updated_at"), self.ctx.sync_state):
            self._commit(lambda c: TaskInbox(c).complete(scene_id, generation))
            return Outcome("covered", scene_id, "a later sync already covered this edit",
                           stamp=scene.get("updated_at"))
        prepared = self._prepare(scene, fetched_at)
        record = self.ctx.sync_state.get(scene_id)
        entry = self.ledger.get(scene_id)
        if not force and _unchanged(record, entry, prepared):
            self._commit_unchanged(scene_id, generation, prepared, record)
            return Outcome("unchanged", scene_id, "nothing Plex shows changed",
                           rating_key=entry.rating_key if entry else None, stamp=prepared.stamp)
        with _plex_problems():
            for attempt in range(2):
                target = self.finder.find(scene_id, prepared.desired)
                # Read again: the listing that brought the index up to date may have just
                # vouched for the item, or marked it.
                entry = self.ledger.get(scene_id)
                try:
                    return self.writer.write(scene_id, generation, prepared, record, entry, target)
                except PlexItemGone:
                    # The index lists an item Plex no longer has: list everything once and match again.
                    if attempt == 0 and self.finder.relist():
                        continue
                    raise RetryLater(retry.NOT_FOUND, f"Plex item {target.rating_key} for "
                                     f"{target.matched_file} is gone; waiting for Plex to rescan") from None
        raise AssertionError("unreachable")

    def _read(self, scene_id: int, prefetched: Prefetched | None) -> tuple[dict[str, Any] | None, float]:
        """The scene as Stash has it now (None: deleted), and when it was read."""
        if prefetched is not None and scene_id in prefetched.scenes:
            return prefetched.scenes[scene_id], prefetched.fetched_at
        fetched_at = self.now()
        try:
            data = self.ctx.stash.execute(queries.FIND_SCENE, {"id": str(scene_id)})
        except StashUnavailable:
            raise
        except StashError as exc:
            raise RetryLater(retry.TRANSIENT, f"reading the scene from Stash failed: {exc}") from None
        return data.get("findScene"), fetched_at

    def _prepare(self, scene: dict[str, Any], fetched_at: float) -> Prepared:
        desired = self.mapper.desired(scene)
        for warning in desired.warnings:
            protocol.warning(warning)
        if not desired.files:
            raise Park(FAILED, "the scene has no file in Stash, so there is nothing to match in Plex")
        screenshot = None if "poster" in desired.released else \
            fetch_image(self.ctx.stash, desired.screenshot_url, f"scene {desired.scene_id}: screenshot")
        screenshot_sha1 = poster_sha1(screenshot) if screenshot is not None else None
        return Prepared(scene, fetched_at, desired, screenshot, screenshot_sha1, fields_hash(desired, self.config),
                        fields_hash(desired, self.config, poster=screenshot_sha1))


    # -- bookkeeping -------------------------------------------------------------------------

    def _commit(self, work: Callable[[Any], Any]) -> Any:
        return db.transaction(self.ctx.conn, work)

    def _commit_unchanged(self, scene_id: int, generation: int, prepared: Prepared,
                          record: SyncRecord | None) -> None:
        assert record is not None
        state = self.ctx.sync_state

        def work(c: Any) -> None:
            state.update_success(scene_id, str(record.plex_item_key), prepared.stamp,
                                 fetched_at=prepared.fetched_at, payload_hash=prepared.payload_hash,
                                 poster_hash=record.poster_hash, conn=c)
            TaskInbox(c).complete(scene_id, generation)

        self._commit(work)

    def _deleted(self, scene_id: int) -> Outcome:
        state = self.ctx.sync_state

        def work(c: Any) -> None:
            state.forget(scene_id, conn=c)
            Ledger(c).forget(scene_id)
            TaskInbox(c).remove(scene_id)

        self._commit(work)
        protocol.info(f"scene {scene_id} was deleted in Stash; dropped its queued sync")
        return Outcome("deleted", scene_id, "deleted in Stash")

    def _not_in_plex(self, entry: InboxEntry, missing: NotInPlexYet) -> Outcome:
        """No item holds the file yet: wait for a scan of its folder; count an attempt only once
        a scan this drain asked for has finished without it."""
        scans = self.scans
        if scans is not None and scans.status(missing.section_key, missing.folder) == FINISHED:
            tried = entry.attempts + 1
            elsewhere = (f"; Plex has files of that name elsewhere ({', '.join(missing.same_name[:3])}): "
                         "is path_map right?" if missing.same_name else "")
            return self._retry(entry, RetryLater(retry.NOT_FOUND, (
                f"not found in Plex: Plex scanned {missing.folder} and has no item for {missing.plex_path} "
                f"(scan {tried}); check that Plex can read the file and that it is a video Plex "
                f"accepts{elsewhere}")))
        if scans is not None:
            scans.wait_for(missing.section_key, missing.folder, entry.scene_id)
        reason = f"waiting for Plex to scan {missing.folder} (Plex has no item for {missing.plex_path} yet)"
        not_before = self.now() + SCAN_WAIT_S
        self._commit(lambda c: TaskInbox(c).retry_later(entry.scene_id, not_before, reason, count_attempt=False,
                                                    plex_wait=missing.folder))
        protocol.info(f"scene {entry.scene_id}: {reason}")
        return Outcome("waiting", entry.scene_id, reason)

    def _retry(self, entry: InboxEntry, wait: RetryLater) -> Outcome:
        attempts = entry.attempts + 1
        reason = protocol.redact(wait.reason)
        if retry.exhausted(attempts, wait.policy):
            return self._park(entry, entry.generation, Park(FAILED, f"{reason} (gave up after {attempts} attempts)"))
        delay = retry.backoff_delay(attempts, wait.policy)
        not_before = self.now() + delay
        self._commit(lambda c: TaskInbox(c).retry_later(entry.scene_id, not_before, reason))
        ErrorLog(self.ctx.conn).record(entry.scene_id, f"{reason}; retry {attempts} in {delay:.0f}s")
        protocol.info(f"scene {entry.scene_id}: {reason}; trying again in {human_duration(delay)}")
        return Outcome("retry", entry.scene_id, reason, transient=wait.policy is retry.TRANSIENT)

    def _park(self, entry: InboxEntry, generation: int, parked: Park) -> Outcome:
        reason = protocol.redact(parked.reason)
        self._commit(lambda c: TaskInbox(c).park(entry.scene_id, generation, parked.state, reason, parked.detail))
        ErrorLog(self.ctx.conn).record(entry.scene_id, reason)
        if parked.state == REVIEW:
            candidates = (parked.detail or {}).get("candidates", [])
            protocol.warning(f"scene {entry.scene_id}: needs review: {reason}: {'; '.join(candidates)}")
        else:
            protocol.warning(f"scene {entry.scene_id}: failed: {reason}")
        return Outcome(parked.state, entry.scene_id, reason)


@contextmanager
def _plex_problems() -> Iterator[None]:
    """What a failed Plex request means for this scene: an item gone mid-write or a 5xx on it is
    retried later, a refused edit parks the scene; an outage is raised for the drain to stop."""
    try:
        yield
    except PlexItemGone as exc:
        raise RetryLater(retry.TRANSIENT, f"the Plex item disappeared while writing ({exc})") from None
    except PermanentSyncError as exc:
        raise Park(FAILED, str(exc)) from None
    except PlexUnavailable as exc:
        if exc.outage:
            raise
        raise RetryLater(retry.TRANSIENT, str(exc)) from None


def fields_hash(desired: DesiredState, config: PlexSyncConfig, **more: Any) -> str:
    """The hash of what Stash wants in Plex, where (the mapped paths) and under which settings
    (a changed setting must not look like "already written"); *Sync all* compares it with the
    ledger without fetching posters, the drain adds the poster's SHA-1 (``more``)."""
    return desired.payload_hash(preserve_plex_edits=config.preserve_plex_edits,
                                plex_paths=[config.path_rules.to_plex(p) for p in desired.files], **more)


def _unchanged(record: SyncRecord | None, entry: LedgerEntry | None, prepared: Prepared) -> bool:
    """Nothing to do: the same values went to the same item, and Plex showed no drift since."""
    return (record is not None and entry is not None and entry.drift is None
            and str(entry.rating_key) == record.rating_key
            and record.payload_hash == prepared.payload_hash)


def human_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
