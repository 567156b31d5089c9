"""The Process queue task: drain the inbox into Plex inside one Stash task.

Stash runs the task in its job queue (progress bar, cancel button = kill). Inside it:

* the main thread holds the lease (one drainer across processes), moves due inbox rows into the
  persist-queue work queue in small batches, reports progress (0..1) and renews the lease;
* one worker thread takes jobs from the work queue and processes them (``worker.drain.processor``).

The run ends when nothing is due, decided atomically with releasing the lease
(``lease.release_if_idle``), so an edit queued at that moment either is seen by this drain or
finds no holder and asks Stash for a new one. Jobs waiting for a retry time are not due: they do
not keep the task alive and are never taken and put back.

Stopping early keeps everything: when Plex is unreachable, refuses the token, or Stash stops
answering, the job at hand and every job already handed over go back to the inbox as pending
(nothing is dead-lettered, no attempt is counted), and the task ends with one clear error.
A kill -9 at any point loses nothing either: the work queue is resumed by the next drain and the
inbox still marks the scenes as queued (``release_orphans`` covers the gap in between).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plex.errors import PlexAuthError, PlexSetupError, PlexUnavailable
from plex.session import PlexSession
from queue import lease
from queue.inbox import FAILED
from queue.inbox_tasks import TaskInbox
from queue.work import WorkQueue
from stash import protocol
from stash.graphql import StashError, StashUnavailable
from sync import db
from sync.error_log import ErrorLog
from sync.ledger import Ledger
from sync.meta import PlexServerIdentity
from worker.context import TaskContext
from worker.drain.drift import DriftCheck
from worker.drain.end import DrainEnd
from worker.drain.outcomes import Outcome
from worker.drain.plex_scans import PlexScans
from worker.drain.processor import Prefetched, Processor
from worker.drain.progress import Progress
from worker.install.dependencies import missing_dependency_message

BATCH = 25  # rows moved from the inbox per feed: the work queue stays short
LOW_WATER = 10  # refill when fewer than this many jobs are handed over and unfinished
TICK_S = 0.2
WORKER_POLL_S = 0.1
RENEW_EVERY_S = 5.0
PROGRESS_EVERY_S = 1.0
# Consecutive per-item 5xx answers after which Plex counts as down, not one item as bad.
TRANSIENT_STOP_AFTER = 3


@dataclass
class DrainStats:
    started: float = field(default_factory=time.monotonic)
    counts: dict[str, int] = field(default_factory=dict)
    plex_requests: int = 0
    resumed: int = 0
    released_orphans: int = 0

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.kind] = self.counts.get(outcome.kind, 0) + 1
        self.plex_requests += outcome.plex_requests

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    def as_output(self) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "written": self.counts.get("written", 0),
            "unchanged": self.counts.get("unchanged", 0) + self.counts.get("covered", 0),
            "needs_review": self.counts.get("review", 0),
            "failed": self.counts.get("failed", 0),
            "retry_later": self.counts.get("retry", 0),
            "waiting_for_plex": self.counts.get("waiting", 0),
            "deleted": self.counts.get("deleted", 0),
            "plex_item_requests": self.plex_requests,
            "seconds": round(time.monotonic() - self.started, 2),
        }


class _Stop:
    """Why the drain stopped early, and the one error line the user sees."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message


