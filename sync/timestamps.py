"""Stash timestamps as instants.

Stash writes ``updated_at`` with ``time.RFC3339`` in the server's local zone
(``2026-01-11T18:07:53+11:00``, or ``...Z`` in a UTC container), at one-second resolution. Two
strings for the same instant can differ, so PlexSync compares parsed instants, never strings.

The hook parses one of these per edit of a synced scene, so Stash's exact shape is read here
with integer arithmetic, the value ``datetime`` would give to the last bit; any other shape goes
to ``datetime.fromisoformat``. Importing ``datetime`` (and ``re``) would cost the hook more time
and memory than everything else it does with the timestamp.
"""

from __future__ import annotations

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Where the separators of YYYY-MM-DDTHH:MM:SS[.ffffff]±HH:MM sit; every other place is a digit.
_SEPARATORS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":"}


def _six_fraction_digits(text: str) -> str:
    """Python 3.10's fromisoformat takes at most six fractional digits; Go may write nine. The
    first dot followed by digits gets exactly six (cut or padded with zeros)."""
    dot = text.find(".")
    while dot >= 0:
        end = dot + 1
        while end < len(text) and text[end].isdecimal():  # what a regular expression's \d matches
            end += 1
        if end > dot + 1:
            return text[: dot + 1] + text[dot + 1 : end][:6].ljust(6, "0") + text[end:]
        dot = text.find(".", dot + 1)
    return text


def _days_since_epoch(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the date (proleptic Gregorian), by counting whole years and months."""
    before = year - 1
    days = before * 365 + before // 4 - before // 100 + before // 400 - 719162  # 719162: 0001-01-01 to 1970
    days += sum(_DAYS_IN_MONTH[: month - 1]) + (month > 2 and _is_leap(year))
    return days + day - 1


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _stash_shape(text: str) -> float | None:
    """The instant of ``YYYY-MM-DDTHH:MM:SS[.ffffff]±HH:MM`` (fraction already six digits), or
    None when the text has any other shape or an out-of-range field (fromisoformat decides)."""
    fraction = 7 if len(text) == 32 and text[19] == "." else 0
    if len(text) != 25 + fraction or not text.isascii() or text[19 + fraction] not in "+-" or text[22 + fraction] != ":":
        return None
    if any(text[i] != mark for i, mark in _SEPARATORS.items()):
        return None
    fields = (text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19],
              text[20:26] if fraction else "0", text[20 + fraction : 22 + fraction], text[23 + fraction :])
    if not all(field.isdigit() for field in fields):
        return None
    year, month, day, hour, minute, second, micro, off_hours, off_minutes = map(int, fields)
    if not (1 <= year and 1 <= month <= 12 and hour < 24 and minute < 60 and second < 60
            and off_hours < 24 and off_minutes < 60):
        return None
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1] + (month == 2 and _is_leap(year)):
        return None
    offset = (off_hours * 3600 + off_minutes * 60) * (-1 if text[19 + fraction] == "-" else 1)
    seconds = _days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    return (seconds * 1_000_000 + micro) / 1_000_000  # as datetime.timestamp(): exact, then divided


def _by_datetime(text: str) -> float | None:
    from datetime import datetime, timezone  # any other shape: rare, and only fromisoformat knows

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def parse_instant(value: str | None) -> float | None:
    """Seconds since the epoch for an RFC3339 string, or None if it is not one."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _six_fraction_digits(text)
    instant = _stash_shape(text)
    return instant if instant is not None else _by_datetime(text)


def utc_text(seconds: float) -> str:
    """An instant as Stash writes its play history: RFC3339 in UTC, whole seconds
    (``2026-01-11T07:07:53Z``). Stash compares a play-time filter with that text as text."""
    from datetime import datetime, timezone  # tasks only: the hook never formats a time

    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
