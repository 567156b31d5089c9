"""A hook process from Stash's input to its exit: what PlexSync.py runs for every hook.

Stash waits for the process, so it loads in stages: the input alone settles most hooks
(hooks/triage.py, which imports nothing); only a hook with work loads the queue, the database
and the GraphQL client (hooks/handlers.py). Once the result is written, the process ends at once
(``os._exit``): the interpreter's teardown would only add to Stash's wait, and the database is left
open while its log is short (handlers.handle_hook says why).
"""

from __future__ import annotations

import os
import sys

from hooks.triage import HookOutcome, settled_by_input
from stash import protocol

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def run_hook(server_connection: dict, hook_context: object) -> int:
    """Handle one hook, write Stash's result, and return the exit code (0: recorded or skipped)."""
    if not isinstance(hook_context, dict):
        message = f"hookContext is a {type(hook_context).__name__}, expected an object"
        protocol.error(message)
        protocol.emit_result(None, message)
        return 1
    outcome = settled_by_input(hook_context, server_connection=server_connection)
    if outcome is None:
        outcome = _record(server_connection, hook_context)
        if outcome is None:
            return 1
    if outcome.action == "queued":
        protocol.info(f"scene(s) {', '.join(map(str, outcome.scene_ids[:20]))}: {outcome.reason}")
    else:
        protocol.debug(f"hook {hook_context.get('type')}: {outcome.reason}")
    protocol.emit_result(outcome.as_output(), None)
    return 0


def _record(server_connection: dict, hook_context: dict) -> HookOutcome | None:
    """The hook's work; None (after reporting it) when the database cannot record the edit."""
    from hooks.handlers import handle_hook
    from sync.db import DB_NAME, DatabaseError, data_dir_path, explain, sqlite3

    data_dir = ""
    try:
        data_dir = data_dir_path(server_connection)
        return handle_hook(server_connection, hook_context, data_dir, leave_open=True)
    except (DatabaseError, sqlite3.DatabaseError, OSError) as exc:
        if isinstance(exc, sqlite3.DatabaseError):
            exc = explain(exc, os.path.join(data_dir, DB_NAME))
        message = (
            f"PlexSync could not record this edit: {exc}. Run the task 'Sync recent changes' "
            "once the problem is fixed to catch up."
        )
        protocol.error(message)
        protocol.emit_result(None, message)
        return None


def run_and_exit(server_connection: dict, hook_context: object) -> NoReturn:
    """PlexSync.py's hook route: the hook, then the process ends with its code."""
    exit_now(run_hook(server_connection, hook_context))


def exit_now(code: int) -> NoReturn:
    """End the hook process with ``code`` once its output is out, skipping the teardown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # Stash stopped reading: nothing left to say
    os._exit(code)