class Drain:
    def __init__(self, ctx: TaskContext, work: WorkQueue, holder: str, *,
                 plex: PlexSession | None = None,
                 on_outcome: Callable[[Outcome], None] | None = None,
                 progress: Progress | None = None) -> None:
        self.ctx = ctx
        self.on_outcome = on_outcome
        self.progress = progress or protocol.progress
        self.config = ctx.config
        self.work = work
        self.holder = holder
        drift = DriftCheck(lambda: Ledger(ctx.conn))
        self.plex = plex or PlexSession(self.config, ctx.data_dir, on_listed=drift,
                                        on_connected=lambda mid: PlexServerIdentity(ctx.conn).remember(mid))
        self.scans = PlexScans(self.plex)
        self.processor = Processor(ctx, self.config, self.plex, scans=self.scans)
        self.synced_now: dict[int, str] = {}  # scene -> the updated_at this drain put in Plex
        self.ending = DrainEnd(ctx, self.plex, self.scans, self.synced_now, groups=self.processor.collections,
                               still_holding=lambda: lease.renew(ctx.conn, holder))
        self.stats = DrainStats()
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.stopped: _Stop | None = None
        self._lock = threading.Lock()
        self._in_hand = 0  # handed to the work queue and not yet finished by the worker
        self._consecutive_transient = 0

    # -- main thread --------------------------------------------------------------------------

    def run(self) -> tuple[dict[str, Any], str | None]:
        self._resume()
        worker = threading.Thread(target=self._worker_loop, name="plexsync-worker", daemon=True)
        worker.start()
        released = False
        self._last_renew = self._last_progress = time.monotonic()
        try:
            while self.stopped is None:
                self.wake.clear()  # before looking, so a wake-up during the checks is kept
                self._feed()
                self._keep_lease_and_progress()
                if not worker.is_alive() and self.stopped is None:
                    self.stopped = _Stop("internal", "the worker thread ended unexpectedly; see the debug log")
                if self.stopped is not None:
                    break
                if self._idle():
                    released = self._try_to_end()
                    if released:
                        break
                    continue  # something became due: feed it
                self.wake.wait(TICK_S)
        finally:
            self.stop_event.set()
            self.wake.set()
            worker.join(timeout=120)
            try:
                if self.stopped is not None and self.stopped.kind != "lease":
                    self._return_handed_over()
            finally:
                if not released and (self.stopped is None or self.stopped.kind != "lease"):
                    lease.release(self.ctx.conn, self.holder)
                self.plex.close()
        self.progress(1.0)
        return self._finish()

    def _resume(self) -> None:
        """Jobs an interrupted drain left: in the work queue (resumed) or only marked (released)."""
        in_work = self.work.scene_ids()
        self.stats.released_orphans = db.transaction(self.ctx.conn, lambda c: TaskInbox(c).release_orphans(in_work))
        self.stats.resumed = self.work.pending()
        with self._lock:
            self._in_hand = self.stats.resumed
        if self.stats.resumed:
            protocol.info(f"resuming {self.stats.resumed} job(s) an interrupted drain left in progress")
        if self.stats.released_orphans:
            protocol.info(f"{self.stats.released_orphans} scene(s) an interrupted drain had taken are queued again")

    def _keep_lease_and_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_renew >= RENEW_EVERY_S:
            self._last_renew = now
            if not lease.renew(self.ctx.conn, self.holder):
                self.stopped = _Stop("lease", "another drain took over the queue (this one "
                                     "stopped renewing its lease in time); it continues the work")
        if now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            self._report_progress()

    def _try_to_end(self) -> bool:
        """Nothing in hand: let the end-of-drain work queue more, else release (True: ended)."""
        try:
            if self.ending.found_work():
                return False
        except PlexAuthError as exc:
            self.stopped = _Stop("auth", _auth_message(exc, self.config.plex_url))
            return False
        return lease.release_if_idle(self.ctx.conn, self.holder)

    def _idle(self) -> bool:
        with self._lock:
            return self._in_hand == 0

    def _feed(self) -> None:
        with self._lock:
            room = BATCH - self._in_hand if self._in_hand < LOW_WATER else 0
        if room <= 0 or self.stop_event.is_set():
            return

        def take(c: Any) -> list:
            inbox = TaskInbox(c)
            entries = inbox.due(room)
            for entry in entries:
                inbox.mark_queued(entry.scene_id, entry.generation)
            return entries

        entries = db.transaction(self.ctx.conn, take)
        for entry in entries:
            with self._lock:
                self._in_hand += 1
            self.work.put(entry.job())

    def _report_progress(self) -> None:
        waiting = TaskInbox(self.ctx.conn).due_count()
        with self._lock:
            in_hand = self._in_hand
        done = self.stats.processed
        total = done + in_hand + waiting
        self.progress(done / total if total else 1.0)

    def _return_handed_over(self) -> None:
        """Stopping early: every job handed over but not processed goes back to pending."""
        taken = self.work.drain_pending()
        if taken:
            self._back_to_pending(taken)
            for row_id, _ in taken:
                self.work.ack(row_id)

    def _back_to_pending(self, jobs: list[tuple[int, dict[str, Any]]], *,
                         reason: str | None = None, last: bool = False) -> None:
        """Jobs the drain took but will not process are due again at once, no attempt counted
        (``last``: behind every other queued job)."""
        if reason is None:
            reason = _first_sentence(self.stopped.message if self.stopped else "drain stopped")
        scene_ids = [int(job["scene_id"]) for _, job in jobs]
        db.transaction(self.ctx.conn, lambda c: TaskInbox(c).return_unprocessed(scene_ids, reason, last=last))

    def _finish(self) -> tuple[dict[str, Any], str | None]:
        output = self.stats.as_output()
        if self.ending.report:
            output["convergence"] = self.ending.report
        counts = TaskInbox(self.ctx.conn).counts()
        output["still_pending"] = counts["pending"]
        output["waiting_retry"] = counts["waiting_retry"]
        summary = (
            f"PlexSync drain: {output['processed']} scene(s) in {output['seconds']:.1f}s: "
            f"{output['written']} written, {output['unchanged']} already up to date, "
            f"{output['needs_review']} need review, {output['failed']} failed, "
            f"{output['retry_later']} to retry later, {output['deleted']} deleted"
            + (f", {output['waiting_for_plex']} waiting for Plex to scan" if output["waiting_for_plex"] else "")
        )
        if counts["waiting_retry"]:
            summary += f"; {counts['waiting_retry']} waiting for a retry time (the next drain takes them)"
        if self.stopped is None:
            output["status"] = "done"
            protocol.info(summary)
            return output, None
        output["status"] = "stopped"
        output["stopped_because"] = self.stopped.kind
        protocol.info(summary)
        return output, f"{self.stopped.message} {counts['pending']} scene(s) stay queued."

    # -- worker thread ------------------------------------------------------------------------

    def _worker_loop(self) -> None:
        try:
            while not self.stop_event.is_set():
                batch = self._take_batch()
                if not batch:
                    continue
                prefetched = self._prefetch(batch)
                for position, (row_id, job) in enumerate(batch):
                    if self.stopped is not None:
                        self._give_back(batch[position:])
                        break
                    try:
                        self._handle(job, prefetched)
                    finally:
                        self._finished(row_id)
        except Exception as exc:  # noqa: BLE001 - a bookkeeping failure: stop cleanly, the jobs are kept
            for line in traceback.format_exc().splitlines():
                protocol.debug(line)
            if self.stopped is None:
                self.stopped = _Stop("internal", f"the drain failed: {type(exc).__name__}: {exc}.")
            self.stop_event.set()
            self.wake.set()

    def _take_batch(self) -> list[tuple[int, dict[str, Any]]]:
        """The next job (waiting briefly for one) plus whatever else is ready, up to BATCH.

        The wait is short because persist-queue's wait cannot be interrupted: it bounds how long
        the end of a drain waits for this thread (a put wakes it at once).
        """
        first = self.work.get(timeout=WORKER_POLL_S)
        if self.stop_event.is_set():
            if first is not None:
                self._give_back([first])
            return []
        if first is None:
            return []
        batch = [first]
        while len(batch) < BATCH:
            more = self.work.get(timeout=0)
            if more is None:
                break
            batch.append(more)
        return batch

    def _prefetch(self, batch: list[tuple[int, dict[str, Any]]]) -> Prefetched | None:
        """One Stash request for the whole batch; on failure each job reads its own scene."""
        try:
            return self.processor.prefetch([int(job["scene_id"]) for _, job in batch])
        except (StashUnavailable, StashError) as exc:
            protocol.debug(f"batched scene read failed ({exc}); reading scenes one by one")
            return None

    def _finished(self, row_id: int) -> None:
        self.work.ack(row_id)
        with self._lock:
            self._in_hand -= 1
        self.wake.set()

    def _give_back(self, rest: list[tuple[int, dict[str, Any]]]) -> None:
        """Jobs taken for a batch but not processed because the drain is stopping."""
        self._back_to_pending(rest)
        for row_id, _ in rest:
            self._finished(row_id)

    def _handle(self, job: dict[str, Any], prefetched: Prefetched | None = None) -> None:
        outcome = self._outcome_of(job, prefetched)
        if outcome is None:
            return  # the drain stops; the job went back to the inbox
        self.stats.add(outcome)
        if outcome.stamp is not None:
            self.synced_now[outcome.scene_id] = outcome.stamp
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        if outcome.transient:
            self._consecutive_transient += 1
            if self._consecutive_transient >= TRANSIENT_STOP_AFTER:
                self._stop(_Stop("outage", f"Plex failed {self._consecutive_transient} requests in a row "
                                 f"({outcome.message}); the drain stopped early."))
        elif outcome.kind != "stale":
            self._consecutive_transient = 0

    def _outcome_of(self, job: dict[str, Any], prefetched: Prefetched | None) -> Outcome | None:
        """The job's outcome, or None when its failure stops the whole drain (job kept)."""
        try:
            return self.processor.process(job, prefetched)
        except (PlexAuthError, PlexSetupError, PlexUnavailable, StashUnavailable, ModuleNotFoundError) as exc:
            stop = self._stop_for(exc)
            if stop is None:
                return self._internal_failure(job, exc)
            self._stop_with_job(job, stop)
            return None
        except Exception as exc:  # noqa: BLE001 - one scene's bug must not stop the others
            for line in traceback.format_exc().splitlines():
                protocol.debug(line)
            return self._internal_failure(job, exc)

    def _stop_for(self, exc: Exception) -> _Stop | None:
        """Failures that are not the scene's fault stop the drain (None: treat as the scene's)."""
        if isinstance(exc, PlexAuthError):
            return _Stop("auth", _auth_message(exc, self.config.plex_url))
        if isinstance(exc, PlexSetupError):
            return _Stop("setup", f"{exc}. Fix it in Settings → Plugins → PlexSync.")
        if isinstance(exc, PlexUnavailable):
            return _Stop("outage", _outage_message(exc, self.config.plex_url))
        if isinstance(exc, StashUnavailable):
            return _Stop("stash", f"Stash stopped answering ({exc}); the drain stopped.")
        if isinstance(exc, ModuleNotFoundError):
            # A package missing from Stash's Python is not this scene's fault: stop, keep the job.
            message = missing_dependency_message(exc)
            return _Stop("setup", message) if message is not None else None
        return None

    def _stop(self, stop: _Stop) -> None:
        if self.stopped is None:
            self.stopped = stop
        self.stop_event.set()
        self.wake.set()

    def _stop_with_job(self, job: dict[str, Any], stop: _Stop) -> None:
        """Put the job at hand back and stop. It is due again as soon as Plex answers (an outage or
        a refused token is not the scene's fault: no attempt counted, no retry time); after an
        outage it goes behind the other queued jobs, so that the next drain does not try the very
        same scene first (a timeout may be about that one item)."""
        reason = protocol.redact(_first_sentence(stop.message))
        self._back_to_pending([(0, job)], reason=reason, last=stop.kind == "outage")
        ErrorLog(self.ctx.conn).record(int(job["scene_id"]), reason)
        self._stop(stop)

    def _internal_failure(self, job: dict[str, Any], exc: Exception) -> Outcome:
        scene_id = int(job["scene_id"])
        reason = protocol.redact(f"internal error while syncing: {type(exc).__name__}: {exc}")
        generation = int(job["generation"])
        db.transaction(self.ctx.conn, lambda c: TaskInbox(c).park(scene_id, generation, FAILED, reason))
        ErrorLog(self.ctx.conn).record(scene_id, reason)
        protocol.error(f"scene {scene_id}: {reason} (please report this with the debug log)")
        return Outcome(FAILED, scene_id, reason)


