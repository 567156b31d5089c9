"""Processing one job: read the scene, decide whether Plex needs anything, match, write, record.

The order is chosen so that the cheap checks come first and every Plex request is needed:

1. The inbox row must still be ``queued`` for this job (a redelivered job whose row was already
   completed, parked or delayed is stale and dropped).
2. The scene is read from Stash now (the latest data wins; a deleted scene is dropped).
3. Unless forced, ``sync_state`` may already cover this ``updated_at`` (a later sync did it).
4. The desired Plex state is computed and hashed; equal to the hash stored with the binding and
   not forced → recorded as synced with ZERO Plex requests.
5. Otherwise: the bound item, else the path index (one GET of the item), a diff, one PUT if
   anything differs, a poster upload only if the screenshot's SHA-1 changed.
6. The sync record and the inbox completion are one transaction.

Plex outages, a refused token and an unreachable Stash are raised to the drain, which stops; every
other problem is decided here (retry later, needs review, failed) and recorded with its reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plex.client import call, connect
from plex.errors import PermanentSyncError, PlexError, PlexItemGone, PlexUnavailable
from plex.index import PlexIndex
from plex.matcher import (
    MatchConfidence,
    best_candidate,
    find_candidates,
    item_has_scene_file,
    score_match_confidence,
)
from plex.writer import (
    CurrentState,
    DesiredState,
    Plan,
    apply_plan,
    build_plan,
    desired_from_scene,
    poster_sha1,
    read_item,
)
from queue.inbox import Inbox, InboxEntry
from stash import protocol, queries
from stash.graphql import StashError, StashUnavailable
from sync import db
from sync.detector import needs_resync
from worker import retry
from worker.status import record_error

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig
    from worker.context import TaskContext

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


def rating_key_of(value: Any) -> int | None:
    """The rating key in a stored binding: ``"1234"`` or ``"/library/metadata/1234"``."""
    if value is None:
        return None
    text = str(value).rstrip("/").rsplit("/", 1)[-1]
    return int(text) if text.isdigit() else None


def looks_like_image(data: bytes) -> bool:
    """JPEG, PNG, GIF or WebP: anything else (an HTML error page) is not uploaded as a poster."""
    return data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


class PlexSession:
    """The drain's Plex connection and path index, opened on first need.

    A drain whose jobs are all unchanged never connects: zero Plex requests. The first job that
    needs Plex pays for the connection (``GET /``) and the section check (``GET /library``,
    ``GET /library/sections``), once per drain; the index re-lists only changed sections.
    """

    def __init__(self, config: PlexSyncConfig, data_dir: Any, **timeouts: float) -> None:
        self.config = config
        self.data_dir = data_dir
        self.timeouts = timeouts
        self._server: Any = None
        self._index: PlexIndex | None = None

    @property
    def connected(self) -> bool:
        return self._server is not None

    @property
    def server(self) -> Any:
        if self._server is None:
            try:
                server = connect(self.config, self.data_dir, **self.timeouts)
                index = PlexIndex(self.data_dir)
                try:
                    index.refresh(server, self.config.libraries)
                except BaseException:
                    index.close()
                    raise
            except PlexUnavailable as exc:
                # A 5xx on the connection or the library listing is the server failing, not
                # this scene: an outage (no attempt counted), or a long one dead-letters scenes.
                exc.outage = True
                raise
            self._server, self._index = server, index
        return self._server

    @property
    def index(self) -> PlexIndex:
        self.server  # noqa: B018 - connects and refreshes the index on first use
        assert self._index is not None
        return self._index

    def fetch_item(self, rating_key: int) -> Any:
        """One GET of the item (``/library/metadata/{rk}``); PlexItemGone on 404."""
        server = self.server
        item = call(f"reading Plex item {rating_key}", server.fetchItem, int(rating_key))
        item._autoReload = False
        return item

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        if self._server is not None:
            try:
                self._server._session.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            self._server = None


@dataclass(frozen=True)
class Prefetched:
    """Scenes read from Stash for a batch of jobs: when, and each scene (None = deleted)."""

    fetched_at: float
    scenes: dict[int, dict[str, Any] | None]


@dataclass
class Outcome:
    """What happened to one job; ``kind`` drives the drain's counters and summary."""

    kind: str  # written | unchanged | covered | deleted | stale | review | failed | retry | dry_run
    scene_id: int
    message: str = ""
    rating_key: int | None = None
    plan: Plan | None = None
    plex_requests: int = 0
    transient: bool = False
    changes: list[str] = field(default_factory=list)


