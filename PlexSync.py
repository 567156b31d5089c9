#!/usr/bin/env python3
"""PlexSync's entry point: Stash runs this file for every hook and task.

It routes first and imports later. A hook (one per edited scene, and Stash waits for each) loads
only the standard-library modules it needs; Plex, pydantic and persist-queue are imported only by
the tasks that use them. stdout carries exactly one JSON object, logs go to stderr.
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


def _run_stash(raw: bytes) -> int:
    from stash import protocol

    try:
        connection, args = protocol.parse_input(raw)
    except protocol.ProtocolError as exc:
        protocol.error(str(exc))
        protocol.emit_result(None, str(exc))
        return 1

    hook_context = args.get("hookContext")
    try:
        if hook_context is not None:
            return _run_hook(connection, hook_context)
        mode = args.get("mode")
        if mode in OPERATION_MODES:
            # runPluginOperation from the scene page: Stash waits for it like a hook, so it
            # loads no task code and no package (stdlib only, like the hook).
            from hooks.scene_status import scene_status

            output, error = scene_status(connection, args)
        elif mode in TASK_MODES:
            # Tasks (never hooks) first make the packages importable: vendor/, installed on demand.
            from worker.install.bootstrap import run_task

            output, error = run_task(str(mode), args, connection)
        else:
            message = (
                f"unknown mode {mode!r}: expected a hook or one of {', '.join(TASK_MODES + OPERATION_MODES)}"
                if mode is not None
                else "args has neither mode nor hookContext; Stash sends one of them"
            )
            protocol.error(message)
            protocol.emit_result(None, message)
            return 1
        if error:
            protocol.error(error)
        protocol.emit_result(output, error)
        return 1 if error else 0
    except Exception as exc:  # noqa: BLE001 - last resort: Stash must still get one JSON object
        import traceback

        for line in traceback.format_exc().splitlines():
            protocol.debug(line)
        message = f"PlexSync failed unexpectedly: {type(exc).__name__}: {exc}"
        protocol.error(message)
        protocol.emit_result(None, message)
        return 1


def _run_hook(connection: dict, hook_context: object) -> int:
    """Stash waits for every hook: hooks/run.py loads only what this hook needs, then the
    process ends at once, without the interpreter's teardown."""
    from hooks.run import exit_now, run_hook

    exit_now(run_hook(connection, hook_context))


def main() -> int:
    if len(sys.argv) > 1 or sys.stdin is None or sys.stdin.isatty():
        from worker.cli import main as cli_main

        return cli_main(sys.argv[1:])
    return _run_stash(sys.stdin.buffer.read())


if __name__ == "__main__":
    sys.exit(main())
