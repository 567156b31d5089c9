"""Renames: a performer, tag, studio or group changed, so every scene that carries it may show
something else in Plex. Stash fires no scene hook for those, and a rename leaves the scenes'
``updated_at`` alone, so the scenes are queued forced. Loaded only for these hook types.

A performer's new image (``inputFields`` ``["id", "image"]``) matters to Plex only with
performer photos on. Stash hands a hook no settings, so the hook goes by what the last task
recorded (``sync.meta.PhotoSetting``): off (or no task yet) is a skip that costs one read; on
queues the performer's scenes, whose drain writes only the new actor photo.
"""

from __future__ import annotations

import sqlite3

from hooks.handlers import HOOK_GRAPHQL_TIMEOUT_S, HookOutcome, request_drain
from queue.lease import enqueue_scenes
from stash import protocol, queries
from stash.graphql import StashClient, StashError, StashUnavailable
from stash.paging import pages
from sync.meta import PhotoSetting
from sync.performer_images import PerformerImages

SCENES_CARRYING = {
    "Performer.Update.Post": queries.SCENES_WITH_PERFORMER,
    "Tag.Update.Post": queries.SCENES_WITH_TAG,
    "Studio.Update.Post": queries.SCENES_WITH_STUDIO,
    "Group.Update.Post": queries.SCENES_WITH_GROUP,
}
RELATED_PAGE = 500


def on_related_update(
    hook_type: str, object_id: int, input_fields: list | None, conn: sqlite3.Connection, stash: StashClient | None
) -> HookOutcome:
    """A performer, tag, studio or group was renamed, or a performer has a new image and photos
    are on: queue every scene that carries it."""
    new_image = hook_type == "Performer.Update.Post" and "image" in (input_fields or ())
    photos = new_image and PhotoSetting(conn).is_on()
    if input_fields is not None and "name" not in input_fields:
        if not new_image:
            return HookOutcome("skipped", "name unchanged")
        if not photos:
            why = "no task has read the settings yet" if photos is None else "performer_photos is off"
            return HookOutcome("skipped", f"new image, but {why} (the next run's catch-up looks)")
    if photos:
        PerformerImages(conn).forget(object_id)  # read the image again, even within the same second
    if stash is None:
        return HookOutcome("skipped", "Stash unreachable")
    document = SCENES_CARRYING[hook_type]
    scenes: list[tuple[int, str | None]] = []
    try:
        for batch, _, _ in pages(stash, document, {"ids": [str(object_id)]}, "findScenes", "scenes",
                                 per_page=RELATED_PAGE, timeout=HOOK_GRAPHQL_TIMEOUT_S * 3):
            scenes.extend((int(s["id"]), s.get("updated_at")) for s in batch)
    except (StashUnavailable, StashError) as exc:
        protocol.warning(
            f"{hook_type} {object_id}: could not list its scenes ({exc}); run 'Sync recent changes' later"
        )
        return HookOutcome("skipped", "Stash unreachable")
    if not scenes:
        return HookOutcome("skipped", "no scenes carry it")
    # A rename leaves the scenes' updated_at alone, so the worker's timestamp check would call
    # them synced: force them (an unchanged one still costs no write, only a read).
    wake = enqueue_scenes(conn, scenes, reason=hook_type.split(".")[0].lower(), force=True)
    requested = request_drain(conn, stash) if wake else False
    what = "its new image" if new_image and "name" not in (input_fields or ()) else "it"
    return HookOutcome("queued", f"{len(scenes)} scene(s) carry {what}", tuple(i for i, _ in scenes), requested)
