"""Renames: a performer, tag, studio or group changed, so every scene that carries it may show
something else in Plex. Stash fires no scene hook for those, and a rename leaves the scenes'
``updated_at`` alone, so the scenes are queued forced. Loaded only for these hook types.

The settings decide which other edits count (``sync.meta.HookFlags``, noted by the last task):
with performer photos on, a performer's new image (``inputFields`` ``["id", "image"]``) queues
the performer's scenes, whose drain writes only the new actor photo; with excluded or label tags,
a tag moved in the hierarchy reaches every scene below it; with studio collections, a studio moved
under another (or renamed) reaches its sub-studios' scenes too; with an organized label, marking a
scene organized counts. A group's synopsis or front image always counts (its Plex collection
shows them; the drain writes the collection, not the scenes). Off (or no task yet) is a skip that
costs one read.
"""

from __future__ import annotations

import sqlite3

from hooks.handlers import HOOK_GRAPHQL_TIMEOUT_S, HookOutcome, request_drain
from queue.lease import claim_wake, enqueue_scenes
from stash import protocol, queries
from stash.graphql import StashClient, StashError, StashUnavailable
from stash.paging import pages
from sync import db

SCENES_CARRYING = {
    "Performer.Update.Post": queries.SCENES_WITH_PERFORMER,
    "Tag.Update.Post": queries.SCENES_WITH_TAG,
    "Studio.Update.Post": queries.SCENES_WITH_STUDIO,
    "Group.Update.Post": queries.SCENES_WITH_GROUP,
}
RELATED_PAGE = 500
HIERARCHY_FLAGS = ("tag_tree", "studio_tree")  # settings under which a place in the hierarchy shows
# Input fields that change what Plex shows, beyond the name, and the flag that makes them count.
WATCHED = {
    "Performer.Update.Post": (("image",), "photos"),
    "Tag.Update.Post": (("parent_ids", "child_ids"), "tag_tree"),
    "Studio.Update.Post": (("parent_id",), "studio_tree"),
    "Group.Update.Post": (("synopsis", "front_image"), None),
}


def _flags(conn: sqlite3.Connection) -> dict[str, bool]:
    from sync.meta import HookFlags

    return HookFlags(conn).load()


def on_related_update(
    hook_type: str, object_id: int, input_fields: list | None, conn: sqlite3.Connection, stash: StashClient | None
) -> HookOutcome:
    """A performer, tag, studio or group was renamed (or edited in a way Plex shows: a new image
    with photos on, a hierarchy the settings make visible): queue every scene that carries it (and,
    where the settings make the hierarchy show, every scene below it)."""
    watched, flag = WATCHED.get(hook_type, ((), None))
    flags = _flags(conn) if flag is not None else {}
    fields = set(input_fields) if input_fields is not None else None
    if fields is not None and "name" not in fields and not (
            fields & set(watched) and (flag is None or flags.get(flag))):
        if flag == "photos" and "image" in fields:
            return HookOutcome("skipped", "new image, but performer_photos is off (or no task has run since "
                                          "it was turned on: the next run's catch-up looks)")
        return HookOutcome("skipped", "name unchanged")
    new_image = flag == "photos" and flags.get("photos") and "image" in (fields or ())
    if new_image:
        from sync.performer_images import PerformerImages

        PerformerImages(conn).forget(object_id)  # read the image again, even within the same second
    if stash is None:
        return HookOutcome("skipped", "Stash unreachable")
    document = SCENES_CARRYING[hook_type]
    variables: dict = {"ids": [str(object_id)]}
    if flag in HIERARCHY_FLAGS and flags.get(flag):
        variables["depth"] = -1  # sub-tags / sub-studios share the edited one's place in Plex
    scenes: list[tuple[int, str | None]] = []
    try:
        for batch, _, _ in pages(stash, document, variables, "findScenes", "scenes",
                                 per_page=RELATED_PAGE, timeout=HOOK_GRAPHQL_TIMEOUT_S * 3):
            scenes.extend((int(s["id"]), s.get("updated_at")) for s in batch)
    except (StashUnavailable, StashError) as exc:
        protocol.warning(
            f"{hook_type} {object_id}: could not list its scenes ({exc}); run 'Sync recent changes' later"
        )
        return HookOutcome("skipped", "Stash unreachable")
    if not scenes:
        if hook_type == "Tag.Update.Post" and flags.get("tag_tree") and fields and fields & set(watched):
            # Sub-tags taken away from this tag keep their rows untouched: only the drain's
            # catch-up (which compares the tag roles) finds their scenes. Start one.
            wake = db.transaction(conn, lambda c: claim_wake(c))
            requested = request_drain(conn, stash) if wake else False
            return HookOutcome("skipped", "no scenes carry it; the drain checks the tag hierarchy",
                               (), requested)
        return HookOutcome("skipped", "no scenes carry it")
    # A rename leaves the scenes' updated_at alone, so the worker's timestamp check would call
    # them synced: force them (an unchanged one still costs no write, only a read).
    wake = enqueue_scenes(conn, scenes, reason=hook_type.split(".")[0].lower(), force=True)
    requested = request_drain(conn, stash) if wake else False
    what = "its new image" if new_image and "name" not in (fields or ()) else "it"
    return HookOutcome("queued", f"{len(scenes)} scene(s) carry {what}", tuple(i for i, _ in scenes), requested)
