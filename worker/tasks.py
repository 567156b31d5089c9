"""Task dispatch: one function per mode. Heavy modules are imported by the modes that need them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from validation.settings import ConfigError
from worker.context import TaskContext

TaskResult = tuple[Any, "str | None"]


def _status(ctx: TaskContext) -> TaskResult:
    from worker.status import run_status

    return run_status(ctx)


def _retry_failed(ctx: TaskContext) -> TaskResult:
    from worker.status import requeue_failed

    count = requeue_failed(ctx)
    output, error = _process_queue(ctx)
    return {"requeued": count, "drain": output}, error


def _process_queue(ctx: TaskContext) -> TaskResult:
    from worker.drain import run_drain

    return run_drain(ctx)


def _sync_recent(ctx: TaskContext) -> TaskResult:
    from worker.scans import run_sync_recent

    return run_sync_recent(ctx)


def _sync_all(ctx: TaskContext) -> TaskResult:
    from worker.scans import run_sync_all

    return run_sync_all(ctx)


def _resync_scene(ctx: TaskContext) -> TaskResult:
    from worker.scans import run_resync_scene

    return run_resync_scene(ctx)


HANDLERS: dict[str, Callable[[TaskContext], TaskResult]] = {
    "process_queue": _process_queue,
    "sync_recent": _sync_recent,
    "sync_all": _sync_all,
    "status": _status,
    "retry_failed": _retry_failed,
    "resync_scene": _resync_scene,
}


def run_task(mode: str, args: dict, server_connection: dict) -> TaskResult:
    ctx = TaskContext(server_connection, args)
    try:
        return HANDLERS[mode](ctx)
    except ConfigError as exc:
        return None, str(exc)
    except ModuleNotFoundError as exc:
        return None, missing_dependency_message(exc)
    finally:
        ctx.close()


def missing_dependency_message(exc: ModuleNotFoundError) -> str:
    """Name the exact pip command for this interpreter when a dependency is missing."""
    import sys

    packages = {"plexapi": "plexapi", "persistqueue": "persist-queue", "pydantic": "pydantic", "requests": "requests"}
    top = (exc.name or "").split(".")[0]
    if top not in packages:
        raise exc
    return (
        f"PlexSync needs the Python package '{packages[top]}', which this Python ({sys.executable}) "
        f"does not have. Install the plugin's requirements with: "
        f"{sys.executable} -m pip install -r <plugin folder>/requirements.txt "
        "(in Stash's Docker image add --break-system-packages; see README: Install)"
    )
