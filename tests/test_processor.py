"""The processor's dry run (used by the sync tasks' dry-run mode), in-process against both stand-ins.

A preview must describe per field what would change in Plex and write nothing: no PUT, no poster
upload, no sync record, no inbox change.
"""

from __future__ import annotations

from pathlib import Path

from plex.session import PlexSession
from tests.conftest import PLEX_TOKEN
from worker.context import TaskContext
from worker.drain.processor import Processor


def test_preview_lists_changes_and_writes_nothing(linked, data_dir: Path) -> None:
    stash, plex = linked
    rk = plex.add_movie(1, "file title", ["/media/videos/prev.mp4"], genres=["Old Genre"])
    scene = stash.add_scene("Preview Title", ["/media/videos/prev.mp4"], tags=["New Genre"], studio="S1")
    ctx = TaskContext(stash.server_connection(), {"mode": "sync_all", "dry_run": "true"}, data_dir=data_dir)
    try:
        config = ctx.config
        assert config.plex_token == PLEX_TOKEN
        session = PlexSession(config, data_dir)
        processor = Processor(ctx, config, session)
        plex.clear_log()
        outcome = processor.preview(int(scene))
        session.close()
        assert outcome.kind == "dry_run" and outcome.rating_key == rk
        text = outcome.message
        assert f"Plex item {rk}" in text
        assert "title: 'file title' → 'Preview Title'" in text
        assert "genre: +New Genre; -Old Genre" in text
        assert "poster: would upload the Stash screenshot" in text
        assert not [r for r in plex.log_snapshot() if r.method in ("PUT", "POST")]
        assert plex.item(rk)["title"] == "file title"
        assert ctx.sync_state.get(int(scene)) is None
        missing = processor.preview(999_999)
        assert missing.kind == "dry_run" and "no longer exists" in missing.message
    finally:
        ctx.close()
