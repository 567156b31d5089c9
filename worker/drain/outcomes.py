"""What processing one job can end in: the result the drain counts, and the two ways a scene
leaves the normal path (wait and try again, or park it for the user)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from queue.inbox import FAILED, REVIEW
from worker.drain import retry


@dataclass
class Outcome:
    """What happened to one job; ``kind`` drives the drain's counters and summary."""

    kind: str  # written | unchanged | covered | deleted | stale | review | failed | retry | dry_run
    scene_id: int
    message: str = ""
    rating_key: int | None = None
    plan: Any = None  # plex.writer.Plan for written, unchanged and dry-run outcomes
    plex_requests: int = 0
    transient: bool = False
    changes: list[str] = field(default_factory=list)
    stamp: str | None = None  # the scene's updated_at this outcome is about (what is now in Plex)


class RetryLater(Exception):
    """This scene should be tried again later, under ``policy`` (see worker.drain.retry)."""

    def __init__(self, policy: retry.Policy, reason: str) -> None:
        super().__init__(reason)
        self.policy = policy
        self.reason = reason


class Park(Exception):
    """This scene goes to the failed or needs-review list until an edit or *Retry failed*."""

    def __init__(self, state: str, reason: str, detail: dict[str, Any] | None = None) -> None:
        if state not in (FAILED, REVIEW):
            raise ValueError(f"cannot park a scene as {state!r}")
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.detail = detail
