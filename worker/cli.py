"""Command-line use outside Stash (cron, debugging): the same modes as the Stash tasks.

Stash runs PlexSync.py with one JSON document on stdin. From a shell, the same tasks run with
``python PlexSync.py <mode> --stash-url URL``: this module builds the ``server_connection`` and
``args`` Stash would send (with an API key instead of Stash's session cookie) and calls the same
``worker.tasks.dispatch.run_task``, so a cron job and the Tasks page behave identically and share the
plugin's data folder. Settings (Plex URL, token, ...) are read from Stash as always.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

PLUGIN_DIR = Path(__file__).resolve().parent.parent

MODES = {
    "sync_recent": "find every scene changed in Stash since its last sync (edits made while the "
    "plugin was off, Auto Tag, performer/tag/studio renames) and write it to Plex",
    "sync_all": "check every scene; queue those Plex has not got, forget scenes deleted in "
    "Stash, write (unchanged scenes cost no Plex write)",
    "resync_scene": "sync the scenes given with --scene-id now, even if they look up to date, "
    "and report each one",
    "process_queue": "write the scenes already queued (what Stash starts after edits)",
    "status": "counts (pending, failed, needs review, synced), the last errors and the "
    "needs-review candidates",
    "retry_failed": "put failed and needs-review scenes back in the queue and write them",
    "sync_watch": "exchange play counts and resume points between Plex and Stash now (the "
    "watch_state setting)",
}
DRY_RUN_MODES = ("sync_recent", "sync_all", "resync_scene")

DESCRIPTION = """\
PlexSync keeps Plex metadata in step with Stash. Stash runs this file itself (one JSON document
on stdin); from a shell or cron, run one of the modes below. Each does exactly what the task of
the same name does in Stash (Settings → Tasks → Plugin Tasks → PlexSync), with the settings
stored in Stash, and shares the plugin's data folder (queue and sync state).

modes:
""" + "\n".join(
    textwrap.fill(text, 96, initial_indent=f"  {name:<15}", subsequent_indent=" " * 17)
    for name, text in MODES.items()
)

EPILOG = """\
examples:
  python PlexSync.py sync_recent --stash-url http://127.0.0.1:9999 --api-key "$STASH_API_KEY"
  python PlexSync.py sync_all --dry-run         # log what would change in Plex; write nothing
  python PlexSync.py resync_scene --scene-id 12,15
  python PlexSync.py status

