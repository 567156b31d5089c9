"""A fake Plex Media Server on 127.0.0.1 that the unmodified plexapi 4.18 client accepts.

Why it exists: PlexSync reaches Plex only through plexapi, and no real PMS can run in CI. This
stand-in speaks the part of the PMS HTTP API that plexapi uses to list sections, find items by file
path and edit their metadata (see the fake-plex spec in the shared reference notes). It records every
request so tests can assert what went over the wire, and it can produce the failures a real server
produces: a bad token, 5xx answers, slow answers, dropped connections and a server that is down.

It also plays the parts of Plex that change without the sync: files that sit on disk until a
(timed, threaded) library scan or Plex's own folder watching brings them in, items that come back
under a new ratingKey, hand edits in Plex Web, "Refresh Metadata" wiping unlocked fields, and one
photo per person shared by every item that person appears in.

Run it on its own with ``python -m tests.standins.fake_plex --port N --movies 50000 --seed 1`` so a
benchmark can measure a client in a separate process.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import re
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit

from . import plex_play_state as plays

__all__ = ["FakePlex", "RequestRecord", "TAG_PREFIXES", "EDITABLE_FIELDS", "main"]

TYPE_NUMBERS: dict[str, int] = {"movie": 1, "show": 2, "season": 3, "episode": 4, "collection": 18}
NUMBER_TYPES: dict[int, str] = {number: name for name, number in TYPE_NUMBERS.items()}

# Edit prefixes in the order PMS emits the tag elements; "actor" is emitted as <Role>.
TAG_PREFIXES: tuple[str, ...] = (
    "genre", "collection", "label", "director", "writer", "producer", "country", "actor",
)
TAG_ELEMENTS: dict[str, str] = {
    "genre": "Genre", "collection": "Collection", "label": "Label", "director": "Director",
    "writer": "Writer", "producer": "Producer", "country": "Country", "actor": "Role",
}
_PLURAL_KWARGS: dict[str, str] = {
    "genres": "genre", "collections": "collection", "labels": "label", "directors": "director",
    "writers": "writer", "producers": "producer", "countries": "country", "actors": "actor",
    "roles": "actor",
}
EDITABLE_FIELDS: tuple[str, ...] = (
    "title", "titleSort", "originalTitle", "editionTitle", "originallyAvailableAt",
    "contentRating", "studio", "tagline", "summary", "rating", "audienceRating", "userRating",
    "addedAt", "year",
)
_SCALAR_FIELDS: tuple[str, ...] = EDITABLE_FIELDS + ("duration",)
_INT_FIELDS = frozenset({"year", "addedAt", "duration"})
_FLOAT_FIELDS = frozenset({"rating", "audienceRating", "userRating"})
# Tag kinds that the filter metadata advertises per item type (mirrors plexapi's mixins).
_TYPE_TAGS: dict[str, tuple[str, ...]] = {
    "movie": TAG_PREFIXES,
    "show": ("genre", "collection", "label", "actor"),
    "season": ("collection", "label"),
    "episode": ("collection", "director", "writer", "label", "actor"),
    "collection": ("label",),
}
_STRING_FILTER_FIELDS = frozenset({
    "title", "titleSort", "originalTitle", "editionTitle", "studio", "contentRating", "summary",
    "tagline",
})
_INTEGER_FILTER_FIELDS = frozenset({
    "year", "userRating", "rating", "audienceRating", "duration", "id", "index", "leafCount",
    "childCount",
}) | plays.PLAY_INTEGER_FIELDS
_DATE_FILTER_FIELDS = frozenset({"addedAt", "updatedAt", "originallyAvailableAt"}) | plays.PLAY_DATE_FIELDS
# Filter keys PMS accepts that the stand-in does not evaluate (they select nothing here).
_NOOP_FILTER_FIELDS = frozenset({
    "unwatched", "inProgress", "lastRatedAt",
    "unviewedLeafCount", "group", "having", "duplicate", "unmatched", "hdr", "resolution",
    "audioLanguage", "subtitleLanguage", "decade", "guid", "push", "pop", "and", "or",
})
_LISTING_CONTROL_KEYS = frozenset({"type", "sort", "limit", "file"})
_SORTABLE = ("titleSort", "addedAt", "originallyAvailableAt", "year", "rating", "audienceRating",
             "userRating", "duration", "title")

_IDENTIFIER = "com.plexapp.plugins.library"
_HTML_401 = b"<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>"
_XML_TYPE = "text/xml;charset=utf-8"
_HTML_TYPE = "text/html"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

_NEEDS_ESCAPE = re.compile(r'[&<>"\x00-\x1f\ufffe\uffff]')
_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;",
            9: "&#9;", 10: "&#10;", 13: "&#13;", 0xFFFE: None, 0xFFFF: None}
_ESCAPES.update({c: None for c in range(32) if c not in (9, 10, 13)})

_RE_VALUE = re.compile(r"^([A-Za-z]+)\.value$")
_RE_LOCKED = re.compile(r"^([A-Za-z]+)\.locked$")
_RE_INDEXED = re.compile(r"^([A-Za-z]+)\[(\d+)\]\.(tag\.tag|tagging\.text|tag\.thumb)$")
_RE_REMOVE = re.compile(r"^([A-Za-z]+)\[\]\.tag\.tag-$")
_RE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RE_FILTER_PIECE = re.compile(r"^(?P<key>[^=!<>&]+?)(?P<op>!==|==|!=|>>=|<<=|<=|>=|=)(?P<val>.*)$", re.S)
_RE_RELATIVE_DATE = re.compile(r"^-?(\d+)(mon|[smhdwy])$")
_RELATIVE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mon": 2592000,
                   "y": 31536000}


def _esc(value: str) -> str:
    """Escape for an XML attribute; newlines stay newlines after parsing, illegal chars vanish."""
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return value.translate(_ESCAPES)


def _now() -> int:
    return int(time.time())


def _later(previous: int) -> int:
    """A timestamp that is strictly greater than ``previous``.

    PlexSync re-lists a section only when its updatedAt changed, so two changes within the same
    second must still produce two different values.
    """
    return max(_now(), previous + 1)


def _valid_date(value: str) -> bool:
    if not _RE_DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _valid_field_value(name: str, value: str) -> bool:
    if value == "":
        return True
    if name == "originallyAvailableAt":
        return _valid_date(value)
    try:
        if name in _INT_FIELDS:
            int(value)
        elif name in _FLOAT_FIELDS:
            float(value)
    except ValueError:
        return False
    return True


def _last_sep(path: str) -> int:
    return max(path.rfind("/"), path.rfind("\\"))


def _title_from_path(path: str) -> str:
    """The title PMS falls back to when no agent supplies one: the file name without extension."""
    name = path[_last_sep(path) + 1:]
    dot = name.rfind(".")
    return name[:dot] if dot > 0 else name


def _norm_folder(folder: str) -> str:
    """A folder with trailing separators removed, so ``/a/b/`` and ``/a/b`` compare equal."""
    stripped = folder.rstrip("/\\")
    return stripped or folder[:1]


def _parent_folder(path: str) -> str:
    cut = _last_sep(path)
    return path[:cut] if cut > 0 else path[:cut + 1]


def _is_under(folder: str, root: str) -> bool:
    """True when ``folder`` is ``root`` or lies below it (both already normalised)."""
    if folder == root:
        return True
    if root in ("/", "\\"):
        return folder.startswith(root)
    return folder.startswith(root + "/") or folder.startswith(root + "\\")


def _container_of(path: str) -> str:
    dot = path.rfind(".")
    ext = path[dot + 1:].lower() if dot > max(path.rfind("/"), path.rfind("\\")) else ""
    return ext or "mkv"


class _HttpError(Exception):
    """Raised by request handling to answer with a status other than 200."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or str(status))
        self.status = status
        self.message = message


