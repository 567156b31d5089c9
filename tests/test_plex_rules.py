"""The settings' rules on their own: parsing, the tag and studio trees, the mapping they change,
and the writer's label and release plans (unit tests; the end-to-end ones are
test_plex_choices_e2e.py and test_group_collections_e2e.py)."""

from __future__ import annotations

from typing import Any

import pytest

from plex.current import CurrentState
from plex.mapping import DesiredState, desired_from_scene
from plex.rules import (
    EXCLUDE,
    LABEL,
    OWN_LABELS,
    MappingRules,
    parse_skip_fields,
    resolve_studio_chains,
    resolve_tag_roles,
    split_names,
)
from plex.writer import build_plan
from validation.settings import ConfigError, build_config

TAGS: list[dict[str, Any]] = [
    {"id": "1", "name": "Private", "parents": []},
    {"id": "2", "name": "Private Sub", "parents": [{"id": "1"}]},
    {"id": "3", "name": "Deep", "parents": [{"id": "2"}]},
    {"id": "4", "name": "Audience", "parents": []},
    {"id": "5", "name": "Kids", "parents": [{"id": "4"}, {"id": "2"}]},  # below both trees
    {"id": "6", "name": "Drama", "parents": []},
]


def scene(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "7", "title": "T", "details": "D", "date": "2024-01-02", "rating100": 80, "organized": True,
        "studio": {"id": "3", "name": "S"}, "performers": [{"name": "P", "image_path": None}],
        "tags": [{"id": "3", "name": "Deep"}, {"id": "5", "name": "Kids"}, {"id": "6", "name": "Drama"}],
        "groups": [{"group": {"id": "4", "name": "G"}, "scene_index": 1}], "director": "Dir",
        "files": [{"path": "/x/y.mp4"}], "paths": {"screenshot": "http://s/scene/7/screenshot?t=1"},
    }
    base.update(overrides)
    return base


def test_names_and_skip_fields() -> None:
    assert split_names(" a, B ,, A,b c  d ") == ["a", "B", "b c d"]
    assert parse_skip_fields("Poster, date ,rating") == {"poster", "originallyAvailableAt", "userRating"}
    assert parse_skip_fields("") == frozenset()
    with pytest.raises(ValueError, match="'tags'.*use any of: title, summary"):
        parse_skip_fields("title, tags")


def test_settings_errors_name_the_setting() -> None:
    base = {"plex_url": "http://plex:32400", "plex_token": "abc"}
    with pytest.raises(ConfigError, match="setting 'skip_fields' names 'genre'"):
        build_config({**base, "skip_fields": "genre"})
    with pytest.raises(ConfigError, match="setting 'studio_collections' must be on or off"):
        build_config({**base, "studio_collections": "yes"})
    with pytest.raises(ConfigError, match="setting 'label_tags' must be text"):
        build_config({**base, "label_tags": 5})
    config = build_config({**base, "organized_label": " Done\n", "exclude_tags": "a, A"})
    assert config.organized_label == "Done" and config.excluded_tag_names == ["a"]
    assert config.hook_flags == {"organized": True, "tag_tree": True, "studio_tree": False, "photos": False}


def test_tag_roles_cover_every_tag_below_and_exclusion_wins() -> None:
    roles = resolve_tag_roles(TAGS, ["private"], ["AUDIENCE"])
    assert roles == {"1": EXCLUDE, "2": EXCLUDE, "3": EXCLUDE, "5": EXCLUDE, "4": LABEL}
    assert resolve_tag_roles(TAGS, [], ["Audience"]) == {"4": LABEL, "5": LABEL}
    assert resolve_tag_roles(TAGS, ["Nope"], []) == {}
    looped: list[dict[str, Any]] = [{"id": "1", "name": "A", "parents": [{"id": "2"}]}, {"id": "2", "name": "B", "parents": [{"id": "1"}]}]
    assert resolve_tag_roles(looped, ["A"], []) == {"1": EXCLUDE, "2": EXCLUDE}


def test_studio_chains_stop_at_a_loop() -> None:
    studios: list[dict[str, Any]] = [{"id": "1", "name": "Net", "parent_studio": None},
               {"id": "2", "name": "Chan", "parent_studio": {"id": "1"}},
               {"id": "3", "name": "Show", "parent_studio": {"id": "2"}},
               {"id": "4", "name": "X", "parent_studio": {"id": "5"}},
               {"id": "5", "name": "Y", "parent_studio": {"id": "4"}}]
    chains = resolve_studio_chains(studios)
    assert chains["3"] == ("Show", "Chan", "Net") and chains["1"] == ("Net",)
    assert chains["4"] == ("X", "Y")


