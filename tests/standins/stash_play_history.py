"""Play history for the Stash stand-in, the way Stash keeps it (commit cf3489e).

Stash stores each play as a row of ``scenes_view_dates`` written as a ``UTCTimestamp`` (RFC3339 in
UTC, whole seconds: ``2026-01-11T07:07:53Z``), whatever zone the server runs in. A scene's
``last_played_at`` is the newest of them, and the ``last_played_at`` filter compares
``IFNULL(MAX(view_date), datetime(0))`` with the criterion's value AS TEXT (no parsing), like
every timestamp criterion: a value written in UTC compares correctly, one in another zone does
not (pkg/sqlite/scene_filter.go, criterion_handlers.go getTimestampWhereClause).

``sceneAddPlay(id, times)`` takes ``Timestamp`` values: RFC3339 (any offset), or ``<4h`` / ``>5m``
relative to now (utils.ParseTimestamp). ``sceneSaveActivity`` sets ``resume_time`` and adds to
``play_duration``; neither mutation moves ``updated_at`` or fires a hook.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from graphql import GraphQLError

# SQLite's datetime(0): what IFNULL puts in place of a scene never played.
NEVER = "1970-01-01 00:00:00"
_RELATIVE = re.compile(r"^([<>])(\d+)([smhdwy]|mo)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000, "y": 31536000}


def utc_text(moment: datetime) -> str:
    """How a view date is stored and returned: RFC3339 in UTC, whole seconds."""
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: Any, now: float) -> str:
    """A ``Timestamp`` input as Stash stores it, or a GraphQL error naming the value."""
    text = str(value).strip()
    relative = _RELATIVE.match(text)
    if relative:
        seconds = int(relative.group(2)) * _UNITS[relative.group(3)]
        shift = -seconds if relative.group(1) == "<" else seconds
        return utc_text(datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=shift))
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        raise GraphQLError(f"invalid timestamp: {text!r}") from None
    if moment.tzinfo is None or "T" not in text:
        raise GraphQLError(f"invalid timestamp: {text!r} (RFC3339 with a zone)")
    return utc_text(moment)


def last_played_at(scene: dict[str, Any]) -> str | None:
    history = scene["play_history"]
    return max(history) if history else None


def matches_last_played(scene: dict[str, Any], criterion: dict[str, Any], compare: Any) -> bool:
    """The ``last_played_at`` criterion: IFNULL(MAX(view_date), datetime(0)) against the text
    (so IS_NULL never matches, as in Stash)."""
    return bool(compare(last_played_at(scene) or NEVER, criterion))


def save_activity(scene: dict[str, Any], resume_time: float | None, duration: float | None) -> None:
    if resume_time is not None:
        scene["resume_time"] = float(resume_time)
    if duration is not None:
        scene["play_duration"] = float(scene["play_duration"] or 0.0) + float(duration)
