"""Task dispatch: one function per mode. Heavy modules are imported by the modes that need them."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from stash import protocol
from sync import db
from sync.meta import DatabaseLoss
from validation.settings import ConfigError
from worker.context import TaskContext
from worker.install.dependencies import missing_dependency_message

TaskResult = tuple[Any, "str | None"]


def _status(ctx: TaskContext) -> TaskResult:
    from worker.tasks.status import run_status

    return run_status(ctx)


def _retry_failed(ctx: TaskContext) -> TaskResult:
    from worker.tasks.status import requeue_failed

    count = requeue_failed(ctx)
    output, error = _process_queue(ctx)
    return {"requeued": count, "drain": output}, error


def _process_queue(ctx: TaskContext) -> TaskResult:
    from worker.drain.engine import run_drain

    return run_drain(ctx)


def _sync_recent(ctx: TaskContext) -> TaskResult:
    from worker.tasks.sync_recent import run_sync_recent

    return run_sync_recent(ctx)


def _sync_all(ctx: TaskContext) -> TaskResult:
    from worker.tasks.sync_all import run_sync_all

    return run_sync_all(ctx)


def _resync_scene(ctx: TaskContext) -> TaskResult:
    from worker.tasks.resync import run_resync_scene

    return run_resync_scene(ctx)


def _sync_watch(ctx: TaskContext) -> TaskResult:
    from worker.tasks.sync_watch import run_sync_watch

    return run_sync_watch(ctx)


HANDLERS: dict[str, Callable[[TaskContext], TaskResult]] = {
    "process_queue": _process_queue,
    "sync_recent": _sync_recent,
    "sync_all": _sync_all,
    "status": _status,
    "retry_failed": _retry_failed,
    "resync_scene": _resync_scene,
    "sync_watch": _sync_watch,
}


def run_task(mode: str, args: dict, server_connection: dict) -> TaskResult:
    ctx = TaskContext(server_connection, args)
    try:
        lost = DatabaseLoss(ctx.conn).since()
        output, error = HANDLERS[mode](ctx)
        if lost is not None:
            error = _after_lost_database(ctx, mode, lost, error)
        return output, error
    except ConfigError as exc:
        return None, str(exc)
    except ModuleNotFoundError as exc:
        message = missing_dependency_message(exc)
        if message is None:
            raise
        return None, message
    except (db.DatabaseError, sqlite3.DatabaseError) as exc:
        return None, str(_explain_database_error(ctx, exc))
    finally:
        ctx.close()


def _after_lost_database(ctx: TaskContext, mode: str, lost: float, error: str | None) -> str | None:
    """Until 'Sync all scenes' has rebuilt a lost database, every task says so."""
    if mode == "sync_all" and error is None and not ctx.dry_run:
        DatabaseLoss(ctx.conn).forget()
        protocol.info("PlexSync's state was rebuilt from Stash and Plex after its database was lost")
        return None
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lost)) if lost else "an unknown time"
    message = (
        f"PlexSync's database {ctx.db_path} went missing (deleted or moved) and was created anew "
        f"at {when}: edits queued before then are no longer in the queue. Run the task 'Sync all "
        "scenes' once: it checks every scene against Plex and rebuilds the state (README: "
        "Troubleshooting)."
    )
    protocol.warning(message)
    return f"{error} {message}" if error else message


def _explain_database_error(ctx: TaskContext, exc: BaseException) -> db.DatabaseError:
    """Name the file that failed: plexsync.db if it fails a check, else the data folder."""
    if isinstance(exc, db.DatabaseError) or db.is_locked_error(exc):
        return db.explain(exc, ctx.db_path)
    if not db.passes_check(ctx.db_path):
        return db.explain(exc, ctx.db_path)
    return db.DatabaseError(
        f"a PlexSync file in {ctx.data_dir} is unreadable ({exc}). Stop Stash's PlexSync tasks, "
        f"move the folders and files in {ctx.data_dir} other than {db.DB_NAME} aside and run "
        "the task again: they are rebuilt"
    )
