"""PlexSync.yml must load under Stash's strict parser and declare what the product promises."""

from __future__ import annotations

import subprocess

import yaml

from stash import queries
from tests.conftest import REPO

ALLOWED_TOP_LEVEL = {
    "name", "description", "version", "url", "exec", "interface", "errLog", "tasks", "hooks",
    "settings", "ui",
}
SETTINGS = {
    "plex_url": "STRING",
    "plex_token": "STRING",
    "plex_library": "STRING",
    "strict_matching": "BOOLEAN",
    "preserve_plex_edits": "BOOLEAN",
    "path_map": "STRING",
}
MODES = {"process_queue", "sync_recent", "sync_all", "status", "retry_failed", "resync_scene", "sync_watch"}


def manifest() -> dict:
    return yaml.safe_load((REPO / "PlexSync.yml").read_text(encoding="utf-8"))


def test_only_keys_stash_knows() -> None:
    doc = manifest()
    assert set(doc) <= ALLOWED_TOP_LEVEL, set(doc) - ALLOWED_TOP_LEVEL
    assert doc["exec"] == ["python", "{pluginDir}/PlexSync.py"]
    assert doc["interface"] == "raw"
    for task in doc["tasks"]:
        assert set(task) <= {"name", "description", "execArgs", "defaultArgs"}
    for hook in doc["hooks"]:
        assert set(hook) <= {"name", "description", "triggeredBy", "execArgs", "defaultArgs"}
    assert set(doc["ui"]) <= {"javascript", "css", "requires", "csp", "assets"}
    for name, setting in doc["settings"].items():
        assert set(setting) <= {"displayName", "description", "type"}, name


def test_hook_on_scene_update() -> None:
    hooks = {h["name"]: h for h in manifest()["hooks"]}
    assert "Scene.Update.Post" in hooks["Sync scene to Plex"]["triggeredBy"]
    valid = {f"{o}.{op}.Post" for o in ("Scene", "Performer", "Studio", "Tag", "Group")
             for op in ("Create", "Update", "Destroy")}
    # New files (scan), renames of every related object; not Movie.Update.Post, which Stash fires
    # alongside Group.Update.Post for the same edit (it would run the hook twice).
    assert {"Scene.Create.Post", "Group.Update.Post"} <= set(hooks["Sync scene to Plex"]["triggeredBy"])
    assert "Movie.Update.Post" not in hooks["Sync scene to Plex"]["triggeredBy"]
    for hook in hooks.values():
        assert set(hook["triggeredBy"]) <= valid  # Stash does not validate these: a typo never fires


# Issue 17's settings, keys and types exactly as the issue names them.
CHOICES = {"skip_fields": "STRING", "exclude_tags": "STRING", "label_tags": "STRING",
           "organized_label": "STRING", "studio_collections": "BOOLEAN"}


def test_settings_exact_keys_types_and_texts() -> None:
    settings = manifest()["settings"]
    for key, kind in SETTINGS.items():
        assert settings[key]["type"] == kind
        assert settings[key]["displayName"].strip()
        assert settings[key]["description"].strip()
    # The extras: the explicit, warned TLS switch (issue 7), the switch for installing the
    # Python packages into vendor/, and performer photos with the address and key Plex uses;
    # what Plex shows (issue 17); every setting is in the model.
    assert set(settings) - set(SETTINGS) == {"tls_verify", "install_dependencies", "performer_photos",
                                             "stash_url_for_plex", "stash_api_key_for_plex", "watch_state", *CHOICES}
    # watch_state (issue 18): a STRING of three values, and whose plays it exchanges is said.
    assert settings["watch_state"]["type"] == "STRING"
    for word in ("off", "plex_to_stash", "both", "plex_token"):
        assert word in settings["watch_state"]["description"]
    for key, kind in CHOICES.items():
        assert settings[key]["type"] == kind, key
    assert settings["install_dependencies"]["type"] == "BOOLEAN"
    assert settings["performer_photos"]["type"] == "BOOLEAN"
    assert settings["stash_url_for_plex"]["type"] == settings["stash_api_key_for_plex"]["type"] == "STRING"
    assert "stores" in settings["stash_api_key_for_plex"]["description"]  # said plainly: Plex keeps it
    from validation.config import PlexSyncConfig
    from validation.settings import DEFAULTS

    assert set(settings) == set(PlexSyncConfig.model_fields) == set(DEFAULTS)


def test_tasks_cover_every_mode_with_string_args() -> None:
    tasks = manifest()["tasks"]
    modes = {t["defaultArgs"]["mode"] for t in tasks}
    assert modes == MODES
    names = {t["name"] for t in tasks}
    assert len(names) == len(tasks)
    assert queries.PROCESS_QUEUE_TASK in names and queries.RESYNC_TASK in names
    by_name = {t["name"]: t for t in tasks}
    assert by_name[queries.PROCESS_QUEUE_TASK]["defaultArgs"]["mode"] == "process_queue"
    assert by_name[queries.RESYNC_TASK]["defaultArgs"]["mode"] == "resync_scene"
    assert by_name[queries.WATCH_TASK]["defaultArgs"]["mode"] == "sync_watch"  # PlexSync.js runs it
    for task in tasks:  # Stash's defaultArgs is map[string]string
        assert all(isinstance(v, str) for v in task["defaultArgs"].values()), task["name"]


def test_ui_script_exists_and_no_stray_yml() -> None:
    for script in manifest()["ui"]["javascript"]:
        assert (REPO / script).is_file(), script
    tracked = subprocess.run(
        ["git", "ls-files", "*.yml", "*.yaml"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    # Stash parses every .yml below the plugin folder as a plugin (a clone used as the plugin
    # folder included) and ignores .yaml, so the GitHub workflows are .yaml.
    assert [name for name in tracked if name.endswith(".yml")] == ["PlexSync.yml"], tracked
    assert all(
        name.startswith(".github/workflows/") for name in tracked if name.endswith(".yaml")
    ), tracked
