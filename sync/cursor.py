"""Stash timestamps as a cursor: how *Sync recent changes* asks Stash "what changed since?".

Stash's ``updated_at > ?`` filter is a *string* comparison against values stored in the server's
local offset (``2026-01-11T18:07:53+11:00``, or ``...Z`` in a UTC container). A cursor in any
other format compares wrongly: a UTC ``Z`` cursor on a server west of UTC skips edits, east of
UTC it re-reads hours of them. So the cursor is always a timestamp Stash itself returned, and the
value sent is that instant minus an overlap margin (commit lag, plus one hour for the end of DST),
written in the offset Stash uses. When Stash's offset changes for good (a moved container), the
offsets seen so far are remembered and the earliest rendering is sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from sync.timestamps import parse_instant

# Rows committed a moment after a later-stamped row was read, and clock jitter, are re-read...
COMMIT_OVERLAP_S = 120
# ...and so is one hour more: when DST ends (e.g. +11:00 → +10:00), rows written in the next
# hour carry wall clocks up to an hour *earlier* than the cursor's, and would sort before it.
# Re-reading costs ids and stamps only; needs_resync filters out everything already synced.
DST_GUARD_S = 3600
OVERLAP_S = COMMIT_OVERLAP_S + DST_GUARD_S
MAX_ZONES = 6

_STAMP = re.compile(
    r"^(?P<wall>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})$"
)


def stamp_zone(stamp: str | None) -> str | None:
    """The offset suffix of a Stash timestamp ("Z" or "+11:00"), or None if it is not RFC3339."""
    match = _STAMP.match(stamp.strip()) if isinstance(stamp, str) else None
    if match is None:
        return None
    zone = match.group("zone")
    return "Z" if zone in ("Z", "z") else zone


def _tz(zone: str) -> timezone:
    if zone == "Z":
        return timezone.utc
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def format_in_zone(instant: float, zone: str) -> str:
    """``instant`` written the way Stash writes it in that offset (RFC3339, whole seconds).

    Fractions are floored away, which only moves a cursor earlier: safe.
    """
    moment = datetime.fromtimestamp(math.floor(instant), _tz(zone))
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + zone


def shift_stamp(stamp: str, seconds: float) -> str:
    """``stamp`` moved by ``seconds``, in the same offset and format as ``stamp``."""
    instant, zone = parse_instant(stamp), stamp_zone(stamp)
    if instant is None or zone is None:
        raise ValueError(f"not a Stash timestamp: {stamp!r}")
    return format_in_zone(instant + seconds, zone)


def query_since(cursor: str, zones: Iterable[str] = (), margin_s: float = OVERLAP_S) -> str:
    """The value to send as ``updated_at > ?``: the cursor minus the margin, in Stash's offsets.

    With one offset this is simply the cursor shifted back, in the cursor's own offset. When
    Stash has used several (DST), a row stored in offset Z is found only if the value's wall
    clock is earlier than the row's in Z; the earliest rendering over all offsets covers them all.
    """
    instant = parse_instant(cursor)
    own = stamp_zone(cursor)
    if instant is None or own is None:
        raise ValueError(f"the stored cursor {cursor!r} is not a Stash timestamp")
    return min(format_in_zone(instant - margin_s, zone) for zone in {own, *zones})


def later(stamp: str | None, than: str | None) -> bool:
    """Compare two Stash stamps as instants (strings in different offsets do not compare)."""
    a, b = parse_instant(stamp), parse_instant(than)
    if a is None:
        return False
    return b is None or a > b


def valid_zones(zones: Iterable[object]) -> list[str]:
    """The offsets that really are offsets (a stored list may have been edited by hand)."""
    return [z for z in zones if isinstance(z, str) and stamp_zone("2000-01-01T00:00:00" + z)]


def trim_handled(handled: dict[str, str], cursor: str | None) -> dict[str, str]:
    """Keep only objects still inside the overlap window; older ones are never listed again.

    Values are ``"<updated_at>|<name>"`` (or a bare updated_at, as older releases stored them).
    """
    floor = (parse_instant(cursor) or 0.0) - OVERLAP_S - 60 if cursor else None
    return {
        key: seen for key, seen in handled.items()
        if floor is None or (parse_instant(seen.split("|", 1)[0]) or 0.0) >= floor
    }
