"""Plex collections that look like their Stash groups: summary = the group's synopsis, poster =
its front image.

A group's collection is one Plex item for all of its scenes, so it is not written with each scene:
the drain notes the groups of the scenes it wrote and, once nothing is in hand, reads those groups
in one request and writes each collection that needs it (``sync.collections`` remembers what was
written). A collection is looked at again only when its group changed in Stash (``updated_at``,
name), a scene just joined it (Plex may have made it anew), or it was never written; the front
image is downloaded then, and uploaded only when its bytes differ from the last upload. *Sync all*
checks every group the same way, so groups edited while the plugin was off converge too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plex.collections import ListedCollection, list_collections, upload_poster, write_summary
from plex.errors import PlexError
from plex.mapping import clean_line, clean_summary
from plex.session import PlexSession
from plex.writer import Plan, poster_sha1
from stash import protocol, queries
from stash.graphql import StashError
from stash.paging import pages
from sync.collections import GroupCollection, GroupCollections
from sync.ledger import Ledger
from worker.context import TaskContext
from worker.drain.images import fetch_image

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig

GROUPS_PAGE = 500


class GroupCollectionWriter:
    """One task's group collections: groups noted from written scenes, written on ``flush``."""

    def __init__(self, ctx: TaskContext, plex: PlexSession, config: PlexSyncConfig) -> None:
        self.ctx = ctx
        self.plex = plex
        self.enabled = "collection" not in config.skipped_fields
        self.preserve = config.preserve_plex_edits
        self.noted: dict[int, set[int]] = {}  # group id -> libraries whose items carry its collection
        self.forced: set[tuple[int, int]] = set()  # (group, library) a scene just joined
        self.writes = 0

    def note(self, scene: dict[str, Any], section_key: int | None, plan: Plan | None = None) -> None:
        """The scene's item (in library ``section_key``) carries its groups' collections now."""
        if not self.enabled or section_key is None:
            return
        joined: set[str] = set()
        for change in plan.changes if plan is not None else ():
            if change.field == "collection" and isinstance(change.new, list):
                joined |= set(change.new) - set(change.old or [])
        for group in _groups(scene):
            group_id = int(group["id"])
            self.noted.setdefault(group_id, set()).add(int(section_key))
            if clean_line(group.get("name")) in joined:
                self.forced.add((group_id, int(section_key)))

    def flush(self) -> int:
        """Write the collections of the groups noted since the last flush; the writes made."""
        if not self.noted:
            return 0
        noted, forced = self.noted, self.forced
        self.noted, self.forced = {}, set()
        ids = sorted(noted)
        groups: list[dict[str, Any]] = []
        for start in range(0, len(ids), GROUPS_PAGE):
            chunk = [str(i) for i in ids[start : start + GROUPS_PAGE]]
            data = self.ctx.stash.execute(queries.GROUPS_BY_IDS, {"ids": chunk, "per_page": len(chunk)})
            groups += (data.get("findGroups") or {}).get("groups") or []
        return self.sync(groups, noted, forced)

    def sync(self, groups: list[dict[str, Any]], libraries: dict[int, set[int]],
             forced: set[tuple[int, int]] | None = None) -> int:
        """Bring each group's collection in each of its libraries up to date; the writes made.

        Costs nothing in Plex when every one was written from the group as it is now; otherwise
        one collections listing per library involved, and per collection at most one summary edit
        and one poster upload.
        """
        store = GroupCollections(self.ctx.conn)
        rows = store.rows_for(int(g["id"]) for g in groups)
        todo = [(group, section, rows.get((int(group["id"]), section)))
                for group in groups for section in sorted(libraries.get(int(group["id"]), ()))]
        todo = [(g, s, row) for g, s, row in todo
                if (int(g["id"]), s) in (forced or set()) or row is None or row.name != clean_line(g.get("name"))
                or row.group_updated_at != g.get("updated_at")]
        before = self.writes
        listings: dict[int, dict[str, ListedCollection]] = {}
        images: dict[int, bytes | None] = {}
        for group, section, row in todo:
            if section not in listings:
                listings[section] = list_collections(self.plex.http, section)
            listed = listings[section].get(clean_line(group.get("name")))
            if listed is not None:  # no item carries it (yet): nothing to dress
                store.record([self._carry(group, section, row, listed, images)])
        if self.writes > before:
            protocol.info(f"group collections: {self.writes - before} change(s) written to Plex collections")
        return self.writes - before

    def _carry(self, group: dict[str, Any], section: int, row: GroupCollection | None, listed: ListedCollection,
               images: dict[int, bytes | None]) -> GroupCollection:
        """Give one collection its group's synopsis and front image; the row to remember."""
        group_id = int(group["id"])
        same_item = row is not None and row.collection_key == listed.rating_key
        ours = row.summary if same_item and row is not None else None
        summary = clean_summary(group.get("synopsis"))
        person_edited = ours is not None and listed.summary != ours
        if listed.summary != summary and (summary or listed.summary == ours) \
                and not (self.preserve and person_edited):
            write_summary(self.plex.http, section, listed.rating_key, summary)
            self.writes += 1
            ours = summary
        elif listed.summary == summary:
            ours = summary
        poster = row.poster_sha1 if same_item and row is not None else None
        if group_id not in images:
            images[group_id] = fetch_image(self.ctx.stash, group.get("front_image_path"), f"group {group_id}")
        data = images[group_id]
        if data is not None and poster_sha1(data) != poster:
            upload_poster(self.plex.http, listed.rating_key, data)
            self.writes += 1
            poster = poster_sha1(data)
        return GroupCollection(group_id, section, listed.rating_key, clean_line(group.get("name")), ours, poster,
                               group.get("updated_at"))


def check_every_group(ctx: TaskContext) -> int:
    """*Sync all*'s pass over the groups: every group's collection in every library PlexSync
    writes to is checked against the group as it is now (a group edited with no hook included)."""
    config = ctx.config
    if "collection" in config.skipped_fields:
        return 0
    sections = Ledger(ctx.conn).section_keys()
    if not sections:
        return 0
    groups = [row for rows, _, _ in pages(ctx.stash, queries.ALL_GROUPS, {}, "findGroups", "groups",
                                          per_page=GROUPS_PAGE) for row in rows]
    if not groups:
        return 0
    session = PlexSession(config, ctx.data_dir)
    try:
        writer = GroupCollectionWriter(ctx, session, config)
        return writer.sync(groups, {int(g["id"]): set(sections) for g in groups})
    except (PlexError, StashError) as exc:
        protocol.warning(f"the groups' Plex collections were not all checked ({exc}); the next Sync all tries again")
        return 0
    finally:
        session.close()


def _groups(scene: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for entry in scene.get("groups") or ():
        group = entry.get("group") if isinstance(entry, dict) else None
        if isinstance(group, dict) and str(group.get("id") or "").isdigit():
            found.append(group)
    return found