The API key is in Stash under Settings → Security → API Key (needed only when Stash has a
username and password). Prefer the STASH_API_KEY environment variable to --api-key: command
lines are visible to other users of the machine. The result is printed as JSON on stdout, logs
go to stderr; the exit code is 0 on success, 1 when the task failed, 2 for a usage error.
"""

_LEVEL_ORDER = "tdiwe"
_LEVEL_NAMES = {"t": "TRACE", "d": "DEBUG", "i": "INFO", "w": "WARNING", "e": "ERROR"}


class PlainLog(io.TextIOBase):
    """Turns the Stash log protocol on stderr (``\\x01i\\x02msg``) into readable lines.

    The task code logs for Stash; in a terminal or a cron mail the control bytes and the
    progress lines are noise, so they are rewritten or dropped here.
    """

    def __init__(self, target: TextIO, min_level: str = "i") -> None:
        super().__init__()
        self.target = target
        self.min_rank = _LEVEL_ORDER.index(min_level)
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def _emit(self, line: str) -> None:
        if len(line) >= 3 and line[0] == "\x01" and line[2] == "\x02":
            level, message = line[1], line[3:]
            if level == "p" or level not in _LEVEL_ORDER:
                return  # progress: Stash's bar, not a log line
            if _LEVEL_ORDER.index(level) < self.min_rank:
                return
            line = f"{_LEVEL_NAMES[level]:<7} {message}"
        self.target.write(line + "\n")

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""
        self.target.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="PlexSync.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", choices=list(MODES), metavar="MODE", help="one of: " + ", ".join(MODES))
    parser.add_argument(
        "--stash-url",
        default=os.environ.get("STASH_URL", "http://127.0.0.1:9999"),
        help="Stash's address, scheme://host:port (default: $STASH_URL or http://127.0.0.1:9999)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help="Stash API key (default: $STASH_API_KEY); needed when Stash has a login",
    )
    parser.add_argument(
        "--scene-id",
        metavar="IDS",
        help="resync_scene only: one scene id or a comma-separated list, e.g. 12,15",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help=f"{', '.join(DRY_RUN_MODES)}: log per scene what would change in Plex, write nothing",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="PlexSync's data folder (queue, sync state). Default: $PLEXSYNC_DATA_DIR, else the "
        "'data' folder next to PlexSync.py, the one Stash uses",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="also show debug lines")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    return parser


def server_connection_for(url: str, api_key: str | None) -> dict[str, Any]:
    """The ``server_connection`` Stash would send, from a URL; ValueError names what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--stash-url {url!r} must look like http://127.0.0.1:9999")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"--stash-url {url!r}: PlexSync talks to Stash at the root of a host; a path "
            f"({parts.path or parts.query}) is not supported. Use Stash's own address and port."
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"--stash-url {url!r} has an invalid port") from None
    connection: dict[str, Any] = {
        "Scheme": parts.scheme,
        "Host": parts.hostname,
        "Port": port or (443 if parts.scheme == "https" else 80),
        "SessionCookie": None,
        "Dir": None,
        "PluginDir": str(PLUGIN_DIR),
    }
    if api_key:
        connection["ApiKey"] = api_key
    return connection


def main(argv: list[str]) -> int:
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    options = parser.parse_args(argv)

    from stash import protocol

    api_key = options.api_key or os.environ.get("STASH_API_KEY") or None
    protocol.register_secret(api_key)
    if options.mode == "resync_scene" and not options.scene_id:
        parser.error("resync_scene needs --scene-id, e.g. --scene-id 12 or --scene-id 12,15")
    if options.scene_id and options.mode != "resync_scene":
        parser.error(f"--scene-id is only for resync_scene, not {options.mode}")
    if options.dry_run and options.mode not in DRY_RUN_MODES:
        parser.error(f"--dry-run is for {', '.join(DRY_RUN_MODES)}, not {options.mode}")
    try:
        connection = server_connection_for(options.stash_url, api_key)
    except ValueError as exc:
        parser.error(str(exc))
    if options.data_dir is not None:
        os.environ["PLEXSYNC_DATA_DIR"] = str(options.data_dir.expanduser().resolve())

    args: dict[str, Any] = {"mode": options.mode}
    if options.scene_id:
        args["scene_id"] = options.scene_id
    if options.dry_run:
        args["dry_run"] = True

    level = "d" if options.verbose else "w" if options.quiet else "i"
    real_stderr = sys.stderr
    sys.stderr = PlainLog(real_stderr, level)
    try:
        output, error = _run(options.mode, args, connection)
    finally:
        sys.stderr.flush()
        sys.stderr = real_stderr
    text = json.dumps({"output": output, "error": error}, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(protocol.redact(text) + "\n")
    sys.stdout.flush()
    return 1 if error else 0


def _run(mode: str, args: dict[str, Any], connection: dict[str, Any]) -> tuple[Any, str | None]:
    """run_task, with the failures Stash would show as a task error turned into one."""
    from stash import protocol
    from stash.graphql import StashError
    from sync.db import DatabaseError
    from worker.install.bootstrap import run_task  # vendor/ first, as under Stash

    try:
        output, error = run_task(mode, args, connection)
    except StashError as exc:
        output, error = None, f"{exc}"
    except DatabaseError as exc:
        output, error = None, str(exc)
    if error:
        protocol.error(error)
    return output, error