@dataclass
class RequestRecord:
    """One request as the fake saw it; tests assert on these instead of mocking plexapi."""

    method: str
    path: str  # percent-decoded, trailing slash removed, no query
    params: list[tuple[str, str]]  # decoded query pairs in wire order
    token_source: str | None  # "header", "query" or None
    body_len: int
    status: int  # 0 while in flight, or when the connection was dropped without an answer
    time: float
    container_start: int | None = None
    container_size: int | None = None
    paging_source: str | None = None  # "header" or "query"
    body_sha1: str | None = None
    raw_path: str = ""
    query: str = ""
    error: str | None = None
    elapsed: float = 0.0  # seconds from receipt until the answer was ready (includes set_delay)

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter (the edit endpoints never repeat keys)."""
        for key, value in self.params:
            if key == name:
                return value
        return default

    def param_names(self) -> list[str]:
        return [key for key, _ in self.params]


@dataclass(slots=True)
class _Part:
    id: int
    file: str
    size: int
    container: str


@dataclass(slots=True)
class _Media:
    id: int
    parts: list[_Part]


@dataclass(eq=False, slots=True)
class _Item:
    rk: int
    type: str
    section: int
    fields: dict[str, str]
    tags: dict[str, list[str]]
    roles: dict[str, str]
    locked: set[str]
    media: list[_Media]
    updated_at: int
    thumb: str | None = None
    art: str | None = None
    parent: int | None = None
    index: int | None = None
    children: list[int] = field(default_factory=list)
    posters: list[dict[str, Any]] = field(default_factory=list)
    arts: list[dict[str, Any]] = field(default_factory=list)
    guids: list[str] = field(default_factory=list)
    location: str | None = None
    frag: dict[str, bytes] = field(default_factory=dict)


@dataclass(eq=False)
class _Section:
    key: int
    title: str
    type: str
    locations: list[str]
    uuid: str
    agent: str
    scanner: str
    language: str
    created_at: int
    updated_at: int
    members: dict[str, dict[int, None]] = field(default_factory=dict)  # type -> ordered set
    order_version: int = 0
    order_cache: dict[str, tuple[int, list[_Item]]] = field(default_factory=dict)
    # Collection name -> its item. PMS makes a collection item when an item first gets the tag and
    # removes it when the last one loses it; recomputed lazily (see FakePlex._fresh_collections).
    collections: dict[str, int] = field(default_factory=dict)
    collections_dirty: bool = False


@dataclass(eq=False)
class _DiskFile:
    """A file under a section location that PMS has not scanned into the library yet."""

    section: int
    path: str
    title: str | None
    fields: dict[str, Any]
    added: float  # time.monotonic() when it appeared on disk


@dataclass(eq=False)
class _Scan:
    """One running "scan library files" request; finishes ``delay`` seconds after it started."""

    uuid: str
    section: int
    folder: str | None  # normalised folder from ?path=, None for the whole section
    force: bool
    started: float  # time.monotonic()
    delay: float


# Keyword arguments add_file_on_disk passes on to the item it becomes (see _create).
_DISK_FIELD_KEYS = frozenset(_SCALAR_FIELDS) | frozenset(_PLURAL_KWARGS) | frozenset(TAG_PREFIXES) \
    | frozenset({"locked", "guids", "thumb", "art"})
_RE_REFRESH_PATH = re.compile(r"^/library/sections/[^/]+/refresh$")


@dataclass
class _FailRule:
    remaining: int
    status: int
    method: str | None
    path_prefix: str | None


@dataclass
class _DropRule:
    remaining: int
    method: str | None
    path_prefix: str | None
    after_processing: bool


def _rule_matches(method: str | None, prefix: str | None, req_method: str, req_path: str) -> bool:
    if method is not None and method.upper() != req_method:
        return False
    return prefix is None or req_path.startswith(prefix)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakePlex

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or vanish mid-answer are part of the tests; stay quiet for them.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakePlex/1.0"
    sys_version = ""
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK adds ~40 ms
    # to every answer, which would make 50 listing pages look slow for no real reason.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._track_connection(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track_connection(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.fake._serve(self, "GET")

    def do_PUT(self) -> None:
        self.server.fake._serve(self, "PUT")

    def do_POST(self) -> None:
        self.server.fake._serve(self, "POST")

    def do_DELETE(self) -> None:
        self.server.fake._serve(self, "DELETE")


class FakePlex:
    """In-process fake PMS. Thread-safe; all public methods may be called while it serves."""

    def __init__(
        self,
        token: str = "plex-test-token",
        *,
        tag_semantics: str = "merge",
        truncate_listing_tags: bool = False,
        strict: bool = False,
        allow_anonymous: bool = False,
        port: int = 0,
        friendly_name: str = "FakePlex",
        machine_identifier: str | None = None,
        version: str = "1.41.0.0000-fake",
    ) -> None:
        if tag_semantics not in ("merge", "replace"):
            raise ValueError("tag_semantics must be 'merge' or 'replace'")
        self.token = token
        self.tag_semantics = tag_semantics
        self.truncate_listing_tags = truncate_listing_tags
        self.strict = strict
        self.allow_anonymous = allow_anonymous
        self.friendly_name = friendly_name
        self.machine_identifier = machine_identifier or hashlib.sha1(uuid.uuid4().bytes).hexdigest()
        self.version = version
        self.url = ""
        self.request_log: list[RequestRecord] = []

        self._lock = threading.RLock()
        self._log_lock = threading.Lock()
        self._fault_lock = threading.Lock()
        self._sections: dict[int, _Section] = {}
        self._items: dict[int, _Item] = {}
        self._tag_ids: dict[tuple[str, str], int] = {}
        self._tag_xml_cache: dict[tuple[str, str], str] = {}
        # One photo per person for the whole server, keyed by name, as PMS keeps it: a photo sent
        # with one item's edit shows on every item that has that actor.
        self._actor_photos: dict[str, str] = {}
        self._next_rk = 1000
        self._next_media_id = 1
        self._next_tag_id = 1
        self._generated: dict[str, int] = {}
        self._created_at = _now()
        self._fails: list[_FailRule] = []
        self._delays: dict[tuple[str | None, str | None], float] = {}
        self._drops: list[_DropRule] = []
        self._holds: dict[str, tuple[float, threading.Event]] = {}
        # The owner's play state per item and the server's play history (plex_play_state.py).
        self._plays = plays.PlayBook()

        # Files waiting on disk, running scans and the clock thread that finishes them. Scans
        # take real time because the program under test must cope with answers that come back
        # before the library has changed.
        self._disk: list[_DiskFile] = []
        self._scans: list[_Scan] = []
        self._scan_delay = 0.3
        self._scan_never_finishes = False
        self._auto_scan: float | None = None
        self._clock: threading.Thread | None = None
        self._clock_lock = threading.Lock()
        self._clock_wake = threading.Event()
        self._clock_stop = threading.Event()

        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._down = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakePlex:
        if self._httpd is None:
            self._bind(self._port)
        self._clock_stop.clear()
        with self._lock:
            pending = bool(self._scans or self._disk)
        if pending:
            self._poke_clock()
        return self

    def stop(self) -> None:
        """Stop serving and stop the scan clock; running scans stay unfinished (start() resumes)."""
        self._unbind()
        self._stop_clock()

    def __enter__(self) -> FakePlex:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    def go_down(self) -> None:
        """Close the listening socket and every open connection: clients get connection refused.

        Running scans and auto-scans carry on: the server is unreachable, not stopped.
        """
        self._unbind()

    def come_back(self) -> None:
        """Listen again on the same port, with all data intact."""
        if self._httpd is None:
            self._bind(self._port)

    def _bind(self, port: int) -> None:
        httpd = _Server(("127.0.0.1", port), _Handler)
        httpd.fake = self
        self._port = httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self._port}"
        self._down = threading.Event()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"fake-plex-{self._port}", daemon=True,
        )
        self._thread.start()

    def _unbind(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._down.set()
        httpd.shutdown()
        httpd.server_close()
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _track_connection(self, conn: socket.socket, opened: bool) -> None:
        with self._conn_lock:
            if opened:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ------------------------------------------------------------------ faults and token
    def set_token(self, token: str) -> None:
        self.token = token

    def fail_next(self, count: int, status: int, *, method: str | None = None,
                  path_prefix: str | None = None) -> None:
        """Answer the next ``count`` matching requests with ``status`` and an HTML body."""
        HTTPStatus(status)  # plexapi crashes on codes that requests does not know
        with self._fault_lock:
            self._fails.append(_FailRule(count, status, method, path_prefix))

    def set_delay(self, seconds: float, *, method: str | None = None,
                  path_prefix: str | None = None) -> None:
        """Delay matching requests before they are processed; 0 clears that rule."""
        with self._fault_lock:
            if seconds <= 0:
                self._delays.pop((method, path_prefix), None)
            else:
                self._delays[(method, path_prefix)] = float(seconds)

    def drop_next(self, count: int, *, method: str | None = None, path_prefix: str | None = None,
                  after_processing: bool = False) -> None:
        """Close the connection without answering the next ``count`` matching requests.

        By default the request is not processed either; ``after_processing=True`` applies it
        first, which is the nasty case of an edit that happened although the client saw an error.
        """
        with self._fault_lock:
            self._drops.append(_DropRule(count, method, path_prefix, after_processing))

    def hold_after(self, seconds: float, *, path_prefix: str) -> threading.Event:
        """Process matching requests, then hold the answer for ``seconds``: the change has landed
        and the client does not know it yet (a moment to kill it). The event returned is set when
        such an answer starts waiting."""
        started = threading.Event()
        with self._fault_lock:
            self._holds[path_prefix] = (float(seconds), started)
        return started

    def clear_faults(self) -> None:
        with self._fault_lock:
            self._fails.clear()
            self._delays.clear()
            self._drops.clear()
            self._holds.clear()

    def _take_drop(self, method: str, path: str) -> _DropRule | None:
        with self._fault_lock:
            for rule in self._drops:
                if rule.remaining > 0 and _rule_matches(rule.method, rule.path_prefix, method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._drops.remove(rule)
                    return rule
        return None

    def _take_fail(self, method: str, path: str) -> int | None:
        with self._fault_lock:
            for rule in self._fails:
                if rule.remaining > 0 and _rule_matches(rule.method, rule.path_prefix, method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._fails.remove(rule)
                    return rule.status
        return None

    def _delay_for(self, method: str, path: str) -> float:
        with self._fault_lock:
            return max((s for (m, p), s in self._delays.items() if _rule_matches(m, p, method, path)),
                       default=0.0)

    # ------------------------------------------------------------------ request log
    def clear_log(self) -> None:
        with self._log_lock:
            self.request_log.clear()

    def log_snapshot(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self.request_log)

    def matching_requests(self, method: str | None = None, path: str | None = None,
                          path_prefix: str | None = None) -> list[RequestRecord]:
        return [r for r in self.log_snapshot()
                if (method is None or r.method == method)
                and (path is None or r.path == path)
                and (path_prefix is None or r.path.startswith(path_prefix))]

    def requests_for(self, rating_key: int) -> list[RequestRecord]:
        """Requests about one item: its /library/metadata paths and edits whose id list names it."""
        wanted = str(rating_key)
        found = []
        for rec in self.log_snapshot():
            if rec.path.startswith("/library/metadata/"):
                keys = rec.path[len("/library/metadata/"):].split("/", 1)[0]
                if wanted in keys.split(","):
                    found.append(rec)
            elif rec.method == "PUT" and re.fullmatch(r"/library/sections/[^/]+/all", rec.path):
                ids = rec.param("id")
                if ids is not None and wanted in ids.split(","):
                    found.append(rec)
        return found

    # ------------------------------------------------------------------ seeding
    def add_section(self, key: int, title: str, type: str = "movie",
                    locations: list[str] | None = None) -> None:
        if type not in ("movie", "show"):
            raise ValueError("section type must be 'movie' or 'show'")
        now = _now()
        agent = "tv.plex.agents.movie" if type == "movie" else "tv.plex.agents.series"
        scanner = "Plex Movie" if type == "movie" else "Plex TV Series"
        with self._lock:
            if key in self._sections:
                raise ValueError(f"section {key} exists")
            self._sections[key] = _Section(
                key=key, title=title, type=type,
                locations=list(locations) if locations else [f"/media/{title.lower()}"],
                uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-plex/{self.machine_identifier}/{key}")),
                agent=agent, scanner=scanner, language="en-US", created_at=now, updated_at=now,
            )

    def add_movie(self, section_key: int, title: str, files: list[str] | str, **fields: Any) -> int:
        with self._lock:
            sec = self._section(section_key)
            if sec.type != "movie":
                raise ValueError(f"section {section_key} is not a movie section")
            item = self._create("movie", sec, title, files, fields)
            self._touch_section(sec)
            return item.rk

    def add_show(self, section_key: int, title: str, **fields: Any) -> int:
        with self._lock:
            sec = self._section(section_key)
            if sec.type != "show":
                raise ValueError(f"section {section_key} is not a show section")
            location = fields.pop("location", None)
            item = self._create("show", sec, title, [], fields)
            item.location = location or f"{sec.locations[0].rstrip('/')}/{title}"
            self._touch_section(sec)
            return item.rk

    def add_episode(self, show_key: int, season: int, index: int, title: str,
                    files: list[str] | str, **fields: Any) -> int:
        with self._lock:
            show = self._item(show_key)
            if show.type != "show":
                raise ValueError(f"{show_key} is not a show")
            sec = self._sections[show.section]
            season_item = next((self._items[c] for c in show.children
                                if self._items[c].index == season), None)
            if season_item is None:
                season_item = self._create("season", sec, f"Season {season}", [], {})
                season_item.parent = show.rk
                season_item.index = season
                show.children.append(season_item.rk)
            episode = self._create("episode", sec, title, files, fields)
            episode.parent = season_item.rk
            episode.index = index
            season_item.children.append(episode.rk)
            self._invalidate_family(show)
            self._touch_section(sec)
            return episode.rk

    def generate_movies(self, section_key: int, count: int, *, seed: int = 0,
                        path_prefix: str = "/media/generated") -> list[int]:
        """Add ``count`` deterministic movies quickly; paths are unique under ``path_prefix``.

        The listing XML of each generated movie is rendered here with one template (a test checks
        it equals the general renderer's output), so the first full listing of 50,000 items costs
        the server almost nothing and benchmarks measure the client.
        """
        rng = random.Random(seed)
        prefix = path_prefix.rstrip("/")
        keys: list[int] = []
        now = _now()
        gc_was_enabled = gc.isenabled()
        gc.disable()  # generational GC over a growing heap dominates bulk creation otherwise
        try:
            with self._lock:
                sec = self._section(section_key)
                if sec.type != "movie":
                    raise ValueError(f"section {section_key} is not a movie section")
                offset = self._generated.get(prefix, 0)
                self._generated[prefix] = offset + count
                members = sec.members.setdefault("movie", {})
                genre_xml = {g: self._tag_xml("genre", g) + "/>" for g in _GENRES}
                actor_xml = {a: self._tag_xml("actor", a) for a in _PEOPLE}
                photo_xml = {a: f' thumb="{_esc(self._actor_photos[a])}"' if self._actor_photos.get(a)
                             else "" for a in _PEOPLE}
                for i in range(count):
                    bits = rng.getrandbits(64)  # one draw per item keeps 50,000 items fast
                    adjective = _ADJECTIVES[bits % len(_ADJECTIVES)]
                    noun = _NOUNS[(bits >> 5) % len(_NOUNS)]
                    year = 1950 + (bits >> 10) % 75
                    title = f"The {adjective} {noun}"
                    name = f"{title} ({year})"
                    number = offset + i
                    path = f"{prefix}/{name} [{number:06d}]/{name}.mkv"
                    rk = self._next_rk
                    self._next_rk += 1
                    genres = [_GENRES[(bits >> 17) % len(_GENRES)]]
                    second = _GENRES[(bits >> 21) % len(_GENRES)]
                    if (bits >> 25) & 1 and second != genres[0]:
                        genres.append(second)
                    actor = _PEOPLE[(bits >> 26) % len(_PEOPLE)]
                    character = _CHARACTERS[(bits >> 42) % len(_CHARACTERS)]
                    studio = _STUDIOS[(bits >> 30) % len(_STUDIOS)]
                    summary = f"A {adjective.lower()} story about a {noun.lower()}."
                    released = f"{year}-{1 + (bits >> 33) % 12:02d}-{1 + (bits >> 37) % 28:02d}"
                    added = now - count + i
                    media_id = self._next_media_id
                    self._next_media_id += 1
                    size = 1_000_000_000 + number
                    item = _Item(
                        rk=rk, type="movie", section=sec.key,
                        fields={"title": title, "studio": studio, "summary": summary,
                                "year": str(year), "originallyAvailableAt": released,
                                "duration": "5400000", "addedAt": str(added)},
                        tags={"genre": genres, "actor": [actor]},
                        roles={actor: character}, locked=set(),
                        media=[_Media(media_id, [_Part(media_id, path, size, "mkv")])],
                        updated_at=now, thumb=f"/library/metadata/{rk}/thumb/{now}",
                    )
                    fragment = (
                        f'<Video ratingKey="{rk}" key="/library/metadata/{rk}"'
                        f' guid="plex://movie/{rk:024x}" type="movie" title="{title}"'
                        f' studio="{studio}" summary="{summary}" year="{year}"'
                        f' originallyAvailableAt="{released}" duration="5400000"'
                        f' addedAt="{added}" thumb="/library/metadata/{rk}/thumb/{now}"'
                        f' updatedAt="{now}"><Media id="{media_id}" duration="5400000"'
                        ' container="mkv" videoCodec="h264" audioCodec="aac" videoResolution="1080">'
                        f'<Part id="{media_id}" key="/library/parts/{media_id}/{added}/file.mkv"'
                        f' file="{_esc(path)}" size="{size}" container="mkv" duration="5400000"/>'
                        f'</Media>{"".join(genre_xml[g] for g in genres)}'
                        f'{actor_xml[actor]} role="{character}"{photo_xml[actor]}/></Video>'
                    ).encode()
                    item.frag["list"] = fragment
                    item.frag["trunc"] = fragment  # at most 2 genres and 1 actor: nothing to cut
                    self._items[rk] = item
                    members[rk] = None
                    keys.append(rk)
                sec.order_version += 1
                self._touch_section(sec)
        finally:
            if gc_was_enabled:
                gc.enable()
        return keys

    def load(self, data: dict[str, Any]) -> dict[str, int]:
        """Seed from a plain structure (e.g. parsed JSON); returns {title: ratingKey}.

        Shape: ``{"sections": [{"key", "title", "type", "locations", "items": [{"title",
        "files", ...fields}], "shows": [{"title", "episodes": [{"season", "index", "title",
        "files", ...}]}]}]}``.
        """
        keys: dict[str, int] = {}
        for sec in data.get("sections", []):
            self.add_section(sec["key"], sec["title"], sec.get("type", "movie"), sec.get("locations"))
            for movie in sec.get("items", []):
                movie = dict(movie)
                title = movie.pop("title")
                keys[title] = self.add_movie(sec["key"], title, movie.pop("files", []), **movie)
            for show in sec.get("shows", []):
                show = dict(show)
                episodes = show.pop("episodes", [])
                title = show.pop("title")
                show_key = self.add_show(sec["key"], title, **show)
                keys[title] = show_key
                for ep in episodes:
                    ep = dict(ep)
                    ep_title = ep.pop("title")
                    keys[ep_title] = self.add_episode(show_key, ep.pop("season"), ep.pop("index"),
                                                      ep_title, ep.pop("files", []), **ep)
        return keys

    def remove_item(self, rating_key: int) -> None:
        with self._lock:
            item = self._item(rating_key)
            sec = self._sections[item.section]
            if item.parent is not None:
                parent = self._items[item.parent]
                parent.children.remove(item.rk)
            self._forget(item)
            for ancestor in self._ancestors(item):
                self._invalidate_family(ancestor)
            sec.order_version += 1
            self._touch_section(sec)

    def set_files(self, rating_key: int, files: list[str]) -> None:
        with self._lock:
            item = self._item(rating_key)
            item.media = self._make_media([files] if isinstance(files, str) else files)
            self._touch(item)
            self._touch_section(self._sections[item.section])

    # ------------------------------------------------------------------ files on disk and scans
    def add_file_on_disk(self, section_key: int, path: str, *, title: str | None = None,
                         **fields: Any) -> None:
        """Put a file under a section location that is not in the library until a scan finds it.

        PlexSync asks Plex to scan a folder after Stash sees a new file; this lets a test create
        that window in which the file exists but no item has it. ``fields`` become the item's
        fields and tags when it enters (as in add_movie). In a show section pass ``show`` (title;
        the show is created if missing), ``season`` and ``index`` too.
        """
        with self._lock:
            sec = self._section(section_key)
            fields = dict(fields)
            if sec.type == "show":
                missing = [k for k in ("show", "season", "index") if k not in fields]
                if missing:
                    raise ValueError(f"a file in a show section needs {', '.join(missing)}")
                int(fields["season"])
                int(fields["index"])
            unknown = sorted(set(fields) - _DISK_FIELD_KEYS - {"show", "season", "index"})
            if unknown:
                raise TypeError(f"unknown item field(s) {unknown}")
            folder = _norm_folder(_parent_folder(path))
            if not any(_is_under(folder, _norm_folder(loc)) for loc in sec.locations):
                raise ValueError(f"{path} is not under a location of section {section_key}")
            if any(f.section == sec.key and f.path == path for f in self._disk):
                raise ValueError(f"{path} is already on disk")
            if self._rating_key_for_file(path, sec.key) is not None:
                raise ValueError(f"{path} is already in the library")
            self._disk.append(_DiskFile(sec.key, path, title, fields, time.monotonic()))
            auto = self._auto_scan is not None
        if auto:
            self._poke_clock()

    def on_disk_files(self) -> list[str]:
        """Paths still waiting on disk for a scan, in the order they were added."""
        with self._lock:
            return [f.path for f in self._disk]

    def set_scan_delay(self, seconds: float) -> None:
        """How long scans started from now on take (default 0.3 s)."""
        if seconds < 0:
            raise ValueError("scan delay must be >= 0")
        with self._lock:
            self._scan_delay = float(seconds)

    def set_scan_never_finishes(self, flag: bool) -> None:
        """Hold every scan open (a huge library); clearing lets each finish once its delay passed."""
        with self._lock:
            self._scan_never_finishes = bool(flag)
        self._poke_clock()

    def set_auto_scan(self, seconds: float | None) -> None:
        """Let each on-disk file enter by itself ``seconds`` after it was added; None turns it off.

        This is PMS watching its folders ("scan my library automatically"): files appear with no
        refresh request and no activity, so a program that also asks for a scan must not trip
        over an item that is already there.
        """
        if seconds is not None and seconds < 0:
            raise ValueError("auto-scan delay must be >= 0 or None")
        with self._lock:
            self._auto_scan = None if seconds is None else float(seconds)
        self._poke_clock()

    def scan_requests(self) -> list[RequestRecord]:
        """GET/PUT/POST .../refresh requests in the log, in order, whatever their outcome."""
        return [r for r in self.log_snapshot()
                if r.method != "DELETE" and _RE_REFRESH_PATH.match(r.path)]

    def running_scans(self) -> list[dict[str, Any]]:
        """Scans still running: section, folder (None = whole section), force and uuid."""
        with self._lock:
            return [{"section": s.section, "folder": s.folder, "force": s.force, "uuid": s.uuid}
                    for s in self._scans]

    def rating_key_for_file(self, path: str) -> int | None:
        """The ratingKey of the item that has a part with exactly this file, or None."""
        with self._lock:
            return self._rating_key_for_file(path, None)

    def _rating_key_for_file(self, path: str, section: int | None) -> int | None:
        for it in self._items.values():
            if section is not None and it.section != section:
                continue
            if any(part.file == path for media in it.media for part in media.parts):
                return it.rk
        return None

    def _start_scans(self, section_key: str, params: list[tuple[str, str]]) -> None:
        values = dict(params)
        folder = values.get("path") or None
        sections = sorted(self._sections.values(), key=lambda s: s.key) if section_key == "all" \
            else [self._section(section_key)]
        now = time.monotonic()
        for sec in sections:
            self._scans.append(_Scan(
                uuid=str(uuid.uuid4()), section=sec.key,
                folder=_norm_folder(folder) if folder else None,
                force=values.get("force") == "1", started=now, delay=self._scan_delay))
        self._poke_clock()

    def _cancel_scans(self, section_key: str) -> None:
        keys = set(self._sections) if section_key == "all" else {self._section(section_key).key}
        self._scans = [s for s in self._scans if s.section not in keys]

    def _poke_clock(self) -> None:
        """Make the clock thread look at the schedule again, starting it if needed."""
        with self._clock_lock:
            if self._clock_stop.is_set():
                return  # stopped: start() resumes the clock
            if self._clock is None or not self._clock.is_alive():
                self._clock = threading.Thread(target=self._clock_loop, daemon=True,
                                               name=f"fake-plex-clock-{id(self):x}")
                self._clock.start()
        self._clock_wake.set()

    def _stop_clock(self) -> None:
        with self._clock_lock:
            self._clock_stop.set()
            clock, self._clock = self._clock, None
        self._clock_wake.set()
        if clock is not None and clock is not threading.current_thread():
            clock.join(timeout=5)

    def _clock_loop(self) -> None:
        while not self._clock_stop.is_set():
            self._clock_wake.clear()
            with self._lock:
                wait = self._run_due(time.monotonic())
            self._clock_wake.wait(wait)

    def _run_due(self, now: float) -> float | None:
        """Finish due scans and auto-scans; seconds until the next thing is due, or None."""
        next_due: float | None = None
        if not self._scan_never_finishes:
            for scan in list(self._scans):
                due = scan.started + scan.delay
                if due <= now:
                    self._finish_scan(scan)
                else:
                    next_due = due if next_due is None else min(next_due, due)
        if self._auto_scan is not None:
            for disk in list(self._disk):
                due = disk.added + self._auto_scan
                if due <= now:
                    self._enter_library([disk])
                else:
                    next_due = due if next_due is None else min(next_due, due)
        return None if next_due is None else max(next_due - now, 0.001)

    def _finish_scan(self, scan: _Scan) -> None:
        if scan in self._scans:
            self._scans.remove(scan)
        found = [f for f in self._disk if f.section == scan.section and (
            scan.folder is None or _is_under(_norm_folder(_parent_folder(f.path)), scan.folder))]
        self._enter_library(found)

    def _enter_library(self, files: list[_DiskFile]) -> None:
        for disk in files:
            if disk not in self._disk:
                continue
            self._disk.remove(disk)
            sec = self._sections[disk.section]
            fields = dict(disk.fields)
            title = disk.title or _title_from_path(disk.path)
            try:
                if sec.type == "show":
                    show_title = str(fields.pop("show"))
                    season, index = int(fields.pop("season")), int(fields.pop("index"))
                    show_rk = next((rk for rk in sec.members.get("show", {})
                                    if self._items[rk].fields.get("title") == show_title), None)
                    if show_rk is None:
                        show_rk = self.add_show(sec.key, show_title)
                    self.add_episode(show_rk, season, index, title, [disk.path], **fields)
                else:
                    self.add_movie(sec.key, title, [disk.path], **fields)
            except Exception:  # noqa: BLE001 - a bad seed must not kill the clock thread
                traceback.print_exc()

    # ------------------------------------------------------------------ drift on the Plex side
    def recreate_item(self, rating_key: int) -> int:
        """Replace an item by a brand-new one for the same files; returns the new ratingKey.

        This is what PMS does after the "Plex dance", a file moved out and back, or a library
        rebuilt from scratch: the old ratingKey answers 404 and the new item carries only what the
        scanner knows (title from the file name, no summary, studio, date, rating, tags, locks or
        uploaded posters). A sync that cached the old key has to find the files again.
        """
        with self._lock:
            old = self._item(rating_key)
            if old.type not in ("movie", "episode") or not old.media:
                raise ValueError(f"{rating_key} is a {old.type} without files; only movies and "
                                 "episodes can be recreated")
            files = [[part.file for part in media.parts] for media in old.media]
            sec = self._sections[old.section]
            parent, index = old.parent, old.index
            duration = old.fields.get("duration")
            self.remove_item(rating_key)
            new = self._create(old.type, sec, _title_from_path(files[0][0]), [], {})
            new.media = self._make_media(files)
            # "now", but never behind the item it replaces: a client that keeps an updatedAt
            # high-water mark must not miss the new item because the old one was edited this second.
            new.updated_at = _later(old.updated_at)
            if duration:
                new.fields["duration"] = duration
            if parent is not None and parent in self._items:
                new.parent = parent
                new.index = index
                self._items[parent].children.append(new.rk)
                self._invalidate_family(new)
            self._touch_section(sec)
            return new.rk

    def hand_edit(self, rating_key: int, *, same_second: bool = False, **changes: Any) -> None:
        """Change an item the way a person does in Plex Web, behind the sync's back.

        Scalars (``title``, ``summary``, ``studio``, ``originallyAvailableAt``, ``userRating`` or
        any other editable field; None or "" clears all but the title) and whole tag lists
        (``genre=[..]``, ``actor=[..]`` with names or (name, role) pairs, ``collection=[..]``,
        ``director=[..]``; plural spellings work too) are set as given. Plex Web locks every field
        it saves, so each edited field is locked; ``updatedAt`` of the item and its section move.

        ``same_second=True``: the edit lands in the same second as the item's last change (in a
        test, PlexSync's write just before). Plex stamps ``updatedAt`` with the time in whole
        seconds, so then neither the item's nor its section's ``updatedAt`` moves: the edit is
        seen only in the values.
        """
        with self._lock:
            it = self._item(rating_key)
            scalars: dict[str, str | None] = {}
            lists: dict[str, list[tuple[str, str | None]]] = {}
            for key, value in changes.items():
                prefix = _PLURAL_KWARGS.get(key) or (key if key in TAG_PREFIXES else None)
                if prefix is not None:
                    given = [value] if isinstance(value, (str, tuple)) else list(value or [])
                    lists[prefix] = [self._hand_tag(prefix, entry) for entry in given]
                    continue
                if key not in EDITABLE_FIELDS:
                    raise TypeError(f"hand_edit cannot change {key!r}")
                text = self._scalar_text(key, value)
                if key == "title" and not text:
                    raise ValueError("Plex Web cannot clear a title")
                if text and not _valid_field_value(key, text):
                    raise ValueError(f"bad value for {key}: {value!r}")
                scalars[key] = text or None
            for name, new_value in scalars.items():
                if new_value is None:
                    it.fields.pop(name, None)
                else:
                    it.fields[name] = new_value
                it.locked.add(name)
            for prefix, entries in lists.items():
                names: list[str] = []
                for name, _role in entries:
                    if name not in names:
                        names.append(name)
                it.tags[prefix] = names
                if prefix == "actor":  # a name given without a role keeps the one it had
                    it.roles = {name: role if role is not None else it.roles.get(name, "")
                                for name, role in entries}
                it.locked.add(prefix)
            self._after_drift(it, reorder="title" in scalars or "titleSort" in scalars, same_second=same_second)

    def agent_refresh(self, rating_key: int) -> None:
        """"Refresh Metadata" in Plex Web: every unlocked field and tag list goes back to the agent.

        The agent here knows nothing, so an unlocked title becomes the file name and every other
        unlocked scalar (summary, studio, date, ratings, ...) and tag list is emptied. Locked ones
        stay, which is why the sync locks what it writes. ``updatedAt`` moves.
        """
        with self._lock:
            it = self._item(rating_key)
            for name in EDITABLE_FIELDS:
                if name in it.locked or name in ("title", "addedAt"):
                    continue
                it.fields.pop(name, None)
            if "title" not in it.locked:
                it.fields["title"] = self._agent_title(it)
            for prefix in TAG_PREFIXES:
                if prefix in it.locked or not it.tags.get(prefix):
                    continue
                it.tags[prefix] = []
                if prefix == "actor":
                    it.roles.clear()
            self._after_drift(it, reorder=True)

    def _hand_tag(self, prefix: str, entry: Any) -> tuple[str, str | None]:
        if prefix == "actor" and isinstance(entry, (tuple, list)):
            return str(entry[0]), (str(entry[1]) if len(entry) > 1 and entry[1] is not None else None)
        return str(entry), None

    @staticmethod
    def _scalar_text(name: str, value: Any) -> str:
        if value is None:
            return ""
        if name == "addedAt" and hasattr(value, "timestamp"):
            return str(int(value.timestamp()))
        if hasattr(value, "strftime"):
            return str(value.strftime("%Y-%m-%d"))
        return str(value)

    def _agent_title(self, it: _Item) -> str:
        for media in it.media:
            for part in media.parts:
                return _title_from_path(part.file)
        if it.type == "show" and it.location:
            return it.location[_last_sep(it.location.rstrip("/\\")) + 1:].rstrip("/\\")
        if it.type == "season":
            return f"Season {it.index or 0}"
        return it.fields.get("title", "")

    def _after_drift(self, it: _Item, *, reorder: bool, same_second: bool = False) -> None:
        """New values, cached XML dropped; stamps move unless the change came within the second
        of the item's last one (Plex's stamps are whole seconds)."""
        sec = self._sections[it.section]
        if not same_second:
            self._touch(it)
        self._invalidate_family(it)
        if reorder:
            sec.order_version += 1
        if not same_second:
            self._touch_section(sec)

    # ------------------------------------------------------------------ snapshots
    def item(self, rating_key: int) -> dict[str, Any]:
        """A copy of one item's state; scalar values are the strings the server emits, or None."""
        with self._lock:
            it = self._item(rating_key)
            selected = next((p for p in it.posters if p["selected"]), None)
            selected_art = next((p for p in it.arts if p["selected"]), None)
            return {
                "ratingKey": it.rk, "type": it.type, "section": it.section,
                "title": it.fields.get("title"),
                "titleSort": it.fields.get("titleSort") or it.fields.get("title"),
                **{name: it.fields.get(name) for name in _SCALAR_FIELDS
                   if name not in ("title", "titleSort")},
                "fields": dict(it.fields),
                "thumb": it.thumb, "art": it.art,
                "files": [part.file for media in it.media for part in media.parts],
                "tags": {prefix: list(it.tags.get(prefix, [])) for prefix in TAG_PREFIXES},
                "roles": {name: it.roles.get(name, "") for name in it.tags.get("actor", [])},
                "actor_photos": {name: self._actor_photos[name] for name in it.tags.get("actor", [])
                                 if name in self._actor_photos},
                "locked": set(it.locked),
                "posters": [dict(p) for p in it.posters],
                "poster_sha1": selected["sha1"] if selected and selected["sha1"] else None,
                "arts": [dict(p) for p in it.arts],
                "art_sha1": selected_art["sha1"] if selected_art and selected_art["sha1"] else None,
                "updatedAt": it.updated_at,
                "index": it.index, "parent": it.parent, "children": list(it.children),
                "play": self.play_state(it.rk),
            }

    # ------------------------------------------------------------------ play state
    def play(self, rating_key: int, *, at: int | None = None, account_id: int = plays.OWNER_ACCOUNT,
             stopped_at_ms: int | None = None) -> None:
        """A viewing session in a Plex app ends. By default a completed play: a history entry,
        and for the owner (the token's account) one more ``viewCount``, ``lastViewedAt`` = ``at``
        and the resume point cleared. With ``stopped_at_ms``, a play stopped there: the owner's
        resume point and ``lastViewedAt`` (no count, no history). Another account's play only
        adds its history entry. ``updatedAt`` does not move."""
        with self._lock:
            it = self._item(rating_key)
            when = plays.now() if at is None else int(at)
            if stopped_at_ms is not None:
                if account_id == plays.OWNER_ACCOUNT:
                    self._plays.stopped(it.rk, int(stopped_at_ms), at=when)
            else:
                self._plays.completed(it.rk, it.section, it.fields.get("title", ""), it.type, at=when,
                                      account_id=account_id, history=True)
            it.frag.clear()

    def play_state(self, rating_key: int) -> dict[str, Any]:
        """The owner's ``viewCount`` (0 when unplayed), ``lastViewedAt`` and ``viewOffset`` (ms)."""
        with self._lock:
            state = self._plays.states.get(self._item(rating_key).rk) or plays.PlayState()
            return {"viewCount": state.views, "lastViewedAt": state.last_viewed,
                    "viewOffset": state.offset_ms}

    def history(self) -> list[dict[str, Any]]:
        """Every play in the server's history, oldest first."""
        with self._lock:
            return [{"ratingKey": e.rating_key, "viewedAt": e.viewed_at, "accountID": e.account_id}
                    for e in self._plays.history_entries({})]

    def _play_route(self, parts: list[str], params: list[tuple[str, str]], start: int | None,
                    size: int | None) -> bytes | None:
        """``/:/scrobble``, ``/:/unscrobble``, ``/:/progress`` and the play history (None: not one)."""
        values = dict(params)
        try:
            if parts[:1] == [":"] and len(parts) == 2 and parts[1] in ("scrobble", "unscrobble", "progress"):
                it = self._item(plays.item_key(values))
                if parts[1] == "scrobble":
                    self._plays.completed(it.rk, it.section, it.fields.get("title", ""), it.type,
                                          at=plays.now(), account_id=plays.OWNER_ACCOUNT, history=False)
                elif parts[1] == "unscrobble":
                    self._plays.unplayed(it.rk)
                else:
                    self._plays.stopped(it.rk, plays.progress_time(values), at=plays.now())
                it.frag.clear()
                return b""
            if parts == ["status", "sessions", "history", "all"]:
                entries = self._plays.history_entries(values)
                first = max(start or 0, 0)
                page = entries[first:] if size is None else entries[first:first + max(size, 0)]
                return self._container({"size": len(page), "totalSize": len(entries), "offset": first},
                                       [plays.history_xml(e, _esc) for e in page])
        except plays.PlayStateError as exc:
            raise _HttpError(exc.status, str(exc)) from None
        return None

    def collections(self, section_key: int) -> dict[str, dict[str, Any]]:
        """The section's collections by title: ``ratingKey``, ``summary``, ``poster_sha1``,
        ``items`` (rating keys of the items in it), ``locked``, ``labels``, ``updatedAt``."""
        with self._lock:
            sec = self._section(section_key)
            self._fresh_collections(sec)
            found = {}
            for title, rk in sec.collections.items():
                state = self.item(rk)
                found[title] = {"ratingKey": rk, "summary": state["summary"], "poster_sha1": state["poster_sha1"],
                                "items": sorted(self._items[rk].children), "locked": state["locked"],
                                "labels": state["tags"]["label"], "updatedAt": state["updatedAt"],
                                "posters": state["posters"]}
            return found

    def section(self, key: int) -> dict[str, Any]:
        with self._lock:
            sec = self._section(key)
            return {"key": sec.key, "title": sec.title, "type": sec.type,
                    "locations": list(sec.locations), "uuid": sec.uuid,
                    "updatedAt": sec.updated_at, "createdAt": sec.created_at,
                    "count": {t: len(m) for t, m in sec.members.items()}}

    def rating_keys(self, section_key: int, type: str | None = None) -> list[int]:
        """Rating keys of a section in listing order."""
        with self._lock:
            sec = self._section(section_key)
            return [it.rk for it in self._ordered(sec, type or sec.type)]

    def tag_id(self, prefix: str, name: str) -> int:
        with self._lock:
            return self._tag_id(prefix, name)

    def actor_photo(self, name: str) -> str | None:
        """The server-wide photo URL of a person, exactly as it was sent, or None."""
        with self._lock:
            return self._actor_photos.get(name)

    def set_actor_photo(self, name: str, url: str | None) -> None:
        """Change a person's photo the way someone does in Plex Web; None removes it.

        No item's ``updatedAt`` moves: the photo belongs to the person, not to an item, which is
        exactly why a sync that watches ``updatedAt`` cannot see this kind of drift.
        """
        with self._lock:
            self._set_photo(name, url)

    # ------------------------------------------------------------------ model internals
    def _section(self, key: Any) -> _Section:
        try:
            return self._sections[int(key)]
        except (KeyError, ValueError, TypeError):
            raise _HttpError(404, f"no section {key}") from None

    def _item(self, rating_key: Any) -> _Item:
        try:
            return self._items[int(rating_key)]
        except (KeyError, ValueError, TypeError):
            raise _HttpError(404, f"no item {rating_key}") from None

    def _tag_id(self, prefix: str, name: str) -> int:
        key = (prefix, name)
        tid = self._tag_ids.get(key)
        if tid is None:
            tid = self._next_tag_id
            self._next_tag_id += 1
            self._tag_ids[key] = tid
        return tid

    def _make_media(self, files: list[str] | list[list[str]]) -> list[_Media]:
        media = []
        for entry in files:
            paths = [entry] if isinstance(entry, str) else list(entry)
            parts = []
            for path in paths:
                parts.append(_Part(self._next_media_id, path,
                                   1_000_000_000 + (zlib.crc32(path.encode()) & 0xFFFFFF),
                                   _container_of(path)))
                self._next_media_id += 1
            media.append(_Media(self._next_media_id, parts))
            self._next_media_id += 1
        return media

    def _create(self, type_: str, sec: _Section, title: str, files: list[str] | str,
                fields: dict[str, Any]) -> _Item:
        fields = dict(fields)
        stacked = bool(fields.pop("stacked", False))
        locked = set(fields.pop("locked", ()))
        guids = list(fields.pop("guids", ()))
        thumb = fields.pop("thumb", None)
        art = fields.pop("art", None)
        tags: dict[str, list[str]] = {}
        roles: dict[str, str] = {}
        photos: dict[str, str] = {}
        for name in list(fields):
            prefix = _PLURAL_KWARGS.get(name) or (name if name in TAG_PREFIXES else None)
            if prefix is None:
                continue
            values = fields.pop(name) or []
            if isinstance(values, dict) and prefix == "actor":
                values = list(values.items())
            for value in values:
                if prefix == "actor" and isinstance(value, dict):
                    tag = str(value.get("tag") or value.get("name"))
                    roles[tag] = str(value.get("role") or "")
                    if value.get("thumb"):
                        photos[tag] = str(value["thumb"])
                elif prefix == "actor" and isinstance(value, (tuple, list)):
                    tag = str(value[0])
                    roles[tag] = str(value[1]) if len(value) > 1 and value[1] is not None else ""
                else:
                    tag = str(value)
                current = tags.setdefault(prefix, [])
                if tag not in current:
                    current.append(tag)
        scalars = {"title": title}
        for name, value in fields.items():
            if name not in _SCALAR_FIELDS:
                raise TypeError(f"unknown item field {name!r}")
            if value is None or value == "":
                continue
            if name == "addedAt" and hasattr(value, "timestamp"):
                scalars[name] = str(int(value.timestamp()))
            elif hasattr(value, "strftime"):
                scalars[name] = value.strftime("%Y-%m-%d")
            else:
                scalars[name] = str(value)
        now = _now()
        scalars.setdefault("addedAt", str(now))
        if type_ in ("movie", "episode"):
            scalars.setdefault("duration", "5400000" if type_ == "movie" else "2700000")
        file_list = [files] if isinstance(files, str) else list(files)
        rk = self._next_rk
        self._next_rk += 1
        item = _Item(
            rk=rk, type=type_, section=sec.key, fields=scalars, tags=tags, roles=roles,
            locked=locked,
            media=self._make_media([file_list] if stacked else file_list) if file_list else [],
            updated_at=now, thumb=thumb or f"/library/metadata/{rk}/thumb/{now}", art=art,
            guids=guids,
        )
        self._items[rk] = item
        sec.members.setdefault(type_, {})[rk] = None
        sec.order_version += 1
        sec.collections_dirty = True
        for name, url in photos.items():
            self._set_photo(name, url)
        return item

    def _forget(self, item: _Item) -> None:
        for child in list(item.children) if item.type != "collection" else []:
            self._forget(self._items[child])
        self._items.pop(item.rk, None)
        sec = self._sections[item.section]
        sec.members.get(item.type, {}).pop(item.rk, None)
        if item.type != "collection":
            sec.collections_dirty = True

    def _ancestors(self, item: _Item) -> list[_Item]:
        found = []
        while item.parent is not None and item.parent in self._items:
            item = self._items[item.parent]
            found.append(item)
        return found

    def _descendants(self, item: _Item) -> list[_Item]:
        found = []
        for child in item.children:
            child_item = self._items[child]
            found.append(child_item)
            found.extend(self._descendants(child_item))
        return found

    def _invalidate_family(self, item: _Item) -> None:
        """Parents' counts and children's parent titles live in other items' cached XML."""
        item.frag.clear()
        for other in self._ancestors(item) + self._descendants(item):
            other.frag.clear()

    def _set_photo(self, name: str, url: str | None) -> None:
        """Store a person's photo and drop the cached XML of every item that shows it."""
        if url:
            if self._actor_photos.get(name) == url:
                return
            self._actor_photos[name] = url
        elif self._actor_photos.pop(name, None) is None:
            return
        for it in self._items.values():
            if it.frag and name in it.tags.get("actor", ()):
                it.frag.clear()

    def _touch(self, item: _Item) -> None:
        item.updated_at = _later(item.updated_at)
        item.frag.clear()
        if item.type != "collection":
            self._sections[item.section].collections_dirty = True

    def _touch_section(self, sec: _Section) -> None:
        sec.updated_at = _later(sec.updated_at)

    def _sort_title(self, item: _Item) -> str:
        return (item.fields.get("titleSort") or item.fields.get("title", "")).casefold()

    def _order_key(self, item: _Item) -> tuple[Any, ...]:
        if item.type == "episode":
            season = self._items[item.parent] if item.parent is not None else None
            show = self._items[season.parent] if season and season.parent is not None else None
            return (self._sort_title(show) if show else "", show.rk if show else 0,
                    season.index if season else 0, item.index or 0, item.rk)
        if item.type == "season":
            show = self._items[item.parent] if item.parent is not None else None
            return (self._sort_title(show) if show else "", show.rk if show else 0,
                    item.index or 0, "", item.rk)
        return (self._sort_title(item), item.rk)

    def _ordered(self, sec: _Section, type_: str) -> list[_Item]:
        cached = sec.order_cache.get(type_)
        if cached is not None and cached[0] == sec.order_version:
            return cached[1]
        items = [self._items[rk] for rk in sec.members.get(type_, {})]
        items.sort(key=self._order_key)
        sec.order_cache[type_] = (sec.order_version, items)
        return items

    def _fresh_collections(self, only: _Section | None = None) -> None:
        """Bring collection items in line with the items' collection tags: PMS creates the
        collection when an item first carries the tag and deletes it when none does any more. A
        collection keeps its rating key, summary and poster while it has items."""
        for sec in [only] if only is not None else list(self._sections.values()):
            if not sec.collections_dirty:
                continue
            members: dict[str, list[int]] = {}
            for type_, in_section in sec.members.items():
                if type_ == "collection":
                    continue
                for member in in_section:
                    for name in self._items[member].tags.get("collection", ()):
                        members.setdefault(name, []).append(member)
            for name, gone in list(sec.collections.items()):
                if name not in members:
                    del sec.collections[name]
                    self._forget(self._items[gone])
                    sec.order_version += 1
            for name, held in members.items():
                known = sec.collections.get(name)
                if known is None:
                    created = self._create("collection", sec, name, [], {})
                    created.thumb = None  # a composite of its items until a poster is chosen
                    created.index = self._tag_id("collection", name)
                    known = sec.collections[name] = created.rk
                collection = self._items[known]
                if collection.children != held:
                    collection.children = held
                    collection.frag.clear()
            sec.collections_dirty = False

    def _lookup(self, rating_key: Any) -> _Item:
        """An item by rating key; a collection (or a key not known yet) is brought up to date first."""
        it = self._items.get(int(rating_key)) if str(rating_key).isdigit() else None
        if it is None or it.type == "collection":
            self._fresh_collections()
        return self._item(rating_key)

    # ------------------------------------------------------------------ XML rendering
    def _collection_attrs(self, it: _Item) -> str:
        """What PMS adds on a collection: its children's key, subtype, tag index, child count."""
        first = self._items.get(it.children[0]) if it.children else None
        subtype = first.type if first is not None else "movie"
        thumb = "" if it.thumb else f' thumb="/library/collections/{it.rk}/composite/{it.updated_at}"'
        return (f' subtype="{subtype}" index="{it.index or 0}" childCount="{len(it.children)}"'
                f' smart="0" collectionMode="-1" collectionSort="0"{thumb}')

    def _item_attrs(self, it: _Item, library_attrs: bool) -> str:
        rk = it.rk
        search = _NEEDS_ESCAPE.search
        kind = it.type
        if kind == "collection":
            key, guid = f"/library/collections/{rk}/children", f"collection://{uuid.UUID(int=rk)}"
        else:
            key = f"/library/metadata/{rk}/children" if kind in ("show", "season") \
                else f"/library/metadata/{rk}"
            guid = f"plex://{kind}/{rk:024x}"
        out = [f' ratingKey="{rk}" key="{key}" guid="{guid}" type="{kind}"']
        for name, value in it.fields.items():
            if value:
                out.append(f' {name}="{value if search(value) is None else value.translate(_ESCAPES)}"')
        if kind == "collection":
            out.append(self._collection_attrs(it))
        if it.thumb:
            out.append(f' thumb="{_esc(it.thumb)}"')
        if it.art:
            out.append(f' art="{_esc(it.art)}"')
        out.append(f' updatedAt="{it.updated_at}"')
        if kind in ("movie", "episode"):
            out.append(self._plays.attributes(rk))
        if kind == "show":
            leaves = sum(len(self._items[c].children) for c in it.children)
            out.append(f' childCount="{len(it.children)}" leafCount="{leaves}" viewedLeafCount="0"')
        elif kind == "season":
            out.append(f' index="{it.index or 0}" leafCount="{len(it.children)}" viewedLeafCount="0"')
            show = self._items.get(it.parent) if it.parent is not None else None
            if show is not None:
                out.append(f' parentRatingKey="{show.rk}" parentKey="/library/metadata/{show.rk}"'
                           f' parentTitle="{_esc(show.fields.get("title", ""))}"'
                           f' parentThumb="{_esc(show.thumb or "")}"')
        elif kind == "episode":
            out.append(f' index="{it.index or 0}"')
            season = self._items.get(it.parent) if it.parent is not None else None
            if season is not None:
                out.append(f' parentIndex="{season.index or 0}" parentRatingKey="{season.rk}"'
                           f' parentKey="/library/metadata/{season.rk}"'
                           f' parentTitle="{_esc(season.fields.get("title", ""))}"')
                show = self._items.get(season.parent) if season.parent is not None else None
                if show is not None:
                    out.append(f' grandparentRatingKey="{show.rk}"'
                               f' grandparentKey="/library/metadata/{show.rk}"'
                               f' grandparentTitle="{_esc(show.fields.get("title", ""))}"'
                               f' grandparentThumb="{_esc(show.thumb or "")}"')
        if library_attrs:
            sec = self._sections[it.section]
            out.append(f' librarySectionID="{sec.key}" librarySectionKey="/library/sections/{sec.key}"'
                       f' librarySectionTitle="{_esc(sec.title)}"')
        return "".join(out)

    def _tag_xml(self, prefix: str, name: str) -> str:
        """The constant part of a tag element; cached because 50,000-item listings repeat tags."""
        cached = self._tag_xml_cache.get((prefix, name))
        if cached is None:
            tid = self._tag_id(prefix, name)
            cached = f'<{TAG_ELEMENTS[prefix]} id="{tid}" filter="{prefix}={tid}" tag="{_esc(name)}"'
            self._tag_xml_cache[(prefix, name)] = cached
        return cached

    def _render(self, it: _Item, mode: str, check_files: bool = False) -> bytes:
        """One item element. Modes: list, trunc (listing with real-PMS tag truncation), hub, detail."""
        cacheable = mode in ("list", "trunc")
        if cacheable:
            cached = it.frag.get(mode)
            if cached is not None:
                return cached
        element = "Video" if it.type in ("movie", "episode") else "Directory"
        out = [f"<{element}", self._item_attrs(it, mode in ("hub", "detail")), ">"]
        duration = it.fields.get("duration", "")
        added = it.fields.get("addedAt", "0")
        extra = ' accessible="1" exists="1"' if check_files else ""
        for media in it.media:
            container = media.parts[0].container if media.parts else "mkv"
            out.append(f'<Media id="{media.id}" duration="{duration}" container="{container}"'
                       ' videoCodec="h264" audioCodec="aac" videoResolution="1080">')
            for part in media.parts:
                out.append(f'<Part id="{part.id}" key="/library/parts/{part.id}/{added}'
                           f'/file.{part.container}" file="{_esc(part.file)}" size="{part.size}"'
                           f' container="{part.container}" duration="{duration}"{extra}/>')
            out.append("</Media>")
        tag_xml = self._tag_xml
        for prefix, names in it.tags.items():
            if not names:
                continue
            if mode == "trunc":
                names = names[:3 if prefix == "actor" else 2]
            if prefix == "actor":
                for name in names:
                    role = _esc(it.roles.get(name, ""))
                    thumb = self._actor_photos.get(name)
                    thumb_attr = f' thumb="{_esc(thumb)}"' if thumb else ""
                    out.append(f'{tag_xml(prefix, name)} role="{role}"{thumb_attr}/>')
            else:
                for name in names:
                    out.append(f"{tag_xml(prefix, name)}/>")
        if mode == "detail":
            for guid in it.guids:
                out.append(f'<Guid id="{_esc(guid)}"/>')
            for name in sorted(it.locked):
                out.append(f'<Field locked="1" name="{_esc(name)}"/>')
            if it.type == "show" and it.location:
                out.append(f'<Location path="{_esc(it.location)}"/>')
        out.append(f"</{element}>")
        data = "".join(out).encode("utf-8")
        if cacheable:
            it.frag[mode] = data
        return data

    @staticmethod
    def _container(attrs: dict[str, Any], children: list[bytes] | None = None) -> bytes:
        head = "".join(f' {k}="{_esc(str(v))}"' for k, v in attrs.items())
        if not children:
            return f"{_XML_DECL}<MediaContainer{head}/>\n".encode()
        return b"".join([f"{_XML_DECL}<MediaContainer{head}>\n".encode(), *children,
                         b"\n</MediaContainer>\n"])

    def _section_container_attrs(self, sec: _Section) -> dict[str, Any]:
        return {"librarySectionID": sec.key, "librarySectionTitle": sec.title,
                "librarySectionUUID": sec.uuid, "identifier": _IDENTIFIER, "allowSync": "1",
                "mediaTagPrefix": "/system/bundle/media/flags/",
                "mediaTagVersion": self._created_at}

    def _root_xml(self) -> bytes:
        return self._container({
            "size": 0, "friendlyName": self.friendly_name,
            "machineIdentifier": self.machine_identifier, "version": self.version,
            "platform": "Linux", "platformVersion": "6.1", "myPlex": "0", "multiuser": "0",
            "allowSync": "1", "allowSharing": "0", "allowMediaDeletion": "1", "claimed": "1",
            "transcoderActiveVideoSessions": 0, "updatedAt": _now(),
        })

    def _sections_xml(self) -> bytes:
        children = []
        refreshing = {scan.section for scan in self._scans}
        for sec in sorted(self._sections.values(), key=lambda s: s.key):
            locations = "".join(f'<Location id="{sec.key * 100 + i}" path="{_esc(p)}"/>'
                                for i, p in enumerate(sec.locations))
            children.append(
                f'<Directory key="{sec.key}" type="{sec.type}" title="{_esc(sec.title)}"'
                f' agent="{sec.agent}" scanner="{sec.scanner}" language="{sec.language}"'
                f' uuid="{sec.uuid}" allowSync="1" filters="1"'
                f' refreshing="{1 if sec.key in refreshing else 0}" content="1"'
                f' createdAt="{sec.created_at}" updatedAt="{sec.updated_at}"'
                f' scannedAt="{sec.updated_at}" thumb="/:/resources/{sec.type}.png">'
                f"{locations}</Directory>".encode())
        return self._container({"size": len(children), "allowSync": "0",
                                "title1": "Plex Library"}, children)

    def _section_detail_xml(self, sec: _Section) -> bytes:
        """GET /library/sections/{key}: PMS's "secondary" view of one section.

        Real PMS lists the section's sub-views here; ``refreshing`` is added on the container so
        a client can poll one section without listing them all.
        """
        noun = "Movies" if sec.type == "movie" else "Shows"
        children = [f'<Directory key="{key}" title="{_esc(title)}"/>'.encode() for key, title in (
            ("all", f"All {noun}"), ("recentlyAdded", f"Recently Added {noun}"),
            ("folder", "By Folder"))]
        attrs = {"size": len(children), "content": "secondary",
                 **self._section_container_attrs(sec), "allowSync": "0", "title1": sec.title,
                 "viewGroup": "secondary", "viewMode": "65592",
                 "refreshing": 1 if any(s.section == sec.key for s in self._scans) else 0}
        return self._container(attrs, children)

    def _activities_xml(self) -> bytes:
        """GET /activities: one library.update.section Activity per running scan."""
        now = time.monotonic()
        children = []
        for scan in self._scans:
            sec = self._sections[scan.section]
            done = 0 if scan.delay <= 0 else int(100 * (now - scan.started) / scan.delay)
            children.append(
                f'<Activity uuid="{scan.uuid}" type="library.update.section" cancellable="0"'
                f' userID="1" title="Scanning {_esc(sec.title)}" subtitle=""'
                f' progress="{max(0, min(done, 99))}">'
                f'<Context librarySectionID="{sec.key}"/></Activity>'.encode())
        return self._container({"size": len(children)}, children)

    # ------------------------------------------------------------------ listing and filters
    def _listing(self, sec: _Section, query: str, params: list[tuple[str, str]],
                 start: int | None, size: int | None) -> bytes:
        values = dict(params)
        include_meta = values.get("includeMeta") == "1"
        type_ = sec.type
        if values.get("type"):
            try:
                type_ = NUMBER_TYPES.get(int(values["type"]), "")
            except ValueError:
                raise _HttpError(400, "bad type") from None
        if type_ and type_ not in _TYPE_TAGS:
            type_ = ""
        conditions = self._filter_conditions(query)
        if type_ == "collection":
            self._fresh_collections(sec)
        matches = self._ordered(sec, type_) if type_ else []
        file_term = values.get("file")
        if file_term:
            matches = [it for it in matches
                       if any(file_term in p.file for m in it.media for p in m.parts)]
        for cond in conditions:
            matches = [it for it in matches if self._condition_holds(it, *cond)]
        if values.get("sort"):
            matches = self._sorted_by(matches, values["sort"])
        if values.get("limit"):
            try:
                matches = matches[:max(int(values["limit"]), 0)]
            except ValueError:
                raise _HttpError(400, "bad limit") from None
        total = len(matches)
        first = max(start or 0, 0)
        page = matches[first:] if size is None else matches[first:first + max(size, 0)]
        mode = "trunc" if self.truncate_listing_tags else "list"
        children = [self._render(it, mode) for it in page]
        if include_meta:
            children.insert(0, self._meta_xml(sec))
        attrs = {"size": len(page), "totalSize": total, "offset": first,
                 **self._section_container_attrs(sec), "title1": sec.title,
                 "viewGroup": type_ or sec.type}
        return self._container(attrs, children)

    def _filter_conditions(self, query: str) -> list[tuple[str, str, str, list[str]]]:
        """Plex filter pieces (``genre=31``, ``year>>=2000``, ``studio!==X``) read from the raw query.

        The raw string is needed because the operator's '=' characters and an encoded '=' in a
        value look the same after normal decoding.
        """
        conditions = []
        for piece in query.split("&"):
            # requests percent-encodes the operator characters (plexapi's own `addedAt>>=` goes
            # out as `addedAt%3E%3E=`), and PMS decodes them; an encoded '=' stays encoded.
            piece = re.sub(r"%3[CcEe]|%21", lambda m: unquote(m.group()), piece)
            match = _RE_FILTER_PIECE.match(piece)
            if not match:
                continue
            key = unquote_plus(match.group("key"))
            op = match.group("op")
            if key in _LISTING_CONTROL_KEYS or key.startswith(("include", "X-Plex-")):
                continue
            libtype, _, name = key.rpartition(".")
            if name in _NOOP_FILTER_FIELDS or name in ("checkFiles", "excludeAllLeaves"):
                continue
            if libtype and libtype not in TYPE_NUMBERS:
                if self.strict:
                    raise _HttpError(400, f"unknown filter {key}")
                continue
            known = (name in _STRING_FILTER_FIELDS or name in _INTEGER_FILTER_FIELDS
                     or name in _DATE_FILTER_FIELDS or name in TAG_PREFIXES)
            if not known:
                if self.strict:
                    raise _HttpError(400, f"unknown filter {key}")
                continue
            # plexapi joins OR-values with ',' and then percent-encodes the whole value.
            values = unquote_plus(match.group("val")).split(",")
            conditions.append((libtype, name, op, values))
        return conditions

    def _related(self, it: _Item, libtype: str) -> list[_Item]:
        if not libtype or libtype == it.type:
            return [it]
        order = ("show", "season", "episode")
        if libtype in order and it.type in order:
            if order.index(libtype) < order.index(it.type):
                return [a for a in self._ancestors(it) if a.type == libtype]
            return [d for d in self._descendants(it) if d.type == libtype]
        return []

    def _field_number(self, it: _Item, name: str) -> float | None:
        if name == "id":
            return float(it.rk)
        if name == "index":
            return float(it.index) if it.index is not None else None
        if name == "updatedAt":
            return float(it.updated_at)
        if name in plays.PLAY_DATE_FIELDS or name in plays.PLAY_INTEGER_FIELDS:
            return self._plays.number(it.rk, name)
        if name == "childCount":
            return float(len(it.children))
        if name == "leafCount":
            return float(len(it.children) if it.type == "season" else
                         sum(len(self._items[c].children) for c in it.children))
        value = it.fields.get(name)
        if not value:
            return None
        if name == "originallyAvailableAt":
            try:
                return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
            except ValueError:
                return None
        try:
            return float(value)
        except ValueError:
            return None

    @staticmethod
    def _date_value(raw: str) -> float:
        rel = _RE_RELATIVE_DATE.match(raw)
        if rel:
            return float(_now() - int(rel.group(1)) * _RELATIVE_UNITS[rel.group(2)])
        try:
            return float(raw)
        except ValueError:
            return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()

    def _condition_holds(self, it: _Item, libtype: str, name: str, op: str,
                         values: list[str]) -> bool:
        related = self._related(it, libtype)
        negative = op.startswith("!")
        if not related:
            return negative
        return any(self._test_one(other, name, op, values) for other in related) \
            if not negative else all(self._test_one(other, name, op, values) for other in related)

    def _test_one(self, it: _Item, name: str, op: str, values: list[str]) -> bool:
        if name in TAG_PREFIXES:
            names = it.tags.get(name, [])
            tokens = {v.casefold() for v in values}
            hit = any(str(self._tag_id(name, n)) in tokens or n.casefold() in tokens for n in names)
            return not hit if op == "!=" else hit
        if name in _STRING_FILTER_FIELDS:
            if name == "titleSort":
                text = self._sort_title(it)
            else:
                text = (it.fields.get(name) or "").casefold()
            wanted = [v.casefold() for v in values]
            if op == "=":
                return any(w in text for w in wanted)
            if op == "!=":
                return not any(w in text for w in wanted)
            if op == "==":
                return text in wanted
            if op == "!==":
                return text not in wanted
            if op == "<=":
                return any(text.startswith(w) for w in wanted)
            if op == ">=":
                return any(text.endswith(w) for w in wanted)
            return True
        number = self._field_number(it, name)
        try:
            targets = [self._date_value(v) if name in _DATE_FILTER_FIELDS else float(v)
                       for v in values if v != ""]
        except ValueError:
            raise _HttpError(400, f"bad value for {name}") from None
        if op in ("=", "=="):
            if name in _DATE_FILTER_FIELDS:
                return number is not None and any(t <= number < t + 86400 for t in targets)
            return number is not None and number in targets
        if op in ("!=", "!=="):
            return number is None or number not in targets
        if number is None or not targets:
            return False
        if op == ">>=":
            return number > targets[0]
        if op == "<<=":
            return number < targets[0]
        return True

    def _sorted_by(self, items: list[_Item], sort: str) -> list[_Item]:
        result = list(items)
        for spec in reversed([s for s in sort.split(",") if s]):
            key, _, direction = spec.partition(":")
            name = key.rpartition(".")[2]
            descending = direction == "desc"
            if name == "titleSort" or name == "title":
                def title_key(it: _Item, n: str = name) -> str:
                    return (self._sort_title(it) if n == "titleSort"
                            else it.fields.get("title", "").casefold())

                result.sort(key=title_key, reverse=descending)
            elif name in ("random", ""):
                continue
            else:
                present = [it for it in result if self._field_number(it, name) is not None]
                absent = [it for it in result if self._field_number(it, name) is None]
                def number_key(it: _Item, n: str = name) -> float:
                    return self._field_number(it, n) or 0.0

                present.sort(key=number_key, reverse=descending)
                result = present + absent
        return result

    def _meta_xml(self, sec: _Section) -> bytes:
        types = ["movie"] if sec.type == "movie" else ["show", "season", "episode"]
        out = ["<Meta>"]
        for type_ in types:
            number = TYPE_NUMBERS[type_]
            prefix = "" if type_ == "movie" else f"{type_}."
            active = "1" if type_ == sec.type else "0"
            out.append(f'<Type key="/library/sections/{sec.key}/all?type={number}" type="{type_}"'
                       f' title="{type_.capitalize()}s" active="{active}">')
            for tag in _TYPE_TAGS[type_]:
                out.append(f'<Filter filter="{tag}" filterType="string"'
                           f' key="/library/sections/{sec.key}/{tag}?type={number}"'
                           f' title="{tag.capitalize()}" type="filter"/>')
            for sort in _SORTABLE:
                if sort == "title":
                    continue
                direction = "asc" if sort == "titleSort" else "desc"
                out.append(f'<Sort default="" defaultDirection="{direction}" descKey="{sort}:desc"'
                           f' key="{sort}" title="{sort}"/>')
            for name in ("title", "studio", "contentRating", "summary", "tagline", "titleSort"):
                out.append(f'<Field key="{prefix}{name}" title="{name}" type="string"/>')
            for name in ("year", "userRating"):
                out.append(f'<Field key="{prefix}{name}" title="{name}" type="integer"/>')
            for name in ("addedAt", "originallyAvailableAt"):
                out.append(f'<Field key="{prefix}{name}" title="{name}" type="date"/>')
            if type_ in ("movie", "episode"):  # the owner's play state: "Plays", "Last Played"
                out.append(f'<Field key="{prefix}viewCount" title="Plays" type="integer"/>'
                           f'<Field key="{prefix}lastViewedAt" title="Last Played" type="date"/>')
            for tag in _TYPE_TAGS[type_]:
                out.append(f'<Field key="{prefix}{tag}" title="{tag}" type="tag"/>')
            out.append("</Type>")
        out.append('<FieldType type="string"><Operator key="=" title="contains"/>'
                   '<Operator key="!=" title="does not contain"/><Operator key="==" title="is"/>'
                   '<Operator key="!==" title="is not"/><Operator key="&lt;=" title="begins with"/>'
                   '<Operator key="&gt;=" title="ends with"/></FieldType>')
        out.append('<FieldType type="integer"><Operator key="=" title="is"/>'
                   '<Operator key="!=" title="is not"/><Operator key="&gt;&gt;=" title="is greater than"/>'
                   '<Operator key="&lt;&lt;=" title="is less than"/></FieldType>')
        out.append('<FieldType type="date"><Operator key="=" title="is"/>'
                   '<Operator key="!=" title="is not"/><Operator key="&gt;&gt;=" title="is after"/>'
                   '<Operator key="&lt;&lt;=" title="is before"/></FieldType>')
        out.append('<FieldType type="tag"><Operator key="=" title="is"/>'
                   '<Operator key="!=" title="is not"/></FieldType>')
        out.append('<FieldType type="boolean"><Operator key="=" title="is true"/>'
                   '<Operator key="!=" title="is false"/></FieldType>')
        out.append("</Meta>")
        return "".join(out).encode()

    def _filter_choices(self, sec: _Section, prefix: str, params: list[tuple[str, str]]) -> bytes:
        values = dict(params)
        type_ = sec.type
        if values.get("type"):
            type_ = NUMBER_TYPES.get(int(values["type"]) if values["type"].isdigit() else 0, sec.type)
        names: dict[str, None] = {}
        for it in self._ordered(sec, type_):
            for name in it.tags.get(prefix, []):
                names[name] = None
        children = []
        for name in sorted(names, key=str.casefold):
            tid = self._tag_id(prefix, name)
            children.append(f'<Directory key="{tid}" title="{_esc(name)}" type="{prefix}"'
                            f' fastKey="/library/sections/{sec.key}/all?{prefix}={tid}"/>'.encode())
        return self._container({"size": len(children), "allowSync": "0",
                                **self._section_container_attrs(sec)}, children)

    # ------------------------------------------------------------------ detail, children, hubs
    def _detail(self, keys: str, check_files: bool) -> bytes:
        items = []
        if any(not k.isdigit() or self._items.get(int(k)) is None or self._items[int(k)].type == "collection"
               for k in keys.split(",")):
            self._fresh_collections()
        for key in keys.split(","):
            try:
                it = self._items.get(int(key))
            except ValueError:
                it = None
            if it is not None:
                items.append(it)
        if not items:
            raise _HttpError(404)
        sec = self._sections[items[0].section]
        children = [self._render(it, "detail", check_files) for it in items]
        return self._container({"size": len(children), **self._section_container_attrs(sec)},
                               children)

    def _children(self, it: _Item, all_leaves: bool, start: int | None, size: int | None) -> bytes:
        if all_leaves:
            kids = [d for d in self._descendants(it) if d.type == "episode"]
        else:
            kids = [self._items[c] for c in it.children]
        kids.sort(key=self._order_key)
        first = max(start or 0, 0)
        page = kids[first:] if size is None else kids[first:first + max(size, 0)]
        sec = self._sections[it.section]
        mode = "trunc" if self.truncate_listing_tags else "list"
        attrs = {"size": len(page), "totalSize": len(kids), "offset": first,
                 **self._section_container_attrs(sec), "key": it.rk,
                 "parentRatingKey": it.rk, "parentTitle": it.fields.get("title", "")}
        return self._container(attrs, [self._render(k, mode) for k in page])

    def _hubs(self, params: list[tuple[str, str]]) -> bytes:
        values = dict(params)
        term = values.get("query", "").casefold()
        try:
            limit = int(values.get("limit") or 0)
        except ValueError:
            limit = 0
        section_id = values.get("sectionId")
        groups: dict[str, list[_Item]] = {"movie": [], "show": [], "episode": []}
        for sec in sorted(self._sections.values(), key=lambda s: s.key):
            if section_id and str(sec.key) != section_id:
                continue
            for type_ in groups:
                for it in self._ordered(sec, type_):
                    if term and term in it.fields.get("title", "").casefold():
                        groups[type_].append(it)
        hubs = []
        for type_, found in groups.items():
            if not found:
                continue
            if limit:
                found = found[:limit]
            body = b"".join(self._render(it, "hub") for it in found)
            hubs.append(f'<Hub title="{type_.capitalize()}s" type="{type_}" hubIdentifier="{type_}"'
                        f' context="hub.{type_}" size="{len(found)}" more="0" style="shelf">'.encode()
                        + body + b"</Hub>")
        return self._container({"size": len(hubs)}, hubs)

    def _photos(self, it: _Item, kind: str) -> bytes:
        entries = it.posters if kind == "posters" else it.arts
        children = []
        for entry in entries:
            url = f"/library/metadata/{it.rk}/file?url={quote(entry['ratingKey'], safe='')}"
            children.append(f'<Photo key="{_esc(url)}" ratingKey="{_esc(entry["ratingKey"])}"'
                            f' selected="{1 if entry["selected"] else 0}" thumb="{_esc(url)}"'
                            f' provider="{_esc(entry.get("provider", ""))}"/>'.encode())
        return self._container({"size": len(children)}, children)

    # ------------------------------------------------------------------ edits
    def _edit(self, sec: _Section, params: list[tuple[str, str]]) -> None:
        """PUT /library/sections/{id}/all: validate everything, then apply to every target at once."""
        ids: str | None = None
        type_raw: str | None = None
        values: dict[str, str] = {}
        locks: dict[str, bool] = {}
        indexed: dict[str, dict[int, dict[str, str]]] = {}
        removals: dict[str, list[str]] = {}
        strict = self.strict
        for key, value in params:
            if key == "id":
                ids = value
                continue
            if key == "type":
                type_raw = value
                continue
            if key.startswith("X-Plex-"):
                continue
            match = _RE_VALUE.match(key)
            if match:
                name = match.group(1)
                if name not in EDITABLE_FIELDS or not _valid_field_value(name, value):
                    if strict:
                        raise _HttpError(400, f"bad field {key}={value!r}")
                    continue
                if name == "title" and value == "":
                    continue
                values[name] = value
                continue
            match = _RE_LOCKED.match(key)
            if match:
                locks[match.group(1)] = value not in ("0", "", "false")
                continue
            match = _RE_INDEXED.match(key)
            if match and match.group(1) in TAG_PREFIXES:
                entry = indexed.setdefault(match.group(1), {}).setdefault(int(match.group(2)), {})
                entry[match.group(3)] = value
                continue
            match = _RE_REMOVE.match(key)
            if match and match.group(1) in TAG_PREFIXES:
                removals.setdefault(match.group(1), []).extend(
                    unquote(piece) for piece in value.split(",") if piece != "")
                continue
            if strict:
                raise _HttpError(400, f"unknown edit key {key}")
        if type_raw is None:
            raise _HttpError(400, "missing type")
        try:
            type_ = NUMBER_TYPES[int(type_raw)]
        except (KeyError, ValueError):
            raise _HttpError(400, f"bad type {type_raw}") from None
        if type_ == "collection":
            self._fresh_collections(sec)
        if ids is None:
            targets = list(self._ordered(sec, type_))
        else:
            targets = []
            for raw in ids.split(","):
                try:
                    it = self._items.get(int(raw))
                except ValueError:
                    it = None
                if it is None or it.section != sec.key or it.type != type_:
                    raise _HttpError(404, f"no {type_} {raw} in section {sec.key}")
                targets.append(it)
        reorder = "title" in values or "titleSort" in values
        for it in targets:
            for name, value in values.items():
                if value == "":
                    it.fields.pop(name, None)
                else:
                    it.fields[name] = value
            for prefix, entries in indexed.items():
                self._apply_indexed(it, prefix, entries)
            for prefix, names in removals.items():
                self._apply_removals(it, prefix, names)
            for name, locked in locks.items():
                if locked:
                    it.locked.add(name)
                else:
                    it.locked.discard(name)
            self._touch(it)
            if it.type in ("show", "season"):
                self._invalidate_family(it)
        if reorder:
            sec.order_version += 1
        self._touch_section(sec)

    def _apply_indexed(self, it: _Item, prefix: str, entries: dict[int, dict[str, str]]) -> None:
        ordered = [entries[i] for i in sorted(entries)]
        names = [e["tag.tag"] for e in ordered if e.get("tag.tag")]
        current = it.tags.setdefault(prefix, [])
        if self.tag_semantics == "replace" and names:
            fresh: list[str] = []
            for name in names:
                if name not in fresh:
                    fresh.append(name)
            if prefix == "actor":
                for gone in set(current) - set(fresh):
                    it.roles.pop(gone, None)
            current[:] = fresh
        else:
            for name in names:
                if name not in current:
                    current.append(name)
        if prefix == "actor":
            for entry in ordered:
                tag_name = entry.get("tag.tag")
                if not tag_name:
                    continue
                if "tagging.text" in entry:
                    it.roles[tag_name] = entry["tagging.text"]
                if entry.get("tag.thumb"):
                    self._set_photo(tag_name, entry["tag.thumb"])

    def _apply_removals(self, it: _Item, prefix: str, names: list[str]) -> None:
        drop = set(names)
        current = it.tags.get(prefix)
        if not current:
            return
        current[:] = [name for name in current if name not in drop]
        if prefix == "actor":
            for name in drop:
                it.roles.pop(name, None)

    def _upload(self, it: _Item, kind: str, params: list[tuple[str, str]], body: bytes) -> None:
        url = dict(params).get("url")
        data = url.encode("utf-8") if url else body
        sha = hashlib.sha1(data).hexdigest()
        entries = it.posters if kind == "posters" else it.arts
        rating_key = f"upload://{kind}/{sha}"
        entry = next((e for e in entries if e["ratingKey"] == rating_key), None)
        if entry is None:
            entry = {"ratingKey": rating_key, "sha1": sha, "selected": False, "provider": ""}
            entries.append(entry)
        self._select(it, kind, entry)

    def _select(self, it: _Item, kind: str, entry: dict[str, Any]) -> str:
        entries = it.posters if kind == "posters" else it.arts
        for other in entries:
            other["selected"] = other is entry
        self._touch(it)
        field_name = "thumb" if kind == "posters" else "art"
        path = f"/library/metadata/{it.rk}/{field_name}/{it.updated_at}"
        setattr(it, field_name, path)
        it.locked.add(field_name)
        self._invalidate_family(it)
        self._touch_section(self._sections[it.section])
        return path

    # ------------------------------------------------------------------ HTTP plumbing
    def _serve(self, handler: _Handler, method: str) -> None:
        received = time.time()
        split = urlsplit(handler.path)
        path = unquote(split.path) or "/"
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        query = split.query
        params = parse_qsl(query, keep_blank_values=True)
        try:
            body = self._read_body(handler)
        except (OSError, ValueError):
            handler.close_connection = True
            return
        header_token = handler.headers.get("X-Plex-Token")
        query_token = next((v for k, v in params if k == "X-Plex-Token"), None)
        if header_token is not None:
            token, token_source = header_token, "header"
        elif query_token is not None:
            token, token_source = query_token, "query"
        else:
            token, token_source = None, None
        start, size, paging_source = self._paging(handler, params)
        record = RequestRecord(
            method=method, path=path, params=params, token_source=token_source,
            body_len=len(body), status=0, time=received, container_start=start,
            container_size=size, paging_source=paging_source,
            body_sha1=hashlib.sha1(body).hexdigest() if body else None,
            raw_path=split.path, query=query,
        )
        with self._log_lock:
            self.request_log.append(record)

        drop = self._take_drop(method, path)
        if drop is not None and not drop.after_processing:
            self._drop(handler)
            return
        delay = self._delay_for(method, path)
        if delay > 0 and self._down.wait(delay):
            self._drop(handler)  # went down while this request was being held
            return
        forced = self._take_fail(method, path)
        if forced is not None:
            self._send(handler, record, forced, self._html(forced), _HTML_TYPE)
            return
        if not self.allow_anonymous and path != "/identity" and token != self.token:
            self._send(handler, record, 401, _HTML_401, _HTML_TYPE)
            return
        try:
            status, payload, ctype = self._route(method, path, query, params, body, start, size)
        except _HttpError as err:
            record.error = err.message or None
            status, payload, ctype = err.status, self._html(err.status), _HTML_TYPE
        except Exception as err:  # noqa: BLE001 - a bug in the fake must surface, not hang the client
            record.error = "".join(traceback.format_exception_only(type(err), err)).strip()
            traceback.print_exc()
            status, payload, ctype = 500, self._html(500), _HTML_TYPE
        if drop is not None:
            record.status = status
            self._drop(handler)
            return
        with self._fault_lock:
            holds = [hold for prefix, hold in self._holds.items() if path.startswith(prefix)]
        for seconds, started in holds:
            started.set()
            time.sleep(seconds)
        self._send(handler, record, status, payload, ctype)

    @staticmethod
    def _read_body(handler: _Handler) -> bytes:
        if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                line = handler.rfile.readline(65537)
                length = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if length == 0:
                    while handler.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(handler.rfile.read(length))
                handler.rfile.readline(65537)
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length > 0 else b""

    @staticmethod
    def _paging(handler: _Handler, params: list[tuple[str, str]]
                ) -> tuple[int | None, int | None, str | None]:
        def as_int(raw: str | None) -> int | None:
            try:
                return int(raw) if raw not in (None, "") else None
            except ValueError:
                return None

        h_start = as_int(handler.headers.get("X-Plex-Container-Start"))
        h_size = as_int(handler.headers.get("X-Plex-Container-Size"))
        if h_start is not None or h_size is not None:
            return h_start, h_size, "header"
        values = dict(params)
        q_start = as_int(values.get("X-Plex-Container-Start"))
        q_size = as_int(values.get("X-Plex-Container-Size"))
        if q_start is not None or q_size is not None:
            return q_start, q_size, "query"
        return None, None, None

    @staticmethod
    def _html(status: int) -> bytes:
        if status == 401:
            return _HTML_401
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return (f"<html><head><title>{phrase}</title></head>"
                f"<body><h1>{status} {phrase}</h1></body></html>").encode()

    @staticmethod
    def _send(handler: _Handler, record: RequestRecord, status: int, body: bytes, ctype: str) -> None:
        record.status = status
        record.elapsed = time.time() - record.time
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            handler.close_connection = True

    @staticmethod
    def _drop(handler: _Handler) -> None:
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _route(self, method: str, path: str, query: str, params: list[tuple[str, str]],
               body: bytes, start: int | None, size: int | None) -> tuple[int, bytes, str]:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["library", "collections"] and len(parts) >= 3 and parts[2].isdigit():
            # /library/collections/{rk}/... is the collection's own key; /library/metadata works too.
            parts[1] = "metadata"
        ok = 200
        with self._lock:
            if method in ("GET", "PUT", "POST") and len(parts) == 4 \
                    and parts[:2] == ["library", "sections"] and parts[3] == "refresh":
                self._start_scans(parts[2], params)
                return ok, b"", _XML_TYPE
            if method == "GET":
                if not parts:
                    return ok, self._root_xml(), _XML_TYPE
                played = self._play_route(parts, params, start, size)
                if played is not None:
                    return ok, played, _XML_TYPE
                if parts == ["identity"]:
                    return ok, self._container({"size": 0, "claimed": "1",
                                                "machineIdentifier": self.machine_identifier,
                                                "version": self.version}), _XML_TYPE
                if parts == ["library"]:
                    return ok, self._container(
                        {"size": 2, "allowSync": "0", "identifier": _IDENTIFIER,
                         "title1": "Plex Library"},
                        [b'<Directory key="sections" title="Library Sections"/>',
                         b'<Directory key="recentlyAdded" title="Recently Added Content"/>'],
                    ), _XML_TYPE
                if parts == ["library", "sections"]:
                    return ok, self._sections_xml(), _XML_TYPE
                if parts[:2] == ["library", "sections"] and len(parts) == 3:
                    return ok, self._section_detail_xml(self._section(parts[2])), _XML_TYPE
                if parts == ["activities"]:
                    return ok, self._activities_xml(), _XML_TYPE
                if parts[:2] == ["library", "sections"] and len(parts) == 4:
                    sec = self._section(parts[2])
                    what = parts[3]
                    if what == "all":
                        return ok, self._listing(sec, query, params, start, size), _XML_TYPE
                    if what == "collections":
                        listed = [(k, v) for k, v in params if k != "type"] + [("type", "18")]
                        return ok, self._listing(sec, query, listed, start, size), _XML_TYPE
                    if what in TAG_PREFIXES:
                        return ok, self._filter_choices(sec, what, params), _XML_TYPE
                if parts[:2] == ["library", "metadata"] and len(parts) == 3:
                    check = dict(params).get("checkFiles") == "1"
                    return ok, self._detail(parts[2], check), _XML_TYPE
                if parts[:2] == ["library", "metadata"] and len(parts) == 4:
                    it = self._lookup(parts[2])
                    if parts[3] in ("children", "allLeaves"):
                        return ok, self._children(it, parts[3] == "allLeaves", start, size), _XML_TYPE
                    if parts[3] in ("posters", "arts"):
                        return ok, self._photos(it, parts[3]), _XML_TYPE
                if parts == ["hubs", "search"]:
                    return ok, self._hubs(params), _XML_TYPE
            elif method == "PUT":
                if parts[:2] == ["library", "sections"] and len(parts) == 4 and parts[3] == "all":
                    self._edit(self._section(parts[2]), params)
                    return ok, b"", _XML_TYPE
                if parts[:2] == ["library", "metadata"] and len(parts) == 4 \
                        and parts[3] in ("poster", "art"):
                    it = self._item(parts[2])
                    kind = "posters" if parts[3] == "poster" else "arts"
                    wanted = dict(params).get("url", "")
                    entries = it.posters if kind == "posters" else it.arts
                    entry = next((e for e in entries if e["ratingKey"] == wanted), None)
                    if entry is None:
                        raise _HttpError(404, f"no {kind} {wanted}")
                    return ok, self._select(it, kind, entry).encode(), "text/plain;charset=utf-8"
            elif method == "POST":
                if parts[:2] == ["library", "metadata"] and len(parts) == 4 \
                        and parts[3] in ("posters", "arts"):
                    self._upload(self._lookup(parts[2]), parts[3], params, body)
                    return ok, b"", _XML_TYPE
            elif method == "DELETE":
                if parts[:2] == ["library", "sections"] and len(parts) == 4 \
                        and parts[3] == "refresh":
                    self._cancel_scans(parts[2])
                    return ok, b"", _XML_TYPE
                if parts[:2] == ["library", "metadata"] and len(parts) == 4 \
                        and parts[3] in ("thumb", "art"):
                    it = self._item(parts[2])
                    entries = it.posters if parts[3] == "thumb" else it.arts
                    for entry in entries:
                        entry["selected"] = False
                    setattr(it, parts[3], None)
                    self._touch(it)
                    self._touch_section(self._sections[it.section])
                    return ok, b"", _XML_TYPE
        raise _HttpError(404)


