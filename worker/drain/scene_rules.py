"""The settings' rules about what Plex shows, resolved against Stash once per task, and the edits
of Stash's tag hierarchy that change which scenes they apply to.

``exclude_tags`` and ``label_tags`` name tags, but every tag below a named one shares its role, so
the whole tag hierarchy is read (one request per few thousand tags, only when such tags are named)
the first time a scene is mapped; ``studio_collections`` reads the studio hierarchy the same way.

A hierarchy edit fires a hook only for the tag that was edited, and moving a sub-tag away from a
parent touches neither the sub-tag's row nor its scenes. So the roles last applied are kept
(``TagRoleSnapshot``); when a drain sees a tag changed (or the named tags changed), it resolves
the roles again and queues the scenes of every tag whose role differs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from plex.mapping import DesiredState, desired_from_scene
from plex.rules import MappingRules, name_key, resolve_studio_chains, resolve_tag_roles
from stash import protocol, queries
from stash.graphql import StashClient
from stash.paging import pages
from sync.meta import TagRoleSnapshot
from worker.context import TaskContext
from worker.drain.photo_versions import photo_settings
from worker.drain.selection import PAGE_SIZE, Selector

HIERARCHY_PAGE = 5000  # tags or studios per request: small rows, most libraries in one page

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig


class SceneMapper:
    """Stash scenes to Plex values under the settings; the hierarchies are read on first need."""

    def __init__(self, ctx: TaskContext, config: PlexSyncConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.photos = photo_settings(ctx, config)  # image digests: a new image is a new URL
        self._rules: MappingRules | None = None

    @property
    def rules(self) -> MappingRules:
        if self._rules is None:
            self._rules = load_rules(self.ctx.stash, self.config)
        return self._rules

    def desired(self, scene: dict[str, Any]) -> DesiredState:
        return desired_from_scene(scene, self.photos, self.rules)


def load_rules(stash: StashClient, config: PlexSyncConfig) -> MappingRules:
    """The settings' rules with the tag and studio hierarchies they need read from Stash."""
    chains = None
    if config.studio_collections:
        chains = resolve_studio_chains(_all(stash, queries.ALL_STUDIOS, "findStudios", "studios"))
    return MappingRules(skip=config.skipped_fields, tag_roles=load_tag_roles(stash, config),
                        organized_label=config.organized_label, studio_chains=chains)


def load_tag_roles(stash: StashClient, config: PlexSyncConfig) -> dict[str, str]:
    """Tag id -> role under exclude_tags / label_tags (no request when neither names a tag)."""
    if not (config.excluded_tag_names or config.label_tag_names):
        return {}
    tags = _all(stash, queries.ALL_TAGS, "findTags", "tags")
    known = {name_key(tag.get("name")) for tag in tags}
    for setting, names in (("exclude_tags", config.excluded_tag_names), ("label_tags", config.label_tag_names)):
        missing = [name for name in names if name_key(name) not in known]
        if missing:
            protocol.warning(f"{setting} names {', '.join(repr(n) for n in missing)}, but Stash has no tag "
                             "of that name; it is ignored (check the spelling, or the tag was renamed)")
    return resolve_tag_roles(tags, config.excluded_tag_names, config.label_tag_names)


def _all(stash: StashClient, document: str, root: str, items: str) -> list[dict[str, Any]]:
    return [row for rows, _, _ in pages(stash, document, {}, root, items, per_page=HIERARCHY_PAGE) for row in rows]


def _names_key(config: PlexSyncConfig) -> str:
    """What the snapshot's roles were resolved from (the named tags, case-folded)."""
    return json.dumps([sorted(name_key(n) for n in config.excluded_tag_names),
                       sorted(name_key(n) for n in config.label_tag_names)])


def remember_roles(ctx: TaskContext, rules: MappingRules) -> None:
    """After every scene was compared under ``rules`` (Sync all): these roles are applied."""
    TagRoleSnapshot(ctx.conn).save(_names_key(ctx.config), rules.tag_roles)


def queue_hierarchy_changes(ctx: TaskContext, selector: Selector, *, tags_changed: bool) -> int:
    """Queue the scenes of tags whose role changed since the roles were last applied; how many.

    Asks Stash nothing unless a tag changed since the cursor or the named tags did (a drain with
    nothing to do stays at its usual requests).
    """
    config = ctx.config
    snapshot = TagRoleSnapshot(ctx.conn).load()
    key = _names_key(config)
    active = bool(config.excluded_tag_names or config.label_tag_names)
    if snapshot is None and not active:
        return 0
    if snapshot is not None and snapshot.names == key and not tags_changed:
        return 0
    roles = load_tag_roles(ctx.stash, config)
    before = snapshot.roles if snapshot is not None else {}
    changed = sorted(t for t in set(before) | set(roles) if before.get(t) != roles.get(t))
    queued_before = len(selector.result.queued)
    for start in range(0, len(changed), PAGE_SIZE):
        ids = changed[start : start + PAGE_SIZE]
        for rows, _, _ in pages(ctx.stash, queries.SCENES_WITH_TAG, {"ids": ids}, "findScenes", "scenes",
                                per_page=PAGE_SIZE):
            selector.offer([(int(s["id"]), s.get("updated_at")) for s in rows], force=True, reason="tag_hierarchy")
    TagRoleSnapshot(ctx.conn).save(key, roles)
    queued = len(selector.result.queued) - queued_before
    if changed:
        protocol.info(f"tag hierarchy: {len(changed)} tag(s) changed between genre, label and excluded; "
                      f"{queued} scene(s) queued")
    return queued
