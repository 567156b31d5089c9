"""What a hook's input alone settles, before anything is opened or imported.

Many scene hooks carry nothing for Plex: an edit of fields Plex never shows (organized, play
counts, resume time). Those are answered from Stash's hookContext alone, so this module imports
nothing at all (not even ``collections``): a hook that skips costs little more than starting the
interpreter.
"""

from __future__ import annotations

# Fields of SceneUpdateInput / BulkSceneUpdateInput whose change Plex can show. Play counts,
# o-counter, resume time, organized and the like change nothing in Plex.
PLEX_FIELDS = frozenset(
    {
        "title", "details", "date", "studio_id", "performer_ids", "tag_ids", "groups", "movies",
        "movie_ids", "group_ids", "rating100", "rating", "cover_image", "urls", "url", "code",
        "director", "primary_file_id",
    }
)
# Scene hooks that carry a change for Plex (Create: a new file; Update: an edit, or with a null
# input a scan that saw the file moved, changed or matched by fingerprint).
SCENE_CHANGE_TYPES = {"Scene.Update.Post": "hook", "Scene.Create.Post": "create"}


class HookOutcome:
    """What the hook did: action is "queued", "skipped" or "removed".

    A small class rather than a namedtuple: importing ``collections`` would cost a skipping hook
    a sixth of an interpreter start.
    """

    __slots__ = ("action", "reason", "scene_ids", "drain_requested")

    def __init__(self, action: str, reason: str, scene_ids: tuple[int, ...] = (), drain_requested: bool = False) -> None:
        self.action = action
        self.reason = reason
        self.scene_ids = tuple(scene_ids)
        self.drain_requested = drain_requested

    def __repr__(self) -> str:
        return (f"HookOutcome(action={self.action!r}, reason={self.reason!r}, scene_ids={self.scene_ids!r}, "
                f"drain_requested={self.drain_requested!r})")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HookOutcome) and self.as_output() == other.as_output()

    def __hash__(self) -> int:
        return hash((self.action, self.reason, self.scene_ids, self.drain_requested))

    def as_output(self) -> dict:
        return {
            "action": self.action,
            "reason": self.reason,
            "scene_ids": list(self.scene_ids),
            "drain_requested": self.drain_requested,
        }


def hook_fields(hook_context: dict) -> tuple[str, int, list | None]:
    """(type, object id or 0, inputFields or None) of Stash's hookContext, whatever their shape."""
    hook_type = str(hook_context.get("type") or "")
    try:
        object_id = int(hook_context.get("id") or 0)
    except (TypeError, ValueError):
        object_id = 0
    input_fields = hook_context.get("inputFields")
    return hook_type, object_id, input_fields if isinstance(input_fields, list) else None


def changed_fields(update_data: object, input_fields: list | None, scene_id: int | None) -> set[str]:
    """The input keys of this scene's change, whatever shape Stash sent.

    ``scenesUpdate`` sends the whole array as input (with this scene's keys in inputFields),
    ``bulkSceneUpdate`` the whole bulk input; scan hooks send null.
    """
    if input_fields:
        return {str(f) for f in input_fields}
    if isinstance(update_data, dict):
        return set(update_data)
    if isinstance(update_data, list):
        for entry in update_data:
            if isinstance(entry, dict) and str(entry.get("id")) == str(scene_id):
                return set(entry)
    return set()


def requires_plex_sync(update_data: object, input_fields: list | None = None, scene_id: int | None = None) -> bool:
    """Is this a change Plex cares about?

    A null input comes from Stash itself: a scan that created the scene, moved or renamed its
    file, or matched a file to it by fingerprint. The Plex binding must follow the file, so
    that always counts.
    """
    if update_data is None:
        return True  # scan and create hooks: no metadata change to carry
    return bool(changed_fields(update_data, input_fields, scene_id) & PLEX_FIELDS)


def settled_by_input(hook_context: dict, data_dir: str = "", *,
                     server_connection: dict | None = None) -> HookOutcome | None:
    """The outcome of a scene hook when its input alone decides it (no object id, or an edit of
    no field Plex shows); None when the hook has work to do, or is of another type
    (hooks/handlers.py routes those). An organized toggle shows in Plex only under
    ``organized_label``, whose mark (sync/paths.py) is looked for in ``data_dir``, else in the data
    folder ``server_connection`` names."""
    hook_type, object_id, input_fields = hook_fields(hook_context)
    if hook_type not in SCENE_CHANGE_TYPES:
        return None
    if object_id <= 0:
        return HookOutcome("skipped", "hook has no object id")
    update_data = hook_context.get("input")
    if not requires_plex_sync(update_data, input_fields, object_id):
        fields = changed_fields(update_data, input_fields, object_id)
        if "organized" in fields and organized_shows(data_dir or _data_dir_of(server_connection), fields):
            return None
        return HookOutcome("skipped", "no field Plex shows changed", (object_id,))
    return None


def _data_dir_of(server_connection: dict | None) -> str:
    from sync.paths import data_dir_of  # os only, and only for organized toggles

    return data_dir_of(server_connection)


def organized_shows(data_dir: str, fields: set[str]) -> bool:
    """An edit Plex shows only through the organized label: is the label set?"""
    if "organized" not in fields:
        return False
    from sync.paths import organized_label_marked  # os only, and only for organized toggles

    return organized_label_marked(data_dir)