def test_default_rules_change_nothing_in_the_hash() -> None:
    """Release 0.1.0 computed this hash for this scene: with no setting on, no scene looks changed
    after an upgrade, so nothing is written again."""
    desired = desired_from_scene(scene(tags=[{"id": "1", "name": "A"}, {"id": "2", "name": "B"}]))
    assert "label" not in desired.fields and desired.released == frozenset()
    assert desired.payload_hash(preserve_plex_edits=False, plex_paths=["/x/y.mp4"], poster="abc") == \
        "7fa6d4c367a0c8ba4dd020a1b0962064b21da170036100787996dceb0ab1b38d"


def test_mapping_under_every_rule() -> None:
    rules = MappingRules(skip=frozenset({"userRating", "poster"}),
                         tag_roles=resolve_tag_roles(TAGS, ["Private"], ["Audience"]),
                         organized_label="Reviewed", studio_chains={"3": ("S", "Parent S")})
    desired = desired_from_scene(scene(), rules=rules)
    assert desired.fields["genre"] == ["Drama"]  # Deep and Kids are below Private
    assert desired.fields["label"] == ["Reviewed"]
    assert desired.fields["collection"] == ["G", "S", "Parent S"]
    assert "userRating" not in desired.fields and desired.released == {"userRating", "poster"}
    assert desired_from_scene(scene(organized=False), rules=rules).fields.get("label") is None
    plain = desired_from_scene(scene())
    assert desired.payload_hash() != plain.payload_hash()


def current(labels: list[str], locked: set[str] | None = None, summary: str = "D") -> CurrentState:
    return CurrentState(rating_key=9, item_type="movie", section_key=1, scalars={"summary": summary},
                        tags={"label": list(labels)}, locked=frozenset(locked or set()), files=("/x/y.mp4",),
                        has_thumb=True)


def label_plan(wanted: list[str] | None, have: list[str], written: dict[str, Any] | None):
    desired = DesiredState(7, {"label": wanted} if wanted else {}, ("/x/y.mp4",), None)
    return build_plan(desired, current(have), preserve_plex_edits=False, written=written)


def test_labels_keep_a_persons_and_remove_only_plexsyncs() -> None:
    plan = label_plan(["Kids"], ["Shared"], None)
    assert plan.params["label[0].tag.tag"] == "Shared" and plan.params["label[1].tag.tag"] == "Kids"
    assert plan.in_plex == {"label": ["Shared", "Kids"], OWN_LABELS: ["Kids"]}
    # Stash no longer wants Kids: it goes (it was PlexSync's), Shared stays.
    plan = label_plan(None, ["Shared", "Kids"], {"label": ["Shared", "Kids"], OWN_LABELS: ["Kids"]})
    assert plan.params["label[].tag.tag-"] == "Kids" and plan.params["label[0].tag.tag"] == "Shared"
    assert plan.in_plex == {"label": ["Shared"], OWN_LABELS: []}
    # A label a person had before PlexSync wanted it is never counted as PlexSync's.
    plan = label_plan(["Kids"], ["Kids"], None)
    assert plan.params == {} and plan.in_plex == {"label": ["Kids"], OWN_LABELS: []}
    # Nothing wanted, nothing owned: no write, whatever the item has.
    assert label_plan(None, ["Shared"], {}).params == {}


def test_a_released_field_is_unlocked_once_and_no_longer_owned() -> None:
    desired = desired_from_scene(scene(), rules=MappingRules(skip=frozenset({"summary"})))
    ours = build_plan(desired, current([], locked={"summary"}), preserve_plex_edits=False,
                      written={"summary": "D"})
    assert ours.params["summary.locked"] == 0 and "summary.value" not in ours.params
    assert ours.released == ["summary"]
    assert "summary" not in ours.owned_after({"summary": "D", "title": "T"})
    # A value a person typed (not PlexSync's) keeps its lock; PlexSync stops owning the field anyway.
    theirs = build_plan(desired, current([], locked={"summary"}, summary="Typed"), preserve_plex_edits=False,
                        written={"summary": "D"})
    assert "summary.locked" not in theirs.params and theirs.released == ["summary"]
    # Never written by PlexSync: nothing to release.
    assert build_plan(desired, current([], locked={"summary"}), preserve_plex_edits=False, written={}).released == []
