"""What can go wrong when talking to Plex, sorted by what the drain must do about it.

plexapi raises requests' transport errors unwrapped and folds every HTTP status other than 401
and 404 into ``BadRequest`` with the code in the message. The drain needs a decision, not a
status: stop and keep everything (outage, wrong token), retry this scene later, forget a binding,
or give up on this scene with a reason. ``classify`` makes that decision in one place.
"""

from __future__ import annotations

import re

_STATUS = re.compile(r"^\((\d{3})\)")


class PlexError(Exception):
    """Base class; the message is safe to log (no token: see stash.protocol.redact)."""


class PlexUnavailable(PlexError):
    """Plex cannot be reached or is failing (connection refused, timeout, 5xx).

    ``outage`` is True when the server itself is gone (connection-level failure): the drain
    stops at once. A 5xx on one request may be about that item; it is retried with backoff.
    """

    def __init__(self, message: str, *, outage: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.outage = outage
        self.status = status


class PlexAuthError(PlexError):
    """Plex refused the token (401), or the token may not edit this server (403)."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class PlexItemGone(PlexError):
    """A 404 on an item we hold a key for: it was deleted or re-added under a new key."""


class PlexSetupError(PlexError):
    """A setting does not fit this Plex server (e.g. plex_library names a missing library).

    Every scene would fail the same way, so the drain stops with this message instead of
    failing them one by one.
    """


class PermanentSyncError(PlexError):
    """The data cannot be written (Plex answered 400, or the scene has nothing to match on).

    Retrying gives the same answer; the scene goes to the failed list with this reason.
    """


def status_of(exc: BaseException) -> int | None:
    """The HTTP status plexapi put at the front of its message, if any."""
    match = _STATUS.match(str(exc))
    return int(match.group(1)) if match else None


def classify(exc: BaseException, *, context: str) -> PlexError:
    """Turn whatever plexapi/requests raised into one of the classes above.

    ``context`` says what was being done ("reading item 123"); it leads the message so that a log
    line is readable without the traceback.
    """
    if isinstance(exc, PlexError):
        return exc
    import requests
    from plexapi import exceptions as plex_exc

    if isinstance(exc, plex_exc.Unauthorized):
        return PlexAuthError(f"{context}: Plex answered 401 Unauthorized", status=401)
    if isinstance(exc, plex_exc.NotFound):
        return PlexItemGone(f"{context}: Plex answered 404 Not Found")
    if isinstance(exc, plex_exc.BadRequest):
        status = status_of(exc)
        if status == 403:
            return PlexAuthError(f"{context}: Plex answered 403 Forbidden", status=403)
        if status is not None and (status >= 500 or status in (408, 429)):
            return PlexUnavailable(
                f"{context}: Plex answered HTTP {status}", outage=False, status=status
            )
        return PermanentSyncError(f"{context}: Plex rejected the request: {_short(exc)}")
    if isinstance(exc, requests.exceptions.SSLError):
        return PlexSetupError(
            f"{context}: Plex's TLS certificate was not accepted ({_root_cause(exc)}); if your Plex "
            "uses a self-signed certificate, turn tls_verify off or use the http:// address"
        )
    if isinstance(exc, requests.Timeout):
        return PlexUnavailable(f"{context}: no answer in time ({_root_cause(exc)})", outage=True)
    if isinstance(exc, requests.ConnectionError):
        return PlexUnavailable(f"{context}: {_root_cause(exc)}", outage=True)
    if isinstance(exc, requests.RequestException):
        return PlexUnavailable(f"{context}: {_short(exc)}", outage=True)
    from xml.etree.ElementTree import ParseError

    if isinstance(exc, ParseError):
        # A proxy or captive portal answering HTML with 200: not Plex, treat as unavailable.
        return PlexUnavailable(f"{context}: the answer was not Plex XML ({exc})", outage=True)
    raise exc


_CAUSES = (
    ("connection refused", "connection refused"),
    ("name or service not known", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("failed to resolve", "host name not found"),
    ("temporary failure in name resolution", "host name not found"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("read timed out", "read timed out"),
    ("connect timeout", "connection timed out"),
    ("timed out", "timed out"),
    ("connection reset", "connection reset"),
    ("remote end closed", "connection closed without an answer"),
    ("connection aborted", "connection closed without an answer"),
    ("certificate verify failed", "certificate verify failed"),
)


def _root_cause(exc: BaseException) -> str:
    """A short human cause instead of urllib3's nested "Max retries exceeded (Caused by ...)"."""
    text = str(exc).lower()
    for needle, label in _CAUSES:
        if needle in text:
            return label
    return _short(exc, 160)


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
