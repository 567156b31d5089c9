"""Settings as a Stash user meets them: defaults shown after the first run, clear errors for wrong
values, and a clear pip command when a dependency is missing."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PLEX_TOKEN, REPO


def last_task(stash):
    return [r for r in stash.runs if r.kind == "task"][-1]


def configure_calls(stash) -> int:
    return sum("configurePlugin" in (d.query or "") for d in stash.received_documents)


def test_first_run_writes_defaults_back_merged(linked) -> None:
    stash, plex = linked
    stash.set_plugin_settings({"plex_url": plex.url, "plex_token": PLEX_TOKEN, "strict_matching": False})
    stash.run_task("Status")
    stash.wait_for_jobs(timeout=60)
    assert last_task(stash).error is None
    saved = stash.plugin_settings()
    assert saved == {
        "plex_url": plex.url, "plex_token": PLEX_TOKEN, "strict_matching": False,  # user's values kept
        "plex_library": "", "preserve_plex_edits": False, "path_map": "", "tls_verify": True,
        "install_dependencies": True, "performer_photos": False, "stash_url_for_plex": "",
        "stash_api_key_for_plex": "", "watch_state": "off",
        "skip_fields": "", "exclude_tags": "", "label_tags": "",
        "organized_label": "", "studio_collections": False,
    }
    assert configure_calls(stash) == 1
    stash.run_task("Status")
    stash.wait_for_jobs(timeout=60)
    assert configure_calls(stash) == 1  # nothing unset any more: nothing written


def test_wrong_setting_gives_one_clear_error_and_hooks_keep_queueing(linked) -> None:
    stash, _ = linked
    stash.set_plugin_settings({"plex_url": "plex.local:32400", "plex_token": PLEX_TOKEN})
    scene = stash.add_scene("S", ["/media/videos/s.mp4"])
    stash.update_scene(scene, title="S2")
    assert [r for r in stash.runs if r.kind == "hook"][-1].output["action"] == "queued"
    stash.run_task("Process queue")
    stash.wait_for_jobs(timeout=60)
    error = last_task(stash).error
    assert "plex_url" in error and "http://plex.local:32400" in error
    status = stash.run_task("Status")
    stash.wait_for_jobs(timeout=60)
    output = last_task(stash).output
    assert status and output["pending"] == 1 and not output["plex"]["ok"]


def test_missing_dependency_names_the_pip_command(tmp_path: Path, data_dir: Path, fake_plex) -> None:
    """As in Stash's Docker image, which has requests but not plexapi."""
    from tests.standins.fake_stash import FakeStash

    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'plexapi':\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\", name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Missing())\n"
    )
    env = {"PLEXSYNC_DATA_DIR": str(data_dir), "PYTHONPATH": str(blocker)}
    with FakeStash(REPO, env=env, stash_dir=tmp_path / "stash") as stash:
        fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
        # Off: with it on, the task would pip-install into this checkout's vendor/ (see
        # tests/test_dependency_install.py for that).
        stash.set_plugin_settings(
            {"plex_url": fake_plex.url, "plex_token": PLEX_TOKEN, "install_dependencies": False}
        )
        scene = stash.add_scene("D", ["/media/videos/d.mp4"])
        stash.update_scene(scene, title="D2")
        hook = [r for r in stash.runs if r.kind == "hook"][-1]
        assert hook.error is None and hook.output["action"] == "queued"  # the hook needs no plexapi
        stash.wait_for_jobs(timeout=60)  # the drain the hook asked for
        errors = [r.error for r in stash.runs if r.kind == "task" and r.error]
    from queue.inbox import is_scene_in_queue

    assert is_scene_in_queue(data_dir, int(scene))  # the edit is kept for when plexapi is there
    assert len(errors) == 1
    error = errors[0]
    assert "'plexapi'" in error
    assert "-m pip install -r" in error and "requirements.txt" in error
    assert "Traceback" not in error
    assert "install_dependencies is off" in error
