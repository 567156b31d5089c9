#!/usr/bin/env python3
"""PlexSync's entry point: Stash runs this file for every hook, scene-page operation and task.

It names what runs for each kind of call and hands over to ``stash/entry.py``, which imports only
that route's module: a hook (one per edited scene, and Stash waits for each) loads only the
standard-library modules it needs; Plex, pydantic and persist-queue are imported only by the
tasks that use them. stdout carries exactly one JSON object, logs go to stderr. This file stays
this small because Python compiles the script it runs on every start (modules are cached).
"""

import os
import sys

# Stash puts this folder first on sys.path; make sure of it when run any other way too.
_HERE = os.path.dirname(os.path.abspath(__file__))
if not sys.path or os.path.abspath(sys.path[0] or os.curdir) != _HERE:
    sys.path.insert(0, _HERE)

TASK_MODES = (
    "process_queue", "sync_recent", "sync_all", "status", "retry_failed", "resync_scene", "sync_watch",
)
# Modes the scene page asks for with runPluginOperation (an answer, not a job).
OPERATION_MODES = ("scene_status",)
# (module, function) per kind of call; only the one that runs is imported.
ROUTES = {
    "hook": ("hooks.run", "run_and_exit"),
    "operation": ("hooks.scene_status", "scene_status"),
    "task": ("worker.install.bootstrap", "run_task"),  # vendor/ first, installed on demand
    "cli": ("worker.cli", "main"),
}

if __name__ == "__main__":
    from stash.entry import main

    sys.exit(main(ROUTES, TASK_MODES, OPERATION_MODES))
