"""sync/paths.py: the data folder and the organized-label mark the scene hook's triage reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from hooks.triage import settled_by_input
from sync.paths import (
    ORGANIZED_LABEL_MARK,
    data_dir_of,
    mark_organized_label,
    organized_label_marked,
)


def test_the_data_folder_follows_the_environment_then_the_plugin_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PLEXSYNC_DATA_DIR", raising=False)
    assert data_dir_of({"PluginDir": str(tmp_path)}) == str(tmp_path / "data")
    monkeypatch.setenv("PLEXSYNC_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data_dir_of({"PluginDir": str(tmp_path)}) == str(tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()  # only named: the hook creates nothing


def test_the_mark_is_set_and_cleared(tmp_path: Path) -> None:
    assert organized_label_marked(str(tmp_path)) is False
    mark_organized_label(str(tmp_path), True)
    mark_organized_label(str(tmp_path), True)  # already right: nothing happens
    assert organized_label_marked(str(tmp_path)) and (tmp_path / ORGANIZED_LABEL_MARK).is_file()
    mark_organized_label(str(tmp_path), False)
    mark_organized_label(str(tmp_path), False)
    assert organized_label_marked(str(tmp_path)) is False
    assert organized_label_marked("") is False


@pytest.mark.parametrize(("marked", "fields", "settled"), [
    (False, ["id", "organized"], True),
    (True, ["id", "organized"], False),  # the label shows it: the hook goes on to queue it
    (True, ["id", "gallery_ids"], True),  # the mark changes nothing for other fields
])
def test_triage_passes_an_organized_toggle_on_only_under_the_mark(tmp_path: Path, marked: bool,
                                                                   fields: list[str], settled: bool) -> None:
    mark_organized_label(str(tmp_path), marked)
    context = {"id": 5, "type": "Scene.Update.Post", "input": dict.fromkeys(fields, "5"), "inputFields": fields}
    outcome = settled_by_input(context, server_connection={"PluginDir": str(tmp_path.parent)}, data_dir=str(tmp_path))
    assert (outcome is not None) is settled
    if settled:
        assert outcome is not None and outcome.action == "skipped"
