"""Stash timestamps as instants.

Stash writes ``updated_at`` with ``time.RFC3339`` in the server's local zone
(``2026-01-11T18:07:53+11:00``, or ``...Z`` in a UTC container), at one-second resolution. Two
strings for the same instant can differ, so PlexSync compares parsed instants, never strings.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

_FRACTION = re.compile(r"\.(\d+)")


def parse_instant(value: str | None) -> float | None:
    """Seconds since the epoch for an RFC3339 string, or None if it is not one."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes at most six fractional digits; Go may write nine.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def utc_text(seconds: float) -> str:
    """An instant as Stash writes its play history: RFC3339 in UTC, whole seconds
    (``2026-01-11T07:07:53Z``). Stash compares a play-time filter with that text as text."""
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