_ADJECTIVES = ("Quiet", "Crimson", "Silent", "Golden", "Broken", "Hidden", "Last", "Endless",
               "Northern", "Electric", "Paper", "Iron", "Velvet", "Frozen", "Burning", "Lost",
               "Secret", "Wild", "Hollow", "Distant")
_NOUNS = ("Lighthouse", "River", "Garden", "Signal", "Harbor", "Machine", "Orchard", "Station",
          "Mirror", "Empire", "Voyage", "Circus", "Forest", "Letter", "Kingdom", "Winter",
          "Island", "Bridge", "Archive", "Comet")
_GENRES = ("Drama", "Comedy", "Thriller", "Documentary", "Sci-Fi & Fantasy", "Romance", "Horror",
           "Animation", "Action", "Mystery")
_STUDIOS = ("Northwind", "Blue Fern", "Harbor Lights", "Kite Pictures", "Orbit Films")
_PEOPLE = ("Ines Varga", "Tomas Reyes", "Mara Olsen", "Kenji Sato", "Lea Dubois", "Omar Haddad",
           "Ruth Adler", "Piotr Nowak")
_CHARACTERS = ("Keeper", "Captain", "Doctor", "Stranger", "Narrator", "Detective")


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM/SIGINT; prints "<url> <token>" once it listens."""
    parser = argparse.ArgumentParser(description="Fake Plex Media Server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--movies", type=int, default=0, help="generated movies in section 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token", default="plex-test-token")
    parser.add_argument("--section-key", type=int, default=1)
    parser.add_argument("--section-title", default="Movies")
    parser.add_argument("--path-prefix", default="/media/generated")
    parser.add_argument("--tag-semantics", choices=("merge", "replace"), default="merge")
    parser.add_argument("--truncate-listing-tags", action="store_true")
    args = parser.parse_args(argv)

    fake = FakePlex(args.token, tag_semantics=args.tag_semantics,
                    truncate_listing_tags=args.truncate_listing_tags, port=args.port)
    fake.add_section(args.section_key, args.section_title, "movie", [args.path_prefix])
    if args.movies:
        fake.generate_movies(args.section_key, args.movies, seed=args.seed,
                             path_prefix=args.path_prefix)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    fake.start()
    print(f"{fake.url} {fake.token}", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