class _Retry(Exception):
    """Internal: this scene should be tried again later (policy, reason)."""

    def __init__(self, policy: retry.Policy, reason: str) -> None:
        super().__init__(reason)
        self.policy = policy
        self.reason = reason


class _Park(Exception):
    """Internal: this scene goes to the failed or needs-review list."""

    def __init__(self, state: str, reason: str, detail: dict | None = None) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.detail = detail


class Processor:
    """Processes jobs for one drain (one worker thread)."""

    def __init__(self, ctx: TaskContext, config: PlexSyncConfig, plex: PlexSession, *,
                 now: Any = time.time) -> None:
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
        conn = self.ctx.conn
        entry = Inbox(conn).get(scene_id)
        if entry is None or entry.state != "queued":
            return Outcome("stale", scene_id, "already handled")
        try:
            return self._sync(scene_id, generation, entry, force=bool(job.get("force")),
                              prefetched=prefetched)
        except _Retry as wait:
            return self._retry(entry, wait)
        except _Park as parked:
            return self._park(entry, generation, parked)

    def preview(self, scene_id: int) -> Outcome:
        """Dry run for one scene: what would change in Plex. Writes nothing, records nothing."""
        try:
            return self._sync(int(scene_id), None, None, force=True, dry_run=True)
        except (_Retry, _Park) as problem:
            return Outcome("dry_run", int(scene_id), problem.reason)

    # -- the work ---------------------------------------------------------------------------

    def _sync(self, scene_id: int, generation: int | None, entry: InboxEntry | None, *,
              force: bool, dry_run: bool = False, prefetched: Prefetched | None = None) -> Outcome:
        if prefetched is not None and scene_id in prefetched.scenes:
            fetched_at, scene = prefetched.fetched_at, prefetched.scenes[scene_id]
        else:
            fetched_at = self.now()
            try:
                data = self.ctx.stash.execute(queries.FIND_SCENE, {"id": str(scene_id)})
            except StashUnavailable:
                raise
            except StashError as exc:
                raise _Retry(retry.TRANSIENT, f"reading the scene from Stash failed: {exc}") from None
            scene = data.get("findScene")
        if not scene:
            if dry_run:
                return Outcome("dry_run", scene_id, "the scene no longer exists in Stash")
            return self._deleted(scene_id)
        stamp = scene.get("updated_at")

        if not dry_run and not force and not needs_resync(scene_id, stamp, self.ctx.sync_state):
            self._commit(lambda c: Inbox(c).complete(scene_id, generation))
            return Outcome("covered", scene_id, "a later sync already covered this edit")

        desired = desired_from_scene(scene)
        for warning in desired.warnings:
            protocol.warning(warning)
        if not desired.files:
            raise _Park("failed", "the scene has no file in Stash, so there is nothing to match in Plex")
        mapped = [self.path_map.to_plex(p) for p in desired.files]
        screenshot = self._screenshot(desired)
        screenshot_sha1 = poster_sha1(screenshot) if screenshot is not None else None
        payload_hash = desired.payload_hash(
            preserve_plex_edits=self.config.preserve_plex_edits, plex_paths=mapped,
            poster=screenshot_sha1,
        )
        record = self.ctx.sync_state.get(scene_id)
        if (
            not dry_run and not force and record is not None
            and rating_key_of(record.plex_item_key) is not None
            and record.payload_hash == payload_hash
        ):
            self._commit_success(scene_id, generation, record.plex_item_key, stamp, fetched_at,
                                 payload_hash, record.poster_hash)
            return Outcome("unchanged", scene_id, "nothing Plex shows changed",
                           rating_key=rating_key_of(record.plex_item_key))

        requests = 0
        try:
            item, current, requests = self._match(scene_id, desired, record, dry_run=dry_run)
            plan = build_plan(desired, current, preserve_plex_edits=self.config.preserve_plex_edits)
            same_binding = record is not None and rating_key_of(record.plex_item_key) == current.rating_key
            previous_poster = record.poster_hash if (record is not None and same_binding) else None
            upload = (
                screenshot is not None and screenshot_sha1 != previous_poster
                and self._poster_allowed(record, current, same_binding)
            )
            if dry_run:
                lines = plan.describe()
                if upload:
                    lines.append("    poster: would upload the Stash screenshot")
                return Outcome("dry_run", scene_id, "\n".join(lines), rating_key=current.rating_key,
                               plan=plan, plex_requests=requests)
            if plan.needs_write:
                call(f"writing scene {scene_id} to Plex item {current.rating_key}", apply_plan, item, plan)
                requests += 1
            poster_hash = previous_poster
            if upload:
                call(f"uploading the poster of scene {scene_id} to Plex item {current.rating_key}",
                     item.uploadPoster, filepath=screenshot)
                requests += 1
                poster_hash = screenshot_sha1
            elif screenshot_sha1 is not None and screenshot_sha1 == previous_poster:
                poster_hash = screenshot_sha1
            uploaded = upload
        except PlexItemGone as exc:
            raise _Retry(retry.TRANSIENT, f"the Plex item disappeared while writing ({exc})") from None
        except PermanentSyncError as exc:
            raise _Park("failed", str(exc)) from None
        except PlexUnavailable as exc:
            if exc.outage:
                raise
            raise _Retry(retry.TRANSIENT, str(exc)) from None

        self._commit_success(scene_id, generation, current.rating_key, stamp, fetched_at,
                             payload_hash, poster_hash)
        changes = [c.field for c in plan.changes] + (["poster"] if uploaded else [])
        kind = "written" if changes else "unchanged"
        if changes:
            changed = [c.field for c in plan.changes if not c.lock_only] + (["poster"] if uploaded else [])
            locked = [c.field for c in plan.changes if c.lock_only]
            title = desired.fields.get("title") or current.scalars.get("title")
            protocol.info(
                f"scene {scene_id} → Plex item {current.rating_key} '{title}': "
                + (", ".join(changed) or "no value changed")
                + (f" (locked as they were: {', '.join(locked)})" if locked else "")
            )
        else:
            protocol.debug(f"scene {scene_id}: Plex item {current.rating_key} already matches Stash")
        return Outcome(kind, scene_id, rating_key=current.rating_key, plan=plan,
                       plex_requests=requests, changes=changes)

    def _match(self, scene_id: int, desired: DesiredState, record: Any, *,
               dry_run: bool) -> tuple[Any, CurrentState, int]:
        """The Plex item for the scene, its current state, and the Plex requests it took.

        The stored binding first (one GET); a 404 on it drops the binding and matches again,
        once. Then the index: exact mapped path, else file name; LOW confidence per the
        ``strict_matching`` setting; nothing → retry later (Plex may not have scanned yet).
        """
        requests = 0
        bound = rating_key_of(record.plex_item_key) if record is not None else None
        if bound:
            try:
                item = self.plex.fetch_item(bound)
                requests += 1
                current = read_item(item)
                if item_has_scene_file(current.files, desired.files, self.path_map):
                    return item, current, requests
                protocol.info(
                    f"scene {scene_id}: Plex item {bound} no longer has the scene's file; matching again"
                )
            except PlexItemGone:
                requests += 1
                protocol.info(f"scene {scene_id}: its Plex item {bound} is gone (404); matching again")
                if not dry_run:
                    db.with_retry(lambda: self.ctx.sync_state.forget(scene_id))

        index = self.plex.index
        for attempt in range(2):
            candidates = find_candidates(index, desired.files, self.path_map)
            if not candidates:
                if attempt == 0 and index.refresh_after_miss(self.plex.server):
                    continue
                raise _Retry(retry.NOT_FOUND, self._not_found_reason(desired))
            confidence, chosen = score_match_confidence(candidates, desired.files[0])
            if confidence is MatchConfidence.LOW and attempt == 0 and index.relist_all_once(self.plex.server):
                continue  # two items for one file may be a stale row: list everything once
            if confidence is MatchConfidence.LOW:
                paths = [c.display_path for c in candidates]
                stash_path = candidates[0].stash_path
                if self.config.strict_matching:
                    raise _Park(
                        "review",
                        f"{len(candidates)} Plex items could be this scene's file (strict_matching is on)",
                        {"stash_path": stash_path, "candidates": paths},
                    )
                chosen = best_candidate(candidates)
                others = [c.display_path for c in candidates if c is not chosen]
                protocol.warning(
                    f"scene {scene_id}: {len(candidates)} Plex items match {stash_path}; writing "
                    f"{chosen.display_path} (item {chosen.rating_key}), not: {'; '.join(others)}"
                )
            assert chosen is not None
            try:
                item = self.plex.fetch_item(chosen.rating_key)
                return item, read_item(item), requests + 1
            except PlexItemGone:
                requests += 1
                # The index is older than Plex: list again (once per drain) and retry the match.
                if attempt == 0 and index.relist_all_once(self.plex.server):
                    continue
                raise _Retry(retry.NOT_FOUND, f"Plex item {chosen.rating_key} for "
                             f"{chosen.display_path} is gone; waiting for Plex to rescan") from None
        raise _Retry(retry.NOT_FOUND, self._not_found_reason(desired))

    def _not_found_reason(self, desired: DesiredState) -> str:
        mapped = self.path_map.to_plex(desired.files[0])
        libraries = ", ".join(f"'{s.title}'" for s in self.plex.index.sections) or "none"
        more = f" (and {len(desired.files) - 1} more file(s))" if len(desired.files) > 1 else ""
        return (
            f"no Plex item has the file {mapped}{more}, by full path or by file name, in the "
            f"libraries {libraries}; check path_map and that Plex has scanned the folder"
        )

    # -- poster ------------------------------------------------------------------------------

    def _poster_allowed(self, record: Any, current: CurrentState, same_binding: bool) -> bool:
        """Under preserve_plex_edits a poster someone chose in Plex (thumb locked) is kept,
        unless it is the one PlexSync uploaded."""
        if not self.config.preserve_plex_edits:
            return True
        ours = same_binding and record is not None and bool(record.poster_hash)
        return ours or "thumb" not in current.locked

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

    def _commit(self, work: Any) -> Any:
        return db.transaction(self.ctx.conn, work)

    def _commit_success(self, scene_id: int, generation: int | None, item_key: Any, stamp: str | None,
                        fetched_at: float, payload_hash: str, poster_hash: str | None) -> None:
        state = self.ctx.sync_state

        def work(c: Any) -> None:
            state.update_success(scene_id, str(item_key), stamp, fetched_at=fetched_at,
                                 payload_hash=payload_hash, poster_hash=poster_hash, conn=c)
            if generation is not None:
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

    def _retry(self, entry: InboxEntry, wait: _Retry) -> Outcome:
        attempts = entry.attempts + 1
        reason = protocol.redact(wait.reason)
        if retry.exhausted(attempts, wait.policy):
            return self._park(entry, entry.generation, _Park(
                "failed", f"{reason} (gave up after {attempts} attempts)"))
        delay = retry.backoff_delay(attempts, wait.policy)
        not_before = self.now() + delay
        self._commit(lambda c: Inbox(c).retry_later(entry.scene_id, not_before, reason))
        record_error(self.ctx.conn, entry.scene_id, f"{reason}; retry {attempts} in {delay:.0f}s")
        protocol.info(f"scene {entry.scene_id}: {reason}; trying again in {_human(delay)}")
        return Outcome("retry", entry.scene_id, reason, transient=wait.policy is retry.TRANSIENT)

    def _park(self, entry: InboxEntry, generation: int, parked: _Park) -> Outcome:
        reason = protocol.redact(parked.reason)
        self._commit(lambda c: Inbox(c).park(entry.scene_id, generation, parked.state, reason, parked.detail))
        record_error(self.ctx.conn, entry.scene_id, reason)
        if parked.state == "review":
            candidates = (parked.detail or {}).get("candidates", [])
            protocol.warning(
                f"scene {entry.scene_id}: needs review: {reason}: {'; '.join(candidates)}"
            )
        else:
            protocol.warning(f"scene {entry.scene_id}: failed: {reason}")
        return Outcome(parked.state, entry.scene_id, reason)


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["Outcome", "PlexSession", "Prefetched", "Processor", "PlexError", "looks_like_image"]
