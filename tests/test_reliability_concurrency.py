"""Hooks in bulk and all at once while drains run: every scene ends at its final Stash state.

Stash runs one hook process per scene of a bulk edit, one after another, and concurrent saves
run their hooks at the same time. Meanwhile the drain task (started by the first hook, and again
whenever one finishes while edits keep coming) writes to Plex. All of them share one SQLite file.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import (
    configure,
    drain_runs,
    drain_until_idle,
    inbox,
    mismatches,
    process_queue,
    synced,
)

pytestmark = pytest.mark.slow

SCENES = 500
AT_ONCE = 50
OVERLAP = 12  # the 50 concurrent saves hit this many scenes
SEED = 7


def test_500_hooks_back_to_back_and_50_at_once_while_draining(fake_stash, fake_plex, data_dir: Path) -> None:
    stash, plex = fake_stash, fake_plex
    plex.add_section(1, "Movies", "movie", ["/media/videos"])
    configure(stash, plex.url)
    scenes: dict[str, int] = {}
    for n in range(SCENES):
        path = f"/media/videos/load/{n:03d}.mp4"
        scenes[stash.add_scene(f"Load {n:03d}", [path], studio=f"Studio {n % 9}",
                               performers=[f"Performer {n % 17}"], tags=[f"Tag {n % 5}"])] = (
            plex.add_movie(1, f"plex load {n}", [path]))
    ids = list(scenes)
    extra_tag = stash.add_tag("Bulk Tag")

    # 500 hooks back to back: one bulk edit, as Stash runs it (a process per scene, serially).
    # The first hook wakes a drain; drains run in Stash's job queue while hooks keep coming.
    started = time.monotonic()
    stash.bulk_update(ids, details="bulk edited", tag_ids={"ids": [extra_tag], "mode": "ADD"})
    bulk_seconds = time.monotonic() - started
    bulk_hooks = list(stash.hook_runs())
    assert len(bulk_hooks) == SCENES
    drains_during_bulk = drain_runs(stash)  # woken by the hooks while they kept coming

    # 50 saves at once on overlapping scenes, while a drain runs.
    rng = random.Random(SEED)
    hot = rng.sample(ids, OVERLAP)
    stash.run_task("Process queue")
    barrier = threading.Barrier(AT_ONCE)
    errors: list[BaseException] = []

    def save(i: int) -> None:
        scene = hot[i % OVERLAP]
        try:
            barrier.wait(30)
            stash.update_scene(scene, title=f"Concurrent save {i:02d} of {scene}", rating100=i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(AT_ONCE)]
    burst_started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    burst_seconds = time.monotonic() - burst_started
    assert not errors, errors
    burst_hooks = stash.hook_runs()[SCENES:]
    assert len(burst_hooks) == AT_ONCE

    drain_until_idle(stash, data_dir, max_runs=10, deadline_s=180)
    final = process_queue(stash)
    # A last drain finds nothing to write. It may read a scene again: Stash stamps updated_at in
    # whole seconds, so a save that the drain read within the same second is re-read by the next
    # drain's catch-up (sync/detector.py), and a re-read of a synced scene writes nothing.
    output = final.output
    assert final.error is None and output["written"] == 0 and output["failed"] == 0, (final.error, output)
    assert output["processed"] == output.get("convergence", {}).get("stash_changes", 0), output

    # Every scene at its final Stash state, nothing queued, every scene recorded.
    assert inbox(data_dir) == {}
    records = synced(data_dir)
    assert set(records) == {int(s) for s in ids}
    for scene in ids:
        assert records[int(scene)]["stash_updated_at"] == stash.scene(scene)["updated_at"], scene
    wrong = mismatches(stash, plex, scenes)
    assert wrong == {}, list(wrong.items())[:3]
    for scene in hot:
        assert stash.scene(scene)["title"].startswith("Concurrent save")

    # 0 "database is locked" anywhere; every hook answered cleanly.
    for run in stash.runs:
        text = run.stderr.decode("utf-8", "replace") + str(run.error) + str(run.output)
        for symptom in ("database is locked", "database is busy", "database table is locked",
                        "stayed locked by another process"):
            assert symptom not in text, (run.kind, run.name, run.error)
        assert run.unprefixed_lines == []
    for run in bulk_hooks + burst_hooks:
        assert run.exit_code == 0 and run.error is None, (run.error, run.logs)
        assert run.output["action"] in ("queued", "skipped"), run.output
    drains = drain_runs(stash)
    assert all(r.error is None for r in drains), [r.error for r in drains if r.error]

    bulk_times = sorted(r.wall_time for r in bulk_hooks)
    burst_times = sorted(r.wall_time for r in burst_hooks)
    print(
        f"RELIABILITY: concurrency: {SCENES} hooks back to back in {bulk_seconds:.0f}s "
        f"(hook p50 {statistics.median(bulk_times) * 1000:.0f} ms, max {bulk_times[-1] * 1000:.0f} ms) "
        f"with {len(drains_during_bulk)} drain run(s) alongside; {AT_ONCE} saves at once on "
        f"{OVERLAP} scenes in {burst_seconds:.1f}s (hook max {burst_times[-1]:.2f}s); "
        f"{len(drains)} drains in all; {SCENES}/{SCENES} scenes at their final Stash state; "
        "0 'database is locked'"
    )
