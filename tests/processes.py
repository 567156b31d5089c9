"""Many Python processes started together, for tests of what happens across processes.

Each process prints "ready", waits for a start file, then runs its part; the harness starts them
all, waits until every one is ready, creates the start file (so they really run at once, not in
start-up order), optionally runs something itself meanwhile, and collects every result with one
overall deadline. A process that outlives the test is killed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Prepended to every script: ``ready_then_wait(go_file)`` is the start barrier.
BARRIER = r"""
import os as _os, sys as _sys, time as _time


def ready_then_wait(go_file, poll=0.005):
    print("ready", flush=True)
    deadline = _time.monotonic() + 60
    while not _os.path.exists(go_file):
        if _time.monotonic() > deadline:
            _sys.exit("start signal never came")
        _time.sleep(poll)
"""


def run_together(
    script: str,
    arg_sets: list[list[str]],
    go_file: Path,
    *,
    during: Callable[[], None] | None = None,
    deadline_s: float = 120.0,
) -> list[subprocess.CompletedProcess[str]]:
    """Run ``script`` once per argument list, all released at once; results in the same order.

    ``script`` calls ``ready_then_wait(go_file)`` (from BARRIER) before its work. ``during`` runs
    in this process right after the release, while the others work.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BARRIER + script, *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for args in arg_sets
    ]
    results: list[subprocess.CompletedProcess[str]] = []
    try:
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            assert line == "ready", p.stderr.read() if p.stderr else ""
        go_file.touch()
        if during is not None:
            during()
        deadline = time.monotonic() + deadline_s
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    return results
