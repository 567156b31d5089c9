"""Processing one job: read the scene, decide whether Plex needs anything, match, write, record.

The order is chosen so that the cheap checks come first and every Plex request is needed:

1. The inbox row must still be ``queued`` for this job (a redelivered job whose row was already
   completed, parked or delayed is stale and dropped).
2. **Read**: the scene from Stash now (the latest data wins; a deleted scene is dropped).
3. **Short-circuit**: unless forced, ``sync_state`` may already cover this ``updated_at`` (a later
   sync did it), or the desired Plex state's hash may equal the one stored with the binding:
   recorded as synced with ZERO Plex requests.
4. **Match**: the bound item, else the path index (one GET of the item).
5. **Write**: a diff, one PUT if anything differs, a poster upload only if the screenshot's SHA-1
   changed; the sync record and the inbox completion are one transaction.

Plex outages, a refused token and an unreachable Stash are raised to the drain, which stops; every
other problem is decided here (retry later, needs review, failed) and recorded with its reason.
The dry run (``preview``) takes steps 2 and 4 and builds the plan, and writes nothing anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plex.client import call
from plex.errors import PermanentSyncError, PlexItemGone, PlexUnavailable
from plex.mapping import DesiredState, desired_from_scene
from plex.session import PlexSession
from plex.writer import CurrentState, Plan, apply_plan, build_plan, poster_sha1
from queue.inbox import FAILED, QUEUED, REVIEW, Inbox, InboxEntry
from stash import protocol, queries
from stash.graphql import StashError, StashUnavailable
from sync import db
from sync.detector import needs_resync
from sync.error_log import ErrorLog
from sync.state import SyncRecord
from worker import retry
from worker.matching import ItemFinder, Target, rating_key_of
from worker.outcomes import Outcome, Park, RetryLater

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig
    from worker.context import TaskContext

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


def looks_like_image(data: bytes) -> bool:
    """JPEG, PNG, GIF or WebP: anything else (an HTML error page) is not uploaded as a poster."""
    return data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


@dataclass(frozen=True)
class Prefetched:
    """Scenes read from Stash for a batch of jobs: when, and each scene (None = deleted)."""

    fetched_at: float
    scenes: dict[int, dict[str, Any] | None]


@dataclass(frozen=True)
class Prepared:
    """A scene turned into what Plex should show, with the poster bytes and the state's hash."""

    scene: dict[str, Any]
    fetched_at: float
    desired: DesiredState
    screenshot: bytes | None
    screenshot_sha1: str | None
    payload_hash: str

    @property
    def stamp(self) -> str | None:
        return self.scene.get("updated_at")