def _first_sentence(message: str) -> str:
    return message.split(". ")[0].rstrip(".")


def _auth_message(exc: PlexAuthError, url: str) -> str:
    if exc.status == 403:
        return (f"Plex at {url} refused PlexSync's edits (HTTP 403): the plex_token setting belongs "
                "to an account that may not edit this server; use the server owner's X-Plex-Token "
                "(README: Getting your Plex token). The drain stopped.")
    return (f"Plex at {url} rejected the token (HTTP 401): the plex_token setting is wrong or "
            "expired; paste a valid X-Plex-Token in Settings → Plugins → PlexSync (README: "
            "Getting your Plex token). The drain stopped.")


def _outage_message(exc: PlexUnavailable, url: str) -> str:
    return (f"Plex at {url} is unreachable ({exc}); the drain stopped early and will continue on "
            "the next run (the next edit starts one, or run Process queue).")


def _check_tls_warning(config: Any) -> None:
    if config.plex_url.startswith("https") and not config.tls_verify:
        protocol.warning(
            "tls_verify is off: the Plex certificate is not checked, so anyone on the path could "
            "read your token. Turn it on unless you trust this network."
        )


def run_drain(
    ctx: TaskContext, *, on_outcome: Callable[[Outcome], None] | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], str | None]:
    """The process_queue task (also the tail of retry_failed and the sync tasks).

    ``on_outcome`` sees every scene's result, for tasks that report per scene (resync_scene);
    ``progress`` receives the drain's 0..1 (Stash's bar by default; a sync task maps it into the
    part of the bar after its scan).
    """
    config = ctx.config  # a settings problem ends the task here, before the lease
    _check_tls_warning(config)
    if not ctx.requested_by_hook:
        _everything_due(ctx)
    holder = lease.new_holder_id()
    if lease.acquire(ctx.conn, holder) is None:
        message = "a drain is already running; it will write the queued scenes, so this run exits"
        protocol.info(message)
        return {"status": "already_running", "message": message}, None
    try:
        work = WorkQueue(ctx.data_dir)
    except BaseException:
        lease.release(ctx.conn, holder)
        raise
    try:
        return Drain(ctx, work, holder, on_outcome=on_outcome, progress=progress).run()
    finally:
        work.close()


def _everything_due(ctx: TaskContext) -> None:
    """A person started this run (the Tasks page, Retry failed, the scene page's button, a sync
    task): every queued job is due now, whatever retry time it waits for. Done before the lease,
    so a drain already running takes them too. A drain a hook asked for keeps the retry times."""
    count = db.transaction(ctx.conn, lambda c: TaskInbox(c).make_all_due(time.time()))
    if count:
        protocol.info(f"{count} queued scene(s) waiting for a retry time are tried now (this run was started by hand)")


def drain_summary(output: Any) -> str:
    """One line about a drain's result, for the summary of the task that ran it."""
    if not isinstance(output, dict):
        return "drain: no result"
    if output.get("status") == "already_running":
        return "drain: another drain is running and will write them"
    return (
        f"drain: {output.get('written', 0)} written, {output.get('unchanged', 0)} already up to date, "
        f"{output.get('needs_review', 0)} need review, {output.get('failed', 0)} failed, "
        f"{output.get('retry_later', 0)} to retry later"
    )
