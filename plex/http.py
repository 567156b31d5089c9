"""Plex's HTTP API spoken directly, for the requests plexapi has no cheap way to make.

plexapi's ``PlexServer`` costs a ``GET /`` before its first request, and its library objects a
``GET /library/sections``. A drain that only checks whether anything changed in Plex (one
incremental listing per library) or polls ``/activities`` while a scan runs needs neither, so
this client sends exactly the request asked for, with plexapi's own identity headers and the
token in the header, and fails with the same exceptions plexapi raises (``plex.client.call``
turns them into ``plex.errors`` classes the drain acts on).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from plex.client import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    PlexSettings,
    call,
    make_session,
    prepare_plexapi,
)
from stash import protocol


class PlexHttp:
    """Raw GET/PUT/POST against one Plex server; no request is made until one is asked for."""

    def __init__(self, settings: PlexSettings, data_dir: Path, *, connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S) -> None:
        protocol.register_secret(settings.plex_token)
        prepare_plexapi(data_dir)
        self.base_url = settings.plex_url.rstrip("/")
        self.token = settings.plex_token
        self.timeout = (connect_timeout, read_timeout)
        self.tls_verify = settings.tls_verify
        self.session = make_session(settings.tls_verify)
        self._once: Any = None  # for requests that must not be repeated (made on first use)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        import plexapi

        headers = dict(plexapi.BASE_HEADERS)
        headers["X-Plex-Token"] = self.token
        headers.update(extra or {})
        return headers

    def query(self, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
              data: bytes | None = None, what: str | None = None,
              once: bool = False) -> ElementTree.Element | None:
        """One request; the parsed XML answer (None for an empty body). Raises plex.errors.

        ``once``: a request that is not idempotent; one whose answer is lost is not sent again
        (the caller finds out whether it landed)."""
        return call(what or f"{method} {path.split('?')[0]}", self._send, method, path, headers, data, once)

    def _send(self, method: str, path: str, headers: dict[str, str] | None,
              data: bytes | None, once: bool = False) -> ElementTree.Element | None:
        from plexapi import utils
        from plexapi.exceptions import BadRequest, NotFound, Unauthorized

        session = self.session
        if once:
            if self._once is None:
                self._once = make_session(self.tls_verify, read_retries=0)
            session = self._once
        response = session.request(method, self.base_url + path, headers=self._headers(headers),
                                   data=data, timeout=self.timeout)
        if response.status_code not in (200, 201, 204):
            # plexapi's own wording, so plex.errors.classify reads the status the same way.
            message = f"({response.status_code}) {response.reason}; {path.split('?')[0]}"
            if response.status_code == 401:
                raise Unauthorized(message)
            if response.status_code == 404:
                raise NotFound(message)
            raise BadRequest(message)
        parsed: Any = utils.parseXMLString(response.text)
        return parsed

    def close(self) -> None:
        self.session.close()
        if self._once is not None:
            self._once.close()