class Processor:
    """Processes jobs for one drain (one worker thread)."""

    def __init__(self, ctx: TaskContext, config: PlexSyncConfig, plex: PlexSession, *,
                 now: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.config = config
        self.plex = plex
        self.path_map = config.path_rules
        self.now = now

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
        """Process one queued job, with all inbox and sync-state bookkeeping.

        Raises PlexUnavailable (outage), PlexAuthError and StashUnavailable for the drain to stop;
        the job's inbox row is then still ``queued`` and the drain puts it back.
        """
        scene_id = int(job["scene_id"])
        generation = int(job["generation"])
        entry = Inbox(self.ctx.conn).get(scene_id)
        if entry is None or entry.state != QUEUED:
            return Outcome("stale", scene_id, "already handled")
        try:
            return self._sync(scene_id, generation, force=bool(job.get("force")), prefetched=prefetched)
        except RetryLater as wait:
            return self._retry(entry, wait)
        except Park as parked:
            return self._park(entry, generation, parked)

    def preview(self, scene_id: int) -> Outcome:
        """Dry run for one scene: what would change in Plex. Writes nothing, records nothing."""
        scene_id = int(scene_id)
        try:
            scene, fetched_at = self._read(scene_id, None)
            if not scene:
                return Outcome("dry_run", scene_id, "the scene no longer exists in Stash")
            prepared = self._prepare(scene, fetched_at)
            record = self.ctx.sync_state.get(scene_id)
            with _plex_problems():
                target = self._finder(dry_run=True).find(scene_id, prepared.desired, _bound(record))
        except (RetryLater, Park) as problem:
            return Outcome("dry_run", scene_id, problem.reason)
        plan = build_plan(prepared.desired, target.current, preserve_plex_edits=self.config.preserve_plex_edits)
        lines = plan.describe()
        if self._poster_to_upload(prepared, record, target.current) is not None:
            lines.append("    poster: would upload the Stash screenshot")
        return Outcome("dry_run", scene_id, "\n".join(lines), rating_key=target.current.rating_key,
                       plan=plan, plex_requests=target.requests)

    # -- the work ---------------------------------------------------------------------------

    def _sync(self, scene_id: int, generation: int, *, force: bool, prefetched: Prefetched | None) -> Outcome:
        scene, fetched_at = self._read(scene_id, prefetched)
        if not scene:
            return self._deleted(scene_id)
        if not force and not needs_resync(scene_id, scene.get("updated_at"), self.ctx.sync_state):
            self._commit(lambda c: Inbox(c).complete(scene_id, generation))
            return Outcome("covered", scene_id, "a later sync already covered this edit")
        prepared = self._prepare(scene, fetched_at)
        record = self.ctx.sync_state.get(scene_id)
        bound = _bound(record)
        if not force and record is not None and bound is not None and record.payload_hash == prepared.payload_hash:
            self._commit_success(scene_id, generation, bound, prepared, record.poster_hash)
            return Outcome("unchanged", scene_id, "nothing Plex shows changed", rating_key=bound)
        with _plex_problems():
            target = self._finder(dry_run=False).find(scene_id, prepared.desired, bound)
            return self._write(scene_id, generation, prepared, record, target)

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
        desired = desired_from_scene(scene)
        for warning in desired.warnings:
            protocol.warning(warning)
        if not desired.files:
            raise Park(FAILED, "the scene has no file in Stash, so there is nothing to match in Plex")
        screenshot = self._screenshot(desired)
        screenshot_sha1 = poster_sha1(screenshot) if screenshot is not None else None
        payload_hash = desired.payload_hash(
            preserve_plex_edits=self.config.preserve_plex_edits,
            plex_paths=[self.path_map.to_plex(p) for p in desired.files],
            poster=screenshot_sha1,
        )
        return Prepared(scene, fetched_at, desired, screenshot, screenshot_sha1, payload_hash)

    def _finder(self, *, dry_run: bool) -> ItemFinder:
        forget = None if dry_run else self._forget_binding
        return ItemFinder(self.plex, self.path_map, strict_matching=self.config.strict_matching,
                          forget_binding=forget)

    def _forget_binding(self, scene_id: int) -> None:
        self.ctx.sync_state.forget(scene_id)

    def _write(self, scene_id: int, generation: int, prepared: Prepared, record: SyncRecord | None,
               target: Target) -> Outcome:
        current = target.current
        plan = build_plan(prepared.desired, current, preserve_plex_edits=self.config.preserve_plex_edits)
        requests = target.requests
        if plan.needs_write:
            call(f"writing scene {scene_id} to Plex item {current.rating_key}", apply_plan, target.item, plan)
            requests += 1
        poster_hash = _previous_poster(record, current)
        upload = self._poster_to_upload(prepared, record, current)
        if upload is not None:
            call(f"uploading the poster of scene {scene_id} to Plex item {current.rating_key}",
                 target.item.uploadPoster, filepath=upload)
            requests += 1
            poster_hash = prepared.screenshot_sha1
        self._commit_success(scene_id, generation, current.rating_key, prepared, poster_hash)
        changes = [c.field for c in plan.changes] + (["poster"] if upload is not None else [])
        self._log_write(scene_id, prepared.desired, current, plan, uploaded=upload is not None)
        return Outcome("written" if changes else "unchanged", scene_id, rating_key=current.rating_key,
                       plan=plan, plex_requests=requests, changes=changes)

    def _log_write(self, scene_id: int, desired: DesiredState, current: CurrentState, plan: Plan, *,
                   uploaded: bool) -> None:
        if not plan.changes and not uploaded:
            protocol.debug(f"scene {scene_id}: Plex item {current.rating_key} already matches Stash")
            return
        changed = [c.field for c in plan.changes if not c.lock_only] + (["poster"] if uploaded else [])
        locked = [c.field for c in plan.changes if c.lock_only]
        title = desired.fields.get("title") or current.scalars.get("title")
        protocol.info(
            f"scene {scene_id} → Plex item {current.rating_key} '{title}': "
            + (", ".join(changed) or "no value changed")
            + (f" (locked as they were: {', '.join(locked)})" if locked else "")
        )

    # -- poster ------------------------------------------------------------------------------

    def _poster_to_upload(self, prepared: Prepared, record: SyncRecord | None,
                          current: CurrentState) -> bytes | None:
        """The screenshot bytes when they must be uploaded: new or changed since PlexSync's last
        upload to this item, and not a poster someone chose in Plex under preserve_plex_edits
        (thumb locked, and not the one PlexSync uploaded)."""
        if prepared.screenshot is None or prepared.screenshot_sha1 == _previous_poster(record, current):
            return None
        if self.config.preserve_plex_edits:
            ours = _same_binding(record, current) and record is not None and bool(record.poster_hash)
            if not ours and "thumb" in current.locked:
                return None
        return prepared.screenshot

    def _screenshot(self, desired: DesiredState) -> bytes | None:
        if not desired.screenshot_url:
            return None
        try:
            data = self.ctx.stash.fetch_bytes(desired.screenshot_url)
        except StashUnavailable:
            raise
        except StashError as exc:
            protocol.debug(f"scene {desired.scene_id}: no screenshot to use as poster ({exc})")
            return None
        if not data or not looks_like_image(data):
            protocol.debug(f"scene {desired.scene_id}: the screenshot is not an image; poster left as is")
            return None
        return data

    # -- bookkeeping -------------------------------------------------------------------------

    def _commit(self, work: Callable[[Any], Any]) -> Any:
        return db.transaction(self.ctx.conn, work)

    def _commit_success(self, scene_id: int, generation: int, rating_key: int, prepared: Prepared,
                        poster_hash: str | None) -> None:
        state = self.ctx.sync_state

        def work(c: Any) -> None:
            state.update_success(scene_id, str(rating_key), prepared.stamp, fetched_at=prepared.fetched_at,
                                 payload_hash=prepared.payload_hash, poster_hash=poster_hash, conn=c)
            Inbox(c).complete(scene_id, generation)

        self._commit(work)

    def _deleted(self, scene_id: int) -> Outcome:
        state = self.ctx.sync_state

        def work(c: Any) -> None:
            state.forget(scene_id, conn=c)
            Inbox(c).remove(scene_id)

        self._commit(work)
        protocol.info(f"scene {scene_id} was deleted in Stash; dropped its queued sync")
        return Outcome("deleted", scene_id, "deleted in Stash")

    def _retry(self, entry: InboxEntry, wait: RetryLater) -> Outcome:
        attempts = entry.attempts + 1
        reason = protocol.redact(wait.reason)
        if retry.exhausted(attempts, wait.policy):
            return self._park(entry, entry.generation, Park(FAILED, f"{reason} (gave up after {attempts} attempts)"))
        delay = retry.backoff_delay(attempts, wait.policy)
        not_before = self.now() + delay
        self._commit(lambda c: Inbox(c).retry_later(entry.scene_id, not_before, reason))
        ErrorLog(self.ctx.conn).record(entry.scene_id, f"{reason}; retry {attempts} in {delay:.0f}s")
        protocol.info(f"scene {entry.scene_id}: {reason}; trying again in {human_duration(delay)}")
        return Outcome("retry", entry.scene_id, reason, transient=wait.policy is retry.TRANSIENT)

    def _park(self, entry: InboxEntry, generation: int, parked: Park) -> Outcome:
        reason = protocol.redact(parked.reason)
        self._commit(lambda c: Inbox(c).park(entry.scene_id, generation, parked.state, reason, parked.detail))
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


def _bound(record: SyncRecord | None) -> int | None:
    return rating_key_of(record.plex_item_key) if record is not None else None


def _same_binding(record: SyncRecord | None, current: CurrentState) -> bool:
    return record is not None and _bound(record) == current.rating_key


def _previous_poster(record: SyncRecord | None, current: CurrentState) -> str | None:
    """The poster PlexSync last uploaded to this very item (None after a rebinding)."""
    return record.poster_hash if record is not None and _same_binding(record, current) else None


def human_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
