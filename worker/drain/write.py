"""The write step of one job: the matched item brought to what Stash wants, and recorded.

The item's current values come from the ledger when the index shows the item exactly as PlexSync
left it (no request), else from one GET: always when a person asked for a re-sync (the ledger row
is marked ``ASKED``), after drift, for a new binding, and while PlexSync's last write is not yet
verified by a look made after its second. The diff goes out as one PUT (people new on the item get
their photos planned after it), the poster only if the screenshot changed; the sync record, the
ledger row and the inbox completion are one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plex.current import CurrentState, from_ledger, photo_hash
from plex.mapping import DesiredState
from plex.session import PlexSession
from plex.writer import ALLOWED, Plan, build_plan
from queue.inbox_tasks import TaskInbox
from stash import protocol
from sync import db
from sync.ledger import Ledger, LedgerEntry
from sync.state import SyncRecord
from worker.drain.matching import Target
from worker.drain.outcomes import Outcome

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig
    from worker.context import TaskContext
    from worker.drain.group_collections import GroupCollectionWriter


@dataclass(frozen=True)
class Prepared:
    """A scene turned into what Plex should show, with the poster bytes and the hashes."""

    scene: dict[str, Any]
    fetched_at: float
    desired: DesiredState
    screenshot: bytes | None
    screenshot_sha1: str | None
    fields_hash: str  # the values Stash wants (what Sync all compares, without the poster)
    payload_hash: str  # the same with the poster: equal means nothing to write

    @property
    def stamp(self) -> str | None:
        return self.scene.get("updated_at")


@dataclass(frozen=True)
class Look:
    """The item's values as the write starts from them, what finding them cost, and when the
    look that showed its ``updatedAt`` was asked for (the ledger's, or the GET's)."""

    current: CurrentState
    requests: int  # 0: from the ledger; 1: one GET
    seen_at: float | None


def same_item(entry: LedgerEntry | None, target: Target) -> LedgerEntry | None:
    """The ledger row if it is about this very item (a rebinding starts from nothing)."""
    return entry if entry is not None and entry.rating_key == target.rating_key else None


class WriteStep:
    """Writes matched scenes for one drain (or plans them for a dry run)."""

    def __init__(self, ctx: TaskContext, config: PlexSyncConfig, plex: PlexSession, *,
                 collections: GroupCollectionWriter, now: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.config = config
        self.plex = plex
        self.collections = collections  # the groups' collections, written once at the drain's end
        self.now = now

    def look(self, target: Target, entry: LedgerEntry | None, desired: DesiredState, *,
             read_plex: bool = False) -> Look:
        """The item's values: from the ledger when it can tell (no request), else one GET.
        ``read_plex``: always ask Plex (a re-sync's dry run)."""
        if not read_plex and entry is not None and self._ledger_knows(entry, target, desired):
            assert entry.written is not None and entry.photos is not None
            return Look(from_ledger(target.rating_key, target.item_type, target.section_key,
                                    self.plex.index.files_of(target.rating_key), entry.written, entry.photos,
                                    entry.item_updated_at), 0, entry.seen_at)
        asked_at = self.now()
        return Look(self.plex.fetch(target.rating_key), 1, asked_at)

    def _ledger_knows(self, entry: LedgerEntry, target: Target, desired: DesiredState) -> bool:
        """Is the item still exactly as PlexSync left it (a look after the second of its last write
        said so, and nobody asked to look again), did PlexSync write every field in question, and
        would no actor photo change? Then the ledger is the item's state and no GET is needed.
        (A photo changed in Plex moves no item's updatedAt: before replacing one, look.)"""
        if entry.drift is not None or not entry.verified or entry.item_updated_at != target.updated_at:
            return False
        if entry.written is None or entry.photos is None or (self.config.preserve_plex_edits and entry.kept):
            return False
        allowed = ALLOWED.get(target.item_type, ALLOWED["episode"])
        fields_known = all(name in entry.written for name in desired.fields if name in allowed)
        return fields_known and all(entry.photos.get(name) == photo_hash(url) for name, url in desired.photos.items())

    def plan(self, desired: DesiredState, current: CurrentState, entry: LedgerEntry | None) -> Plan:
        return build_plan(desired, current, preserve_plex_edits=self.config.preserve_plex_edits,
                          written=entry.written if entry is not None else None,
                          photos_set=entry.photos if entry is not None else None)

    def write(self, scene_id: int, generation: int, prepared: Prepared, record: SyncRecord | None,
              entry: LedgerEntry | None, target: Target) -> Outcome:
        """Write what differs to the target item and record it; raises what Plex raised."""
        if entry is not None and entry.rating_key != target.rating_key:
            protocol.info(f"scene {scene_id}: its Plex item {entry.rating_key} is gone or no longer the "
                          f"scene's file; its file is now Plex item {target.rating_key} ({target.matched_by} match)")
        same = same_item(entry, target)
        look = self.look(target, same, prepared.desired)
        current, requests = look.current, look.requests
        plan = self.plan(prepared.desired, current, same)
        if plan.needs_write:
            self.plex.write(plan, target.section_key)
            requests += 1
            if plan.photos_pending:
                plan, more = self._pending_photos(plan, prepared.desired, target, same)
                requests += more
        poster_hash = _previous_poster(record, current)
        upload = self.poster_to_upload(prepared, record, current)
        if upload is not None:
            self.plex.upload_poster(current.rating_key, upload)
            requests += 1
            poster_hash = prepared.screenshot_sha1
        wrote = plan.needs_write or upload is not None
        self._commit(scene_id, generation, prepared, target, look, same, plan, poster_hash, wrote)
        self.collections.note(prepared.scene, target.section_key, plan)
        changes = [c.field for c in plan.changes] + (["poster"] if upload is not None else [])
        self._log_write(scene_id, prepared.desired, current, plan, uploaded=upload is not None)
        if plan.kept and (same is None or sorted(same.kept) != sorted(plan.kept)):
            protocol.info(f"scene {scene_id}: kept what a person set in Plex item {current.rating_key} "
                          f"(preserve_plex_edits): {', '.join(plan.kept)}")
        return Outcome("written" if changes else "unchanged", scene_id, rating_key=current.rating_key,
                       plan=plan, plex_requests=requests, changes=changes, stamp=prepared.stamp)

    def _pending_photos(self, plan: Plan, desired: DesiredState, target: Target,
                        same: LedgerEntry | None) -> tuple[Plan, int]:
        """People the write just put on the item: Plex shows their photo (one per person, server-wide)
        only now, so their photos are planned on the item as it is now: one GET, a PUT if needed."""
        current = self.plex.fetch(target.rating_key)
        written, photos = _owned_before(same)
        later = build_plan(desired, current, preserve_plex_edits=self.config.preserve_plex_edits,
                           written={**written, **plan.in_plex}, photos_set={**photos, **plan.photo_hashes})
        if later.needs_write:
            self.plex.write(later, target.section_key)
        return plan.followed_by(later), 1 + int(later.needs_write)

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

    def poster_to_upload(self, prepared: Prepared, record: SyncRecord | None,
                         current: CurrentState) -> bytes | None:
        """The screenshot bytes when they must be uploaded: new or changed since PlexSync's last
        upload to this item, and not a poster someone chose in Plex under preserve_plex_edits
        (thumb locked, and not the one PlexSync uploaded)."""
        if prepared.screenshot is None or prepared.screenshot_sha1 == _previous_poster(record, current):
            return None
        if self.config.preserve_plex_edits:
            ours = record is not None and _same_binding(record, current) and bool(record.poster_hash)
            if not ours and "thumb" in current.locked:
                return None
        return prepared.screenshot

    def _commit(self, scene_id: int, generation: int, prepared: Prepared, target: Target, look: Look,
                same: LedgerEntry | None, plan: Plan, poster_hash: str | None, wrote: bool) -> None:
        state = self.ctx.sync_state
        current = look.current
        written, photos_before = _owned_before(same)
        written = plan.owned_after(written)
        # The photos PlexSync set that Plex still shows stay its own, also while Stash has no image.
        photos = {**{name: value for name, value in photos_before.items() if current.photos.get(name) == value},
                  **plan.photo_hashes}

        def work(c: Any) -> None:
            state.update_success(scene_id, str(current.rating_key), prepared.stamp,
                                 fetched_at=prepared.fetched_at, payload_hash=prepared.payload_hash,
                                 poster_hash=poster_hash, conn=c)
            Ledger(c).record(
                scene_id, rating_key=current.rating_key, section_key=target.section_key,
                item_type=current.item_type, plex_path=target.plex_path, matched_file=target.matched_file,
                matched_by=target.matched_by, written=written, photos=photos,
                fields_hash=prepared.fields_hash, kept=plan.kept, item_updated_at=current.updated_at,
                seen_at=look.seen_at, wrote=wrote,
            )
            TaskInbox(c).complete(scene_id, generation)

        db.transaction(self.ctx.conn, work)


def _same_binding(record: SyncRecord | None, current: CurrentState) -> bool:
    return record is not None and record.rating_key == str(current.rating_key)


def _owned_before(same: LedgerEntry | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The values and actor photos the ledger says PlexSync put on this item (none if unknown)."""
    return ((same.written or {}) if same is not None else {}), ((same.photos or {}) if same is not None else {})


def _previous_poster(record: SyncRecord | None, current: CurrentState) -> str | None:
    """The poster PlexSync last uploaded to this very item (None after a rebinding)."""
    return record.poster_hash if record is not None and _same_binding(record, current) else None
