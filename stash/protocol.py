"""Stash's raw plugin protocol: one JSON document in, one JSON object out, logs on stderr.

Stash parses stdout as ``{"output": ..., "error": ...}`` only if stdout holds exactly that object,
so nothing else may ever be printed there. Log lines carry a level prefix (``\\x01`` + level +
``\\x02``) and must stay under the 64 KiB line limit of Stash's reader, or the pipe closes.
"""

from __future__ import annotations

import sys

from stash import json_codec

LEVELS = {"trace": "t", "debug": "d", "info": "i", "warning": "w", "error": "e"}
# Stash reads stderr with a 64 KiB line scanner; stay well below it, counted in encoded bytes.
MAX_LINE_BYTES = 60_000

_secrets: set[str] = set()


class ProtocolError(Exception):
    """The stdin document is not what Stash sends; the message says what to fix."""


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every log line and result from now on (the Plex token)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _clip(line: str) -> str:
    data = line.encode("utf-8", "replace")
    if len(data) <= MAX_LINE_BYTES:
        return line
    return data[: MAX_LINE_BYTES - 20].decode("utf-8", "ignore") + " …[truncated]"


def log(level: str, message: object) -> None:
    prefix = "\x01" + LEVELS[level] + "\x02"
    text = redact(str(message))
    lines = text.splitlines() or [""]
    out = "".join(prefix + _clip(line) + "\n" for line in lines)
    try:
        sys.stderr.write(out)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # Stash stopped reading (cancelled task): logging must never crash the work.


def trace(message: object) -> None:
    log("trace", message)


def debug(message: object) -> None:
    log("debug", message)


def info(message: object) -> None:
    log("info", message)


def warning(message: object) -> None:
    log("warning", message)


def error(message: object) -> None:
    log("error", message)


def progress(fraction: float) -> None:
    """Report task progress; Stash expects a float in 0..1 (hooks have no progress bar)."""
    value = min(1.0, max(0.0, float(fraction)))
    try:
        sys.stderr.write(f"\x01p\x02{value:.4f}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def parse_input(raw: bytes) -> tuple[dict, dict]:
    """Split Stash's stdin document into (server_connection, args)."""
    if not raw.strip():
        raise ProtocolError(
            "no input on stdin: PlexSync.py is run by Stash, which writes one JSON document "
            "to stdin (run `python PlexSync.py --help` for command-line use)"
        )
    try:
        document = json_codec.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise ProtocolError(f"stdin is not valid JSON ({exc}); expected Stash's plugin input") from None
    if not isinstance(document, dict):
        raise ProtocolError(
            f"stdin JSON is a {type(document).__name__}, expected an object with "
            "server_connection and args"
        )
    connection = document.get("server_connection")
    if not isinstance(connection, dict):
        raise ProtocolError(
            "stdin JSON has no server_connection object; PlexSync needs it to reach Stash"
        )
    args = document.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ProtocolError(f"stdin args is a {type(args).__name__}, expected an object")
    return connection, args


def emit_result(output: object = None, error_message: str | None = None) -> None:
    """Write the single JSON object Stash reads from stdout."""
    payload = json_codec.dumps({"output": output, "error": error_message}, ensure_ascii=False, default=str)
    sys.stdout.write(redact(payload) + "\n")
    sys.stdout.flush()
