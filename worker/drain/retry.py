"""When to try a scene again: exponential backoff with jitter, and when to stop trying.

persist-queue has no delayed visibility, so a job that must wait is not left in it (the worker
would take it, find it not due, put it back, and spin). It goes back to the inbox with a
``not_before`` time instead; the inbox's "due" query skips it until then, and a drain that has
nothing else due ends rather than wait.

Jitter (a random factor in [0.5, 1.0]) keeps scenes that failed together from all coming due in
the same second, which after an outage would hit Plex with the whole backlog at once.
"""

from __future__ import annotations

import random
from collections import namedtuple

Policy = namedtuple("Policy", "base_s cap_s max_attempts")

# Plex has not scanned the file yet: 1 min, 2, 4 ... 8 tries cover about four hours.
NOT_FOUND = Policy(base_s=60.0, cap_s=4 * 3600.0, max_attempts=8)
# One request failed (5xx on this item, a timeout): retried for a while, then reported.
TRANSIENT = Policy(base_s=30.0, cap_s=3600.0, max_attempts=10)
# Plex unreachable or the token refused is no policy here: the drain stops and the job is due
# again as soon as Plex answers (worker.drain.engine), never delayed and never an attempt.


def backoff_delay(attempt: int, policy: Policy, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` counts from 1)."""
    attempt = max(1, int(attempt))
    raw = min(policy.cap_s, policy.base_s * (2 ** min(attempt - 1, 30)))
    factor = 0.5 + 0.5 * (rng or random).random()
    return raw * factor


def exhausted(attempts_so_far: int, policy: Policy) -> bool:
    """True when the attempt just made was the last one the policy allows."""
    return policy.max_attempts > 0 and attempts_so_far >= policy.max_attempts
