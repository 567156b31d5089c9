"""How one plugin process runs, from Stash's input to its result: what PlexSync.py calls.

PlexSync.py names what runs for each kind of call (a hook, a scene-page operation, a task, the
command line) and this module does the rest: parse Stash's input, pick the route, import only
that route's module, and always answer with one JSON object. It lives in a module rather than in
PlexSync.py because Python caches a module's bytecode but compiles the script it runs on every
start: for a hook, compiling this code each time cost more memory than the hook's own work.
Routes are given by name, so this layer imports nothing above it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    Route = tuple[str, str]  # (module, function)


def _load(route: Route) -> Callable[..., Any]:
    module, function = route
    return getattr(__import__(module, fromlist=[function]), function)


def main(routes: Mapping[str, Route], task_modes: tuple[str, ...], operation_modes: tuple[str, ...]) -> int:
    """The process's exit code. Arguments or a terminal on stdin: the command line."""
    if len(sys.argv) > 1 or sys.stdin is None or sys.stdin.isatty():
        return int(_load(routes["cli"])(sys.argv[1:]))
    return run_stash(sys.stdin.buffer.read(), routes, task_modes, operation_modes)


def run_stash(raw: bytes, routes: Mapping[str, Route], task_modes: tuple[str, ...],
              operation_modes: tuple[str, ...]) -> int:
    """One call from Stash: a hook (``hookContext``), an operation or a task (``mode``)."""
    from stash import protocol

    try:
        connection, args = protocol.parse_input(raw)
    except protocol.ProtocolError as exc:
        return _fail(str(exc))

    hook_context = args.get("hookContext")
    try:
        if hook_context is not None:
            # Stash waits for every hook: the hook's route loads only what that hook needs, and
            # ends the process itself, without the interpreter's teardown.
            return int(_load(routes["hook"])(connection, hook_context))
        mode = args.get("mode")
        if mode in operation_modes:
            # runPluginOperation from the scene page: Stash waits for it like a hook, so its
            # route loads no task code and no package (standard library only, like the hook).
            output, error = _load(routes["operation"])(connection, args)
        elif mode in task_modes:
            # Tasks (never hooks) first make the packages importable: vendor/, installed on demand.
            output, error = _load(routes["task"])(str(mode), args, connection)
        else:
            return _fail(
                f"unknown mode {mode!r}: expected a hook or one of {', '.join(task_modes + operation_modes)}"
                if mode is not None
                else "args has neither mode nor hookContext; Stash sends one of them"
            )
        if error:
            protocol.error(error)
        protocol.emit_result(output, error)
        return 1 if error else 0
    except Exception as exc:  # noqa: BLE001 - last resort: Stash must still get one JSON object
        import traceback

        for line in traceback.format_exc().splitlines():
            protocol.debug(line)
        return _fail(f"PlexSync failed unexpectedly: {type(exc).__name__}: {exc}")


def _fail(message: str) -> int:
    from stash import protocol

    protocol.error(message)
    protocol.emit_result(None, message)
    return 1
