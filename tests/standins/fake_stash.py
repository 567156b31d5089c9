"""A Stash stand-in on 127.0.0.1 that answers GraphQL and runs the plugin the way Stash does.

PlexSync's risky behaviour all sits at the seams with Stash: hooks that block the user's save,
one process per scene on bulk edits, ``updated_at`` compared as a string in the server's zone, a
settings map that is replaced rather than merged, and a job queue that runs one task at a time.
This stand-in reproduces those seams (facts: /work/shared/reference/stash-plugins.md) so tests can
drive the real, unmodified plugin through them. GraphQL is executed by graphql-core against the
stand-in's own SDL (stash_schema.graphql) with real resolvers over in-memory data; every document
is additionally validated against Stash's real schema when ../shared/stash-schema is present.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import yaml
from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    build_schema,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from . import stash_play_history as plays
from . import stash_ui
from .plugin_runner import (
    DEFAULT_SESSION_MAX_AGE,
    GoMap,
    GoStruct,
    OperationConfig,
    PluginManifest,
    PluginRun,
    apply_default_args,
    assert_stdout_contract,
    build_argv,
    build_env,
    encode_plugin_input,
    hook_context,
    is_python_command,
    load_manifest,
    run_plugin_process,
    server_connection,
)

__all__ = [
    "DEFAULT_SCENE_IMAGE",
    "DEFAULT_GROUP_IMAGE",
    "FakeStash",
    "ImageRequest",
    "Job",
    "PluginRun",
    "ReceivedDocument",
    "SchemaViolation",
    "StashGraphQLError",
    "assert_stdout_contract",
    "default_cover",
    "default_performer_image",
    "format_stash_time",
    "load_real_schema",
    "REAL_SCHEMA_DIR",
    "STANDIN_SCHEMA_PATH",
]

STANDIN_SCHEMA_PATH = Path(__file__).with_name("stash_schema.graphql")
REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_SCHEMA_DIR = REPO_ROOT.parent / "shared" / "stash-schema"
# stash:pkg/plugin/plugins.go maxCyclicLoopDepth
MAX_HOOK_LOOP_DEPTH = 10
_SCREENSHOT_PATH = re.compile(r"/scene/(\d+)/screenshot")
# Any id segment reaches the route; a non-numeric one is Stash's PerformerCtx 404 (after auth).
_PERFORMER_IMAGE_PATH = re.compile(r"/performer/([^/]+)/image")
_GROUP_IMAGE_PATH = re.compile(r"/group/([^/]+)/frontimage")


class StashGraphQLError(RuntimeError):
    """A GraphQL response carried errors; raised by the convenience helpers only."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("message")) for e in errors))
        self.errors = errors


# ----------------------------------------------------------------------------- small helpers


def format_stash_time(epoch: float, offset_minutes: int) -> str:
    """time.Now().Format(time.RFC3339) in a fixed zone: second precision, "Z" at offset 0."""
    zone = timezone(timedelta(minutes=offset_minutes))
    stamp = datetime.fromtimestamp(math.floor(epoch), zone).strftime("%Y-%m-%dT%H:%M:%S")
    if offset_minutes == 0:
        return stamp + "Z"
    sign = "+" if offset_minutes > 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{stamp}{sign}{hours:02d}:{minutes:02d}"


def stash_time_to_unix(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """SQLite NATURAL_CI as Stash registers it: case-insensitive, digit runs compared as numbers."""
    parts = re.split(r"(\d+)", text.lower())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


def _png(width: int, height: int, rgb: bytes) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def default_cover(scene_id: int) -> bytes:
    """A small valid PNG whose colour depends on the scene id, so covers differ per scene."""
    return _png(16, 9, hashlib.sha256(f"scene-{scene_id}".encode()).digest()[:3])


# Stash serves one static image for every scene without a cover (a scan without cover generation,
# sceneCreate without cover_image): its bundled placeholder SVG, 200 and image/svg+xml
# (running_streams.go ServeScreenshot falls back to static.DefaultSceneImage, "scene/scene.svg").
# This is a stand-in of the same kind: a play symbol on a grey field, as an SVG document.
DEFAULT_SCENE_IMAGE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1280 720">\n'
    b'  <rect width="1280" height="720" fill="#2f2f2f"/>\n'
    b'  <circle cx="640" cy="360" r="200" fill="#8a8a8a"/>\n'
    b'  <path d="M580 260 L760 360 L580 460 Z" fill="#2f2f2f"/>\n'
    b"</svg>\n"
)
# ... and one for every group without a front image (static.DefaultGroupImage).
DEFAULT_GROUP_IMAGE = _png(10, 15, b"\x60\x60\x60")


def default_performer_image(name: str) -> bytes:
    """The placeholder for a performer with no image.

    Stash picks one of its bundled images by a hash of the performer's name, so the placeholder is
    stable per name and changes when the performer is renamed; this does the same with a colour.
    """
    return _png(8, 12, hashlib.sha256(f"performer-{name}".encode()).digest()[:3])


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data.lstrip().startswith((b"<svg", b"<?xml")):
        # utils.ServeImage: Go sniffs an SVG as text/xml or text/plain and sends image/svg+xml.
        return "image/svg+xml"
    return "application/octet-stream"


def cover_data_url(data: bytes) -> str:
    """What the UI sends as ``cover_image`` when a user uploads a cover."""
    return f"data:{_image_type(data)};base64,{base64.b64encode(data).decode()}"


def _atoi(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise GraphQLError(f'strconv.Atoi: parsing "{value}": invalid syntax') from None


def _read_schema_dir(folder: Path) -> str:
    files = [folder / "schema.graphql", *sorted((folder / "types").glob("*.graphql"))]
    return "\n".join(path.read_text(encoding="utf-8") for path in files if path.is_file())


@lru_cache(maxsize=4)
def load_real_schema(folder: Path = REAL_SCHEMA_DIR) -> GraphQLSchema | None:
    """Stash's real schema (schema.graphql + types/*.graphql), or None when the folder is absent."""
    if not (folder / "schema.graphql").is_file():
        return None
    return build_schema(_read_schema_dir(folder))


@lru_cache(maxsize=1)
def _standin_schema_source() -> str:
    return STANDIN_SCHEMA_PATH.read_text(encoding="utf-8")


def _sort_by_date(scene: dict[str, Any]) -> tuple[bool, str]:
    return (scene["date"] is not None, scene["date"] or "")


_SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda s: s["id"],
    "title": lambda s: _natural_key(s["title"] or str(s["id"])),
    "date": _sort_by_date,
    # Timestamps sort as the stored strings, exactly like the SQL ORDER BY on the text column.
    "updated_at": lambda s: s["updated_at"],
    "created_at": lambda s: s["created_at"],
}


def _sql_like(value: str, pattern: str) -> bool:
    """SQLite's default LIKE: ``%`` and ``_`` are wildcards, case folds for ASCII letters only."""
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch("".join(parts), value, re.IGNORECASE | re.ASCII | re.DOTALL) is not None


def _string_criterion(value: str | None, criterion: dict[str, Any]) -> bool:
    """stringCriterionHandler (pkg/sqlite/criterion_handlers.go) on one column value.

    INCLUDES/EXCLUDES go through getStringSearchClause: the value is split on whitespace and any
    word may match ``LIKE %word%`` (a value in double quotes is one phrase); EXCLUDES needs every
    word absent. EQUALS/NOT_EQUALS are ``LIKE ?`` with the value as given: no added wildcards, yet
    still case-insensitive for ASCII and with ``%``/``_`` as wildcards.
    """
    modifier = criterion["modifier"]
    target = str(criterion.get("value") or "")
    text = value or ""
    if modifier in ("INCLUDES", "EXCLUDES"):
        query = target.strip()
        phrase = query.strip('"')
        words = [phrase] if phrase != query else re.sub(r"\s+", " ", query).split(" ")
        if value is None:
            return False  # NULL [NOT] LIKE … is never true
        hits = [_sql_like(text, f"%{w}%") for w in words]
        return any(hits) if modifier == "INCLUDES" else not any(hits)
    if modifier == "EQUALS":
        return value is not None and _sql_like(text, target)
    if modifier == "NOT_EQUALS":
        return value is not None and not _sql_like(text, target)
    if modifier == "IS_NULL":
        return not text.strip()
    if modifier == "NOT_NULL":
        return bool(text.strip())
    if modifier in ("MATCHES_REGEX", "NOT_MATCHES_REGEX"):
        try:
            found = value is not None and re.search(target, text) is not None
        except re.error as exc:
            raise GraphQLError(str(exc)) from None
        return found if modifier == "MATCHES_REGEX" else value is None or not found
    raise GraphQLError(f"modifier {modifier} is not supported for this criterion")


def _cookie_in(stdin: bytes) -> str | None:
    """The session cookie value inside a plugin's stdin, if it has one.

    Raw runs may hand the plugin anything at all (bad-input corpora: garbage, 10,000 nested
    arrays), so every way of failing to find a cookie means "none".
    """
    try:
        return str(json.loads(stdin)["server_connection"]["SessionCookie"]["Value"])
    except (ValueError, LookupError, TypeError, RecursionError):
        return None


def _session_from_cookies(headers: Sequence[str]) -> str | None:
    for header in headers:
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name == "session":
                return value.strip().strip('"')
    return None


# ----------------------------------------------------------------------------- records


@dataclass
class ReceivedDocument:
    """One GraphQL request (one HTTP POST), however many root fields its document selects."""

    query: Any
    variables: Any
    operation_name: str | None
    via: str  # "http" (plugin or any HTTP client) or "api" (FakeStash.graphql, the test as user)
    received_at: float
    # The session cookie it came with: ties the request to the plugin run that was handed it.
    session: str | None = None
    # Position in arrival order, never reused (clear_records keeps counting): see document_mark.
    seq: int = 0


@dataclass
class ImageRequest:
    """A GET for a scene screenshot or a performer image, answered or refused.

    Kept so a test can tell who fetched an image (the plugin with its cookie, Plex with an API key
    in the URL, a client with nothing) and what it got back.
    """

    kind: str  # "scene", "performer" or "group"
    object_id: str
    target: str  # path and query exactly as requested
    params: dict[str, str]
    auth: str | None  # credential presented: "session", "apikey-header", "apikey-query" or None
    status: int
    user_agent: str | None
    session: str | None
    received_at: float


@dataclass
class SchemaViolation:
    query: str
    variables: Any
    operation_name: str | None
    errors: list[str]
    via: str


@dataclass
class Job:
    id: str
    description: str
    task_name: str | None
    args: dict[str, Any]
    chain: tuple[tuple[str, str], ...]
    add_time: str
    status: str = "READY"
    progress: float | None = None
    start_time: str | None = None
    end_time: str | None = None
    error: str | None = None
    run: PluginRun | None = None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "description": self.description,
            "progress": self.progress,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "addTime": self.add_time,
            "error": self.error,
        }


@dataclass
class _RequestContext:
    chain: tuple[tuple[str, str], ...]
    base_url: str


@dataclass
class _Faults:
    down: bool = False
    delay: float = 0.0
    fail_status: int | None = None
    fail_remaining: int | None = None  # None = every request until cleared
    # Documents containing the key are executed, then their answer waits (see hold_after).
    holds: dict[str, tuple[float, threading.Event]] = field(default_factory=dict)
    # Documents containing the key are answered 503 without being executed (see refuse).
    refusals: dict[str, int] = field(default_factory=dict)


@dataclass
class _Named:
    id: int
    name: str
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], stash: FakeStash) -> None:
        self.stash = stash
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # connections cut by go_down()/stop() are expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Go's net/http
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.stash._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.stash._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.server.stash._serve_http(self, "POST")

    def do_GET(self) -> None:
        self.server.stash._serve_http(self, "GET")


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


_LOGIN_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>Login | Stash</title></head><body></body></html>\n"
)


def _send_unauthorized(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(401)
    handler.send_header("WWW-Authenticate", "FormBased")
    handler.send_header("Content-Type", "text/plain; charset=utf-8")
    handler.send_header("Content-Length", "13")
    handler.end_headers()
    handler.wfile.write(b"Unauthorized\n")


def _send_redirect(handler: BaseHTTPRequestHandler, location: str) -> None:
    """http.Redirect with 302 Found, body included, as Go writes it for a GET."""
    body = f'<a href="{location.replace("&", "&amp;")}">Found</a>.\n\n'.encode()
    handler.send_response(302)
    handler.send_header("Location", location)
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def _image_status(handler: BaseHTTPRequestHandler, data: bytes) -> int:
    """304 when If-None-Match names the image's ETag (http.ServeContent), else 200."""
    header = handler.headers.get("If-None-Match", "")
    wanted = [t.strip().removeprefix("W/") for t in header.split(",")]
    return 304 if _etag(data) in wanted or "*" in wanted else 200


def _send_image(handler: BaseHTTPRequestHandler, data: bytes, status: int) -> None:
    """utils.ServeImage: ETag = quoted MD5 of the bytes, Cache-Control no-cache, 200 or 304."""
    etag = _etag(data)
    if status == 304:
        handler.send_response(304)
        handler.send_header("ETag", etag)
        handler.send_header("Cache-Control", "no-cache")
        handler.end_headers()
        return
    handler.send_response(200)
    handler.send_header("Content-Type", _image_type(data))
    handler.send_header("Content-Length", str(len(data)))
    handler.send_header("ETag", etag)
    handler.send_header("Cache-Control", "no-cache")
    handler.end_headers()
    handler.wfile.write(data)


# ----------------------------------------------------------------------------- the stand-in


class FakeStash:
    """Stash as the plugin sees it: GraphQL over HTTP, hooks, tasks, operations, the job queue.

    ``python`` is the interpreter that runs a plugin whose exec starts with ``python``/``python3``
    (Stash resolves that word itself, from its python_path setting). It defaults to the test's own
    interpreter; pass another one, or assign ``self.python`` between runs, to run the plugin under
    e.g. a fresh venv without its packages. It is read at every process start. The process still
    gets ``env`` (PYTHONPATH = the plugin dir's parent, then any inherited PYTHONPATH), so pass an
    ``env`` without PYTHONPATH when the point is an interpreter that cannot see the test's packages.
    """

    def __init__(
        self,
        plugin_dir: Path,
        *,
        tz_offset_minutes: int = 0,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        stash_dir: Path | None = None,
        manifest: str | None = None,
        cwd: Path | None = None,
        real_schema_dir: Path | None = REAL_SCHEMA_DIR,
        hook_input_nulls: bool = False,
        process_timeout: float | None = 300.0,
        session_max_age: int = DEFAULT_SESSION_MAX_AGE,
        port: int = 0,
        reject_unspecified_host: bool = True,
        host: str = "0.0.0.0",
    ) -> None:
        self.plugin_dir = Path(plugin_dir).absolute()
        self.manifest: PluginManifest = load_manifest(self._find_manifest(manifest))
        self.plugin_id = self.manifest.plugin_id
        self.tz_offset_minutes = tz_offset_minutes
        self.python = python
        self._env = dict(os.environ if env is None else env)
        self._clock = clock
        self._owns_stash_dir = stash_dir is None
        self.stash_dir = Path(stash_dir or tempfile.mkdtemp(prefix="fake-stash-")).absolute()
        self.stash_dir.mkdir(parents=True, exist_ok=True)
        # Stash runs plugins in its own cwd, never the plugin dir.
        self.cwd = Path(cwd).absolute() if cwd else self.stash_dir
        self.hook_input_nulls = hook_input_nulls
        self.process_timeout = process_timeout
        self.session_max_age = session_max_age
        self._requested_port = port
        self.reject_unspecified_host = reject_unspecified_host
        # Stash's configured ``host``, which it passes to plugins as server_connection.Host:
        # 0.0.0.0 by default (listen everywhere), 127.0.0.1 when set so. It listens on 127.0.0.1.
        self.host = host

        self._schema = build_schema(_standin_schema_source())
        self._attach_resolvers()
        self.real_schema_dir = Path(real_schema_dir) if real_schema_dir else None
        self._real_schema = load_real_schema(self.real_schema_dir) if self.real_schema_dir else None
        self.real_schema_available = self._real_schema is not None

        self._lock = threading.RLock()
        self._scenes: dict[int, dict[str, Any]] = {}
        self._performers: dict[int, _Named] = {}
        self._tags: dict[int, _Named] = {}
        self._studios: dict[int, _Named] = {}
        self._groups: dict[int, _Named] = {}
        self._next_id: dict[str, int] = {}
        self._settings: dict[str, dict[str, Any]] = {}
        self.enabled = True

        self.session_value = secrets.token_urlsafe(48)
        self._sessions: dict[str, tuple[tuple[str, str], ...]] = {self.session_value: ()}
        # Settings → Security → API Key: accepted as the ``ApiKey`` header or the ``apikey``
        # query parameter wherever the session cookie is (the hook chain still comes from the
        # cookie only, like Stash's loop protection). None = no key generated. See set_api_key.
        self.api_key: str | None = None

        self.runs: list[PluginRun] = []
        self.received_documents: list[ReceivedDocument] = []
        self._document_seq = 0
        self.image_request_log: list[ImageRequest] = []
        self.user_documents: list[ReceivedDocument] = []
        self.schema_violations: list[SchemaViolation] = []
        self.skipped_hooks: list[tuple[str, int]] = []
        self.unspecified_host_requests: list[str] = []
        self.stash_log: list[tuple[str, str]] = []

        self._jobs: dict[str, Job] = {}
        self._job_queue: deque[Job] = deque()
        self._job_active: Job | None = None
        self._job_proc: subprocess.Popen[bytes] | None = None
        self._job_cv = threading.Condition()
        self._job_thread: threading.Thread | None = None
        self._stopping = False

        # A test's script appended to the web UI stand-in's page (stash_ui.page_html).
        self.ui_harness = ""
        self._faults = _Faults()
        self._server: _Server | None = None
        self._server_thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self.port = 0
        self.scheme = "http"  # serve_tls() makes it https, as a Stash with a certificate
        self._write_config()

    # ------------------------------------------------------------------ lifecycle

    def _find_manifest(self, name: str | None) -> Path:
        if name is not None:
            return self.plugin_dir / (name if name.endswith(".yml") else f"{name}.yml")
        found = sorted(self.plugin_dir.glob("*.yml"))
        if len(found) != 1:
            raise ValueError(
                f"{self.plugin_dir}: expected exactly one plugin .yml, found {[p.name for p in found]};"
                " pass manifest="
            )
        return found[0]

    def start(self) -> FakeStash:
        self._open_socket(self._requested_port)
        self._stopping = False
        self._job_thread = threading.Thread(
            target=self._job_loop, name="fake-stash-jobs", daemon=True
        )
        self._job_thread.start()
        return self

    def stop(self) -> None:
        with self._job_cv:
            self._stopping = True
            for job in self._job_queue:
                job.status = "CANCELLED"
            self._job_queue.clear()
            proc = self._job_proc
            self._job_cv.notify_all()
        if proc is not None and proc.poll() is None:
            proc.kill()
        if self._job_thread is not None:
            self._job_thread.join(30)
        self._close_socket()
        if self._owns_stash_dir:
            shutil.rmtree(self.stash_dir, ignore_errors=True)

    def __enter__(self) -> FakeStash:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def serve_tls(self, cert: Path, key: Path) -> None:
        """Answer over TLS with this certificate from now on, as Stash does with ssl cert files in
        its config folder; plugins are then told the scheme is https."""
        import ssl

        assert self._server is not None, "start the stand-in first"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def _open_socket(self, port: int) -> None:
        server = _Server(("127.0.0.1", port), self)
        self.port = server.server_address[1]
        self._server = server
        self._server_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._server_thread.start()

    def _close_socket(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._conn_lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass
        if self._server_thread is not None:
            self._server_thread.join(10)

    def _track_connection(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ------------------------------------------------------------------ fault switches

    def go_down(self) -> None:
        """Close the listening socket and open connections: new requests get ECONNREFUSED."""
        self._faults.down = True
        self._close_socket()

    def come_back(self) -> None:
        """Listen again on the same port (the plugin's server_connection stays valid)."""
        if self._server is None:
            self._open_socket(self.port)
        self._faults.down = False

    def set_delay(self, seconds: float) -> None:
        """Every HTTP request waits this long before it is handled."""
        self._faults.delay = max(0.0, float(seconds))

    def fail_requests(self, status: int = 503, count: int | None = None) -> None:
        """Answer the next ``count`` HTTP requests (all, if None) with ``status`` and no GraphQL."""
        self._faults.fail_status = status
        self._faults.fail_remaining = count

    def hold_after(self, contains: str, seconds: float) -> threading.Event:
        """Execute a document that contains ``contains``, then hold its answer for ``seconds``:
        the write has landed and the plugin does not know it yet (a moment to kill the task).
        The event returned is set when such an answer starts waiting."""
        started = threading.Event()
        self._faults.holds[contains] = (max(0.0, float(seconds)), started)
        return started

    def refuse(self, contains: str, count: int = 1) -> None:
        """Answer the next ``count`` documents that contain ``contains`` with a 503, unexecuted
        (the write never landed), while every other document is answered."""
        self._faults.refusals[contains] = count

    def _take_refusal(self, query: object) -> bool:
        with self._lock:
            for needle, left in list(self._faults.refusals.items()):
                if isinstance(query, str) and needle in query and left > 0:
                    self._faults.refusals[needle] = left - 1
                    return True
        return False

    def clear_faults(self) -> None:
        self._faults.refusals.clear()
        self._faults.holds.clear()
        self._faults.delay = 0.0
        self._faults.fail_status = None
        self._faults.fail_remaining = None
        if self._faults.down:
            self.come_back()

    def _take_failure(self) -> int | None:
        with self._lock:
            status = self._faults.fail_status
            if status is None:
                return None
            remaining = self._faults.fail_remaining
            if remaining is not None:
                if remaining <= 0:
                    self._faults.fail_status = None
                    return None
                self._faults.fail_remaining = remaining - 1
            return status

    def expire_sessions(self) -> None:
        """Every cookie handed out so far now gets 401, as after Stash's max_session_age."""
        with self._lock:
            self.session_value = secrets.token_urlsafe(48)
            self._sessions = {self.session_value: ()}

    # ------------------------------------------------------------------ HTTP

    def _serve_http(self, handler: _Handler, method: str) -> None:
        body = _read_body(handler)
        if self._faults.delay:
            time.sleep(self._faults.delay)
        failure = self._take_failure()
        if failure is not None:
            _send(handler, failure, b"fake stash: injected failure\n", "text/plain; charset=utf-8")
            return
        split = urlsplit(handler.path)
        path = split.path
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        token = _session_from_cookies(handler.headers.get_all("Cookie") or [])
        # session.Store.Authenticate: an API key (header first, then ?apikey=) decides on its own,
        # and a wrong one is refused even next to a valid cookie; without one, the cookie decides.
        header_key = handler.headers.get("ApiKey") or ""
        query_key = params.get("apikey") or ""
        presented_key = header_key or query_key
        auth: str | None
        if header_key:
            auth = "apikey-header"
        elif query_key:
            auth = "apikey-query"
        else:
            auth = "session" if token is not None else None
        key_refused = bool(presented_key) and presented_key != (self.api_key or None)
        authenticated = bool(presented_key) and not key_refused
        if not presented_key:
            authenticated = self._chain_for(token) is not None
        screenshot = _SCREENSHOT_PATH.fullmatch(path) if method == "GET" else None
        performer = _PERFORMER_IMAGE_PATH.fullmatch(path) if method == "GET" else None
        group = _GROUP_IMAGE_PATH.fullmatch(path) if method == "GET" else None
        image: tuple[str, re.Match[str]] | None = None
        if screenshot:
            image = ("scene", screenshot)
        elif performer:
            image = ("performer", performer)
        elif group:
            image = ("group", group)

        def refuse_image(status: int) -> None:
            if image is not None:
                kind, match = image
                self._record_image(kind, match.group(1), handler, params, auth, status, token)

        if method == "GET" and image is None and self._serve_ui(handler, path, params):
            return
        if path == "/login" and method == "GET":
            # allowUnauthenticated: the login page is what a redirected client ends up with.
            _send(handler, 200, _LOGIN_PAGE, "text/html; charset=utf-8")
            return
        if not (path == "/graphql" and method == "POST") and image is None:
            _send(handler, 404, b"404 page not found\n", "text/plain; charset=utf-8")
            return
        if key_refused or (not authenticated and not (performer or group)):
            refuse_image(401)
            _send_unauthorized(handler)
            return
        if not authenticated:
            # authenticateHandler: a path without a file extension is treated as a page, and an
            # unauthenticated page request is redirected to the login page (GraphQL gets 401).
            # The screenshot route above answers 401 instead: the stand-in's older behaviour.
            refuse_image(302)
            target = urlencode({"returnURL": f"{path}?{split.query}" if split.query else path})
            _send_redirect(handler, f"/login?{target}")
            return
        host = handler.headers.get("Host") or f"127.0.0.1:{self.port}"
        if self.reject_unspecified_host and urlsplit(f"//{host}").hostname in ("0.0.0.0", "::"):
            # Not Stash behaviour: a guard. Stash sends Host 0.0.0.0, which only works by accident
            # on some systems; the plugin must connect to 127.0.0.1 instead.
            with self._lock:
                self.unspecified_host_requests.append(f"{method} {handler.path} Host: {host}")
            _send(handler, 400, b"connect to 127.0.0.1, not 0.0.0.0\n", "text/plain; charset=utf-8")
            return
        if image is not None:
            kind, match = image
            if kind == "scene":
                data = self._cover_bytes(int(match.group(1)))
            elif kind == "group":
                data = self._group_image_bytes(match.group(1), params.get("default") == "true")
            else:
                data = self._performer_image_bytes(match.group(1), params.get("default") == "true")
            status = 404 if data is None else _image_status(handler, data)
            # Recorded before answering, so a test that has the response also has the record.
            self._record_image(kind, match.group(1), handler, params, auth, status, token)
            if data is None:
                _send(handler, 404, f"{kind} not found\n".encode(), "text/plain; charset=utf-8")
            else:
                _send_image(handler, data, status)
            return
        media_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            # gqlgen only has a JSON transport for POST; anything else is rejected.
            reply = {"errors": [{"message": "transport not supported"}], "data": None}
            _send(handler, 400, json.dumps(reply).encode(), "application/json")
            return
        try:
            payload = json.loads(body)
        except ValueError as exc:
            reply = {
                "errors": [{"message": f"json request body could not be decoded: {exc}"}],
                "data": None,
            }
            _send(handler, 400, json.dumps(reply).encode(), "application/json")
            return
        query_text = payload.get("query") if isinstance(payload, dict) else None
        if self._take_refusal(query_text):
            _send(handler, 503, b"fake stash: refused\n", "text/plain; charset=utf-8")
            return
        status, reply = self._handle_graphql(payload, token or "", f"http://{host}", via="http")
        for needle, (seconds, started) in list(self._faults.holds.items()):
            if isinstance(query_text, str) and needle in query_text:
                started.set()
                time.sleep(seconds)
        _send(handler, status, json.dumps(reply).encode(), "application/json")

    def _record_image(
        self,
        kind: str,
        object_id: str,
        handler: BaseHTTPRequestHandler,
        params: dict[str, str],
        auth: str | None,
        status: int,
        token: str | None,
    ) -> None:
        """Log an image GET with the credential it presented and the status it got (or gets)."""
        record = ImageRequest(
            kind=kind,
            object_id=object_id,
            target=handler.path,
            params=dict(params),
            auth=auth,
            status=status,
            user_agent=handler.headers.get("User-Agent"),
            session=token,
            received_at=time.time(),
        )
        with self._lock:
            self.image_request_log.append(record)

    def image_requests(self, kind: str | None = None) -> list[ImageRequest]:
        """Screenshot and performer-image GETs in arrival order (``kind``: "scene"/"performer")."""
        with self._lock:
            records = list(self.image_request_log)
        return [r for r in records if kind is None or r.kind == kind]

    def set_api_key(self, key: str | None) -> None:
        """Settings → Security → API Key: generate (a string) or clear (None) the key."""
        self.api_key = key or None

    def _serve_ui(self, handler: _Handler, path: str, params: dict[str, str]) -> bool:
        """The web UI stand-in (tests/standins/stash_ui.py) for a browser test: the page for any
        UI route, the plugin's JavaScript, the libraries. The page comes with the user's session
        cookie, as after a login, so the page's GraphQL calls are the user's."""
        if path == stash_ui.ASSET_PREFIX + "wait-jobs":
            # Not Stash: a browser test's hold. While this request is open, headless Chromium's
            # virtual time stands still, so the page's job polling waits for the real job.
            self._wait_finished_jobs(int(params.get("finished") or 1), timeout=120)
            _send(handler, 200, b"done\n", "text/plain; charset=utf-8")
            return True
        reply = stash_ui.serve(path, plugin_dir=self.plugin_dir, plugin_id=self.plugin_id,
                               harness=self.ui_harness)
        if reply is None:
            return False
        status, content_type, body = reply
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Cache-Control", "no-store")
        if content_type.startswith("text/html"):
            handler.send_header("Set-Cookie", f"session={self.session_value}; Path=/; HttpOnly")
        handler.end_headers()
        handler.wfile.write(body)
        return True

    def _wait_finished_jobs(self, count: int, timeout: float) -> None:
        with self._job_cv:
            self._job_cv.wait_for(
                lambda: sum(j.status in ("FINISHED", "FAILED", "CANCELLED") for j in self._jobs.values()) >= count,
                timeout=timeout,
            )

    def _chain_for(self, token: str | None) -> tuple[tuple[str, str], ...] | None:
        if token is None:
            return None
        with self._lock:
            return self._sessions.get(token)

    def _new_session(self, chain: tuple[tuple[str, str], ...]) -> str:
        """Each plugin run gets its own cookie carrying the visited hooks, like MakePluginCookie."""
        token = secrets.token_urlsafe(48)
        with self._lock:
            self._sessions[token] = chain
        return token

    # ------------------------------------------------------------------ GraphQL execution

    def _handle_graphql(
        self, payload: Any, token: str, base_url: str, *, via: str
    ) -> tuple[int, dict[str, Any]]:
        if not isinstance(payload, dict):
            return 400, {
                "errors": [{"message": "json request body could not be decoded"}],
                "data": None,
            }
        query = payload.get("query")
        variables = payload.get("variables") or {}
        operation_name = payload.get("operationName") or None
        record = ReceivedDocument(
            query, variables, operation_name, via, time.time(), session=token or None
        )
        with self._lock:
            self._document_seq += 1
            record.seq = self._document_seq
            (self.received_documents if via == "http" else self.user_documents).append(record)
        if not isinstance(query, str) or not query.strip():
            return 422, {"errors": [{"message": "no operation provided"}], "data": None}
        if not isinstance(variables, dict):
            return 422, {"errors": [{"message": "variables must be an object"}], "data": None}
        self._check_real_schema(query, variables, operation_name, via)
        try:
            document = parse(query)
        except GraphQLError as exc:
            return 422, {"errors": [exc.formatted], "data": None}
        errors = validate(self._schema, document)
        if errors:
            return 422, {"errors": [e.formatted for e in errors], "data": None}
        chain = self._chain_for(token) or ()
        result = execute_sync(
            self._schema,
            document,
            variable_values=variables,
            operation_name=operation_name,
            context_value=_RequestContext(chain=chain, base_url=base_url),
        )
        reply: dict[str, Any] = {"data": result.data}
        if result.errors:
            reply["errors"] = [e.formatted for e in result.errors]
        return 200, reply

    def _check_real_schema(
        self, query: str, variables: dict[str, Any], name: str | None, via: str
    ) -> None:
        schema = self._real_schema
        if schema is None:
            return
        messages: list[str]
        try:
            document = parse(query)
        except GraphQLError as exc:
            messages = [exc.message]
        else:
            messages = [e.message for e in validate(schema, document)]
            operation = get_operation_ast(document, name)
            if not messages and operation is not None:
                coerced = get_variable_values(
                    schema, operation.variable_definitions or (), variables
                )
                if isinstance(coerced, list):
                    messages = [e.message for e in coerced]
        if messages:
            with self._lock:
                self.schema_violations.append(
                    SchemaViolation(query, variables, name, messages, via)
                )

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a document as the logged-in user (the UI). Hooks fire; fault switches do not apply.

        The faults model what the *plugin* sees of the API, so the user's own edits still land.
        Use ``graphql_http`` for the wire path.
        """
        payload = {"query": query, "variables": variables or {}}
        _, reply = self._handle_graphql(payload, self.session_value, self.url, via="api")
        return reply

    def graphql_http(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        cookie: str | None = "",
        timeout: float = 60.0,
    ) -> tuple[int, Any]:
        """POST over real HTTP; ``cookie`` "" means the valid session, None sends no cookie."""
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json"}
        value = self.session_value if cookie == "" else cookie
        if value is not None:
            headers["Cookie"] = f"session={value}"
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.graphql_url, body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def _data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = self.graphql(query, variables)
        if reply.get("errors"):
            raise StashGraphQLError(reply["errors"])
        return reply["data"]

    # ------------------------------------------------------------------ resolvers wiring

    def _attach_resolvers(self) -> None:
        query = self._schema.query_type
        mutation = self._schema.mutation_type
        assert query is not None and mutation is not None
        query_resolvers: dict[str, Callable[..., Any]] = {
            "findScene": self._r_find_scene,
            "findScenes": self._r_find_scenes,
            "findPerformer": self._r_find_named("performer"),
            "findTag": self._r_find_named("tag"),
            "findStudio": self._r_find_named("studio"),
            "findPerformers": self._r_find_named_list("performer"),
            "findTags": self._r_find_named_list("tag"),
            "findStudios": self._r_find_named_list("studio"),
            "findGroup": self._r_find_named("group"),
            "findGroups": self._r_find_named_list("group"),
            "configuration": lambda _root, _info: {},
            "jobQueue": self._r_job_queue,
            "findJob": self._r_find_job,
        }
        for name, resolver in query_resolvers.items():
            query.fields[name].resolve = resolver
        mutation_resolvers: dict[str, Callable[..., Any]] = {
            "sceneCreate": self._r_scene_create,
            "sceneUpdate": self._r_scene_update,
            "bulkSceneUpdate": self._r_bulk_scene_update,
            "scenesUpdate": self._r_scenes_update,
            "sceneDestroy": self._r_scene_destroy,
            "sceneAddPlay": self._r_scene_add_play,
            "sceneSaveActivity": self._r_scene_save_activity,
            "performerUpdate": self._r_named_update("performer"),
            "tagUpdate": self._r_named_update("tag"),
            "studioUpdate": self._r_named_update("studio"),
            "groupUpdate": self._r_named_update("group"),
            "configurePlugin": self._r_configure_plugin,
            "runPluginTask": self._r_run_plugin_task,
            "runPluginOperation": self._r_run_plugin_operation,
            "stopJob": self._r_stop_job,
        }
        for name, resolver in mutation_resolvers.items():
            mutation.fields[name].resolve = resolver
        config = self._schema.get_type("ConfigResult")
        config.fields["plugins"].resolve = self._r_config_plugins  # type: ignore[union-attr]

    # ------------------------------------------------------------------ data store

    def _new_id(self, kind: str) -> int:
        value = self._next_id.get(kind, 0) + 1
        self._next_id[kind] = value
        return value

    def _table(self, kind: str) -> dict[int, _Named]:
        return {
            "performer": self._performers,
            "tag": self._tags,
            "studio": self._studios,
            "group": self._groups,
        }[kind]

    def _now(self) -> str:
        return format_stash_time(self._clock(), self.tz_offset_minutes)

    def _get_or_create(self, kind: str, name: str) -> int:
        with self._lock:
            table = self._table(kind)
            for item in table.values():
                if item.name == name:
                    return item.id
            new_id = self._new_id(kind)
            table[new_id] = _Named(new_id, name, {"updated_at": self._now()})
            return new_id

    def add_performer(self, name: str) -> str:
        return str(self._get_or_create("performer", name))

    def add_tag(self, name: str, *, parents: Iterable[str] = ()) -> str:
        """A tag (created when missing); ``parents`` names its parent tags (created when missing)."""
        tag_id = self._get_or_create("tag", name)
        if parents:
            parent_ids = [self._get_or_create("tag", parent) for parent in parents]
            with self._lock:
                item = self._tags[tag_id]
                item.extra["parent_ids"] = sorted({*(item.extra.get("parent_ids") or []), *parent_ids})
        return str(tag_id)

    def set_tag_parents(self, tag_id: str | int, parent_ids: Iterable[str | int], *,
                        hooks: bool = True) -> dict[str, Any]:
        """The tag page's "Parent tags" field saved: ``tagUpdate {id, parent_ids}`` (Tag.Update.Post
        fires for this tag only), or with ``hooks=False`` the same change with no hook."""
        return self._update_named("tag", tag_id, {"parent_ids": [str(i) for i in parent_ids]}, hooks)

    def set_tag_children(self, tag_id: str | int, child_ids: Iterable[str | int], *,
                         hooks: bool = True) -> dict[str, Any]:
        """The tag page's "Sub-tags" field saved: ``tagUpdate {id, child_ids}``. The hook fires for
        this tag only; the children's own rows (and updated_at) are not touched."""
        return self._update_named("tag", tag_id, {"child_ids": [str(i) for i in child_ids]}, hooks)

    def set_studio_parent(self, studio_id: str | int, parent_id: str | int | None, *,
                          hooks: bool = True) -> dict[str, Any]:
        """``studioUpdate {id, parent_id}`` (Studio.Update.Post), or the same with no hook."""
        return self._update_named("studio", studio_id, {"parent_id": None if parent_id is None else str(parent_id)},
                                  hooks)

    def set_group(self, group_id: str | int, *, hooks: bool = True, **fields: Any) -> dict[str, Any]:
        """``groupUpdate`` with ``synopsis`` and/or ``front_image`` (bytes, or None to remove it),
        as the group page saves them (Group.Update.Post, then Movie.Update.Post)."""
        data = dict(fields)
        if "front_image" in data:
            image = data["front_image"]
            data["front_image"] = cover_data_url(image) if image else ""
        return self._update_named("group", group_id, data, hooks)

    def group_front_image(self, group_id: str | int) -> bytes | None:
        """The group's own front image (None: none set, Stash serves its placeholder)."""
        with self._lock:
            image = self._groups[int(group_id)].extra.get("front_image")
            return bytes(image) if image else None

    def _update_named(self, kind: str, object_id: str | int, data: dict[str, Any], hooks: bool) -> dict[str, Any]:
        mutation = f"{kind}Update"
        type_name = f"{kind.capitalize()}UpdateInput"
        document = f"mutation($input: {type_name}!) {{ {mutation}(input: $input) {{ id name }} }}"
        payload = {"id": str(object_id), **data}
        if hooks:
            return self._data(document, {"input": payload})[mutation]
        item_id = self._apply_named_update(kind, payload)
        with self._lock:
            item = self._table(kind)[item_id]
            return {"id": str(item.id), "name": item.name}

    def add_studio(self, name: str, *, parent: str | None = None) -> str:
        studio_id = self._get_or_create("studio", name)
        if parent is not None:
            with self._lock:
                self._studios[studio_id].extra["parent_id"] = self._get_or_create("studio", parent)
        return str(studio_id)

    def add_group(self, name: str, *, synopsis: str | None = None, front_image: bytes | None = None) -> str:
        group_id = self._get_or_create("group", name)
        with self._lock:
            item = self._groups[group_id]
            if synopsis is not None:
                item.extra["synopsis"] = synopsis
            if front_image is not None:
                item.extra["front_image"] = bytes(front_image)
        return str(group_id)

    def _find_named(self, kind: str, name: str) -> str | None:
        with self._lock:
            for item in self._table(kind).values():
                if item.name == name:
                    return str(item.id)
        return None

    def find_performer(self, name: str) -> str | None:
        return self._find_named("performer", name)

    def find_tag(self, name: str) -> str | None:
        return self._find_named("tag", name)

    def find_studio(self, name: str) -> str | None:
        return self._find_named("studio", name)

    def find_group(self, name: str) -> str | None:
        return self._find_named("group", name)

    def _make_file(self, spec: str | dict[str, Any]) -> dict[str, Any]:
        info = {"path": spec} if isinstance(spec, str) else dict(spec)
        path = str(info["path"])
        crc = zlib.crc32(path.encode())
        return {
            "id": str(self._new_id("file")),
            "path": path,
            "basename": path.replace("\\", "/").rsplit("/", 1)[-1],
            "size": int(info.get("size", 10_000_000 + crc % 4_000_000_000)),
            "duration": float(info.get("duration", 60 + crc % 5400 + 0.5)),
            "checksum": info.get("checksum", hashlib.md5(path.encode()).hexdigest()),
            "oshash": info.get("oshash", hashlib.sha1(path.encode()).hexdigest()[:16]),
        }

    def add_scene(
        self,
        title: str | None = None,
        files: Sequence[str | dict[str, Any]] = (),
        *,
        details: str | None = None,
        date: str | None = None,
        rating100: int | None = None,
        studio: str | None = None,
        performers: Iterable[str] = (),
        tags: Iterable[str] = (),
        groups: Iterable[str | tuple[str, int | None]] = (),
        urls: Iterable[str] = (),
        code: str | None = None,
        director: str | None = None,
        organized: bool = False,
        play_count: int = 0,
        hook: bool = False,
    ) -> str:
        """Create a scene the way a scan plus manual edits would; names create related objects.

        No hook fires unless ``hook`` (then Scene.Create.Post with a null input, like a scan).
        """
        with self._lock:
            scene_id = self._new_id("scene")
            group_refs = []
            for entry in groups:
                name, index = (entry, None) if isinstance(entry, str) else entry
                group_refs.append((self._get_or_create("group", name), index))
            scene = self._blank_scene(scene_id)
            scene.update(
                {
                    "title": title or None,
                    "code": code or None,
                    "details": details or None,
                    "director": director or None,
                    "date": date or None,
                    "rating100": rating100,
                    "organized": bool(organized),
                    "urls": list(urls),
                    "files": [self._make_file(spec) for spec in files],
                    "studio_id": self._get_or_create("studio", studio) if studio else None,
                    "performer_ids": sorted(
                        {self._get_or_create("performer", n) for n in performers}
                    ),
                    "tag_ids": sorted({self._get_or_create("tag", n) for n in tags}),
                    "groups": group_refs,
                    "play_count": play_count,
                }
            )
            self._scenes[scene_id] = scene
        if hook:
            self._fire_hooks((), "Scene.Create.Post", scene_id, None, None)
        return str(scene_id)

    def _blank_scene(self, scene_id: int) -> dict[str, Any]:
        """A scene row with nothing set, stamped now; callers fill in what they know."""
        now = self._now()
        return {
            "id": scene_id,
            "title": None,
            "code": None,
            "details": None,
            "director": None,
            "date": None,
            "rating100": None,
            "organized": False,
            "urls": [],
            "created_at": now,
            "updated_at": now,
            "files": [],
            "studio_id": None,
            "performer_ids": [],
            "tag_ids": [],
            "groups": [],
            "gallery_ids": [],
            "stash_ids": [],
            "play_count": 0,
            "play_history": [],
            "o_counter": 0,
            "resume_time": None,
            "play_duration": None,
            # cover None = the scene's generated cover (default_cover); has_cover False = nothing
            # generated yet, so the screenshot route serves Stash's static DEFAULT_SCENE_IMAGE.
            "cover": None,
            "has_cover": True,
        }

    def scan_new_file(self, path: str | dict[str, Any], **fields: Any) -> str:
        """Stash's scan found a new video file: a new scene, then Scene.Create.Post, then a cover.

        The hook gets a null input and no inputFields, and runs before the cover exists (scan.go
        registers the hook before the post-commit cover generation), so a plugin that fetches the
        screenshot from its Create hook gets DEFAULT_SCENE_IMAGE. Call generate_cover to finish
        the scan. ``fields`` are add_scene's keywords (a scan sets none of them; a test may).
        ``add_scene(..., hook=True)`` differs: that scene has its cover before the hook runs.
        """
        fields.pop("hook", None)
        scene_id = self.add_scene(files=[path], **fields)
        with self._lock:
            self._scenes[int(scene_id)]["has_cover"] = False
        self._fire_hooks((), "Scene.Create.Post", int(scene_id), None, None)
        return scene_id

    def generate_cover(self, scene_id: str | int, data: bytes | None = None) -> str:
        """The scan's cover generation: the scene gets its cover, updated_at moves, no hook fires.

        ``data`` None gives the scene's own default_cover. Returns the new updated_at.
        """
        with self._lock:
            scene = self._scenes[int(scene_id)]
            scene["cover"] = None if data is None else bytes(data)
            scene["has_cover"] = True
            scene["updated_at"] = self._now()
            return scene["updated_at"]

    def has_cover(self, scene_id: str | int) -> bool:
        """False from scan_new_file (or sceneCreate without cover_image) until a cover is set."""
        with self._lock:
            return bool(self._scenes[int(scene_id)]["has_cover"])

    def move_file(self, scene_id: str | int, new_path: str) -> PluginRun | None:
        """A rescan found the scene's primary file moved or renamed.

        Same file (id and fingerprints kept), new path and basename; updated_at moves and
        Scene.Update.Post fires with a null input, exactly as scan_update. Returns that hook run.
        """
        with self._lock:
            files = self._scenes[int(scene_id)]["files"]
            if not files:
                raise ValueError(f"scene {scene_id} has no file to move")
            files[0]["path"] = str(new_path)
            files[0]["basename"] = str(new_path).replace("\\", "/").rsplit("/", 1)[-1]
        return self.scan_update(scene_id)

    def scene(self, scene_id: str | int) -> dict[str, Any]:
        """The scene as findScene returns it (URLs based on 127.0.0.1), plus nothing else."""
        with self._lock:
            stored = self._scenes.get(int(scene_id))
            if stored is None:
                raise KeyError(f"no scene {scene_id}")
            return _plain(copy.deepcopy(self._scene_view(stored, self.url)))

    def scene_ids(self) -> list[str]:
        with self._lock:
            return [str(i) for i in sorted(self._scenes)]

    def scene_file_info(self, scene_id: str | int) -> list[dict[str, Any]]:
        """Files including checksum/oshash, which Stash keeps as fingerprints."""
        with self._lock:
            return copy.deepcopy(self._scenes[int(scene_id)]["files"])

    def set_cover(self, scene_id: str | int, data: bytes, *, bump: bool = True) -> None:
        """Change the cover image directly; it bumps updated_at like any cover edit, no hook."""
        with self._lock:
            scene = self._scenes[int(scene_id)]
            scene["cover"] = bytes(data)
            scene["has_cover"] = True
            if bump:
                scene["updated_at"] = self._now()

    def cover(self, scene_id: str | int) -> bytes:
        data = self._cover_bytes(int(scene_id))
        if data is None:
            raise KeyError(f"no scene {scene_id}")
        return data

    def _cover_bytes(self, scene_id: int) -> bytes | None:
        with self._lock:
            scene = self._scenes.get(scene_id)
            if scene is None:
                return None
            if not scene["has_cover"]:
                return DEFAULT_SCENE_IMAGE
            return scene["cover"] if scene["cover"] is not None else default_cover(scene_id)

    # ---- performer images

    def set_performer_image(self, performer_id: str | int, data: bytes | None) -> str:
        """Set (bytes) or remove (None) a performer's image: updated_at moves, no hook fires.

        Returns the performer's new updated_at.
        """
        with self._lock:
            item = self._performers[int(performer_id)]
            item.extra["image"] = None if data is None else bytes(data)
            item.extra["updated_at"] = self._now()
            return item.extra["updated_at"]

    def performer_image(self, performer_id: str | int) -> bytes:
        """What GET /performer/{id}/image serves (the placeholder when there is no image)."""
        data = self._performer_image_bytes(str(performer_id), False)
        if data is None:
            raise KeyError(f"no performer {performer_id}")
        return data

    def _performer_image_bytes(self, raw_id: str, force_default: bool) -> bytes | None:
        """routes_performer.go Image: ``default=true`` serves the placeholder even with an image."""
        try:
            performer_id = int(raw_id)
        except ValueError:
            return None
        with self._lock:
            item = self._performers.get(performer_id)
            if item is None:
                return None
            image = item.extra.get("image")
            if force_default or not image:
                return default_performer_image(item.name)
            return bytes(image)

    def _group_image_bytes(self, raw_id: str, force_default: bool) -> bytes | None:
        """routes_group.go FrontImage: the group's front image, else (or with ``default=true``)
        Stash's static placeholder; None for an unknown group (404)."""
        try:
            group_id = int(raw_id)
        except ValueError:
            return None
        with self._lock:
            item = self._groups.get(group_id)
            if item is None:
                return None
            image = item.extra.get("front_image")
            return DEFAULT_GROUP_IMAGE if force_default or not image else bytes(image)

    # ---- views (what GraphQL returns)

    def _named_view(
        self, kind: str, item: _Named | None, depth: int = 0, base_url: str | None = None
    ) -> dict[str, Any] | None:
        """A performer/tag/studio/group as GraphQL returns it; URLs are built on ``base_url``."""
        if item is None:
            return None
        view: dict[str, Any] = {
            "id": str(item.id),
            "name": item.name,
            "updated_at": item.extra.get("updated_at"),
        }
        if kind == "performer":
            view["disambiguation"] = item.extra.get("disambiguation")
            # urlbuilders.PerformerURLBuilder: ?t=<updated_at unix>, &default=true without an image.
            stamp = stash_time_to_unix(item.extra["updated_at"])
            url = f"{base_url or self.url}/performer/{item.id}/image?t={stamp}"
            view["image_path"] = url if item.extra.get("image") else url + "&default=true"
        if kind == "studio":
            parent = self._studios.get(item.extra.get("parent_id") or 0)
            view["parent_studio"] = (
                self._named_view("studio", parent, depth + 1) if depth < 8 else None
            )
            # Resolved when asked for (graphql-core calls a callable value): no recursion here.
            view["child_studios"] = self._relatives("studio", item.id, "children")
        if kind == "tag":
            view["parents"] = self._relatives("tag", item.id, "parents")
            view["children"] = self._relatives("tag", item.id, "children")
        if kind == "group":
            view["synopsis"] = item.extra.get("synopsis")
            # urlbuilders.GroupURLBuilder: ?t=<updated_at unix>, &default=true without a front image.
            stamp = stash_time_to_unix(item.extra["updated_at"])
            url = f"{base_url or self.url}/group/{item.id}/frontimage?t={stamp}"
            view["front_image_path"] = url if item.extra.get("front_image") else url + "&default=true"
        return view

    def _relatives(self, kind: str, object_id: int, which: str) -> Callable[..., list[dict[str, Any]]]:
        """Tag.parents/children, Studio.child_studios: a resolver over the store as it is then."""

        def resolve(info: Any, **_args: Any) -> list[dict[str, Any]]:
            with self._lock:
                ids = self._parent_ids(kind, object_id) if which == "parents" \
                    else self._child_ids(kind, object_id)
                table = self._table(kind)
                base_url = info.context.base_url if info is not None else None
                return [view for i in sorted(ids)
                        if (view := self._named_view(kind, table.get(i), base_url=base_url)) is not None]

        return resolve

    def _parent_ids(self, kind: str, object_id: int) -> list[int]:
        item = self._table(kind).get(object_id)
        if item is None:
            return []
        if kind == "studio":
            parent = item.extra.get("parent_id")
            return [parent] if parent else []
        return list(item.extra.get("parent_ids") or [])

    def _child_ids(self, kind: str, object_id: int) -> list[int]:
        return [other.id for other in self._table(kind).values()
                if object_id in self._parent_ids(kind, other.id)]

    def _descendants(self, kind: str, roots: Iterable[int], depth: int | None) -> set[int]:
        """The roots and their children down to ``depth`` levels (-1: every level), as Stash's
        HierarchicalMultiCriterionInput reads them (depth null or 0: the roots alone)."""
        found = set(roots)
        frontier = set(found)
        level = 0
        children: dict[int, list[int]] = {}
        for other in self._table(kind).values():
            for parent in self._parent_ids(kind, other.id):
                children.setdefault(parent, []).append(other.id)
        while frontier and depth is not None and (depth < 0 or level < depth):
            frontier = {c for p in frontier for c in children.get(p, ())} - found
            found |= frontier
            level += 1
        return found

    def _scene_view(self, scene: dict[str, Any], base_url: str) -> dict[str, Any]:
        stamp = stash_time_to_unix(scene["updated_at"])
        return {
            "id": str(scene["id"]),
            # models.Scene keeps these as Go strings, so unset comes back "" rather than null.
            "title": scene["title"] or "",
            "code": scene["code"] or "",
            "details": scene["details"] or "",
            "director": scene["director"] or "",
            "urls": list(scene["urls"]),
            "date": scene["date"],
            "rating100": scene["rating100"],
            "organized": scene["organized"],
            "o_counter": scene["o_counter"],
            "created_at": scene["created_at"],
            "updated_at": scene["updated_at"],
            "play_count": scene["play_count"],
            "play_history": list(scene["play_history"]),
            "last_played_at": plays.last_played_at(scene),
            "resume_time": scene["resume_time"],
            "play_duration": scene["play_duration"],
            "files": [
                {k: f[k] for k in ("id", "path", "basename", "size", "duration")}
                for f in scene["files"]
            ],
            "paths": {"screenshot": f"{base_url}/scene/{scene['id']}/screenshot?t={stamp}"},
            "studio": self._named_view("studio", self._studios.get(scene["studio_id"] or 0)),
            "groups": [
                {"group": self._named_view("group", self._groups[gid]), "scene_index": index}
                for gid, index in scene["groups"]
            ],
            "tags": [self._named_view("tag", self._tags[t]) for t in scene["tag_ids"]],
            "performers": [
                self._named_view("performer", self._performers[p], base_url=base_url)
                for p in scene["performer_ids"]
            ],
        }

    # ---- edits

    def _refs(self, kind: str, ids: Iterable[Any] | None) -> list[int]:
        table = self._table(kind)
        result = []
        for raw in ids or ():
            value = _atoi(raw)
            if value not in table:
                raise GraphQLError(f"{kind} with id {value} not found")
            result.append(value)
        return result

    def _apply_scene_input(self, scene: dict[str, Any], data: dict[str, Any]) -> None:
        """Apply a SceneUpdateInput (partial update: only keys present change)."""
        for key in ("title", "code", "details", "director", "date"):
            if key in data:
                scene[key] = data[key] or None
        for key in ("rating100", "resume_time", "play_duration"):
            if key in data:
                scene[key] = data[key]
        if data.get("organized") is not None:
            scene["organized"] = bool(data["organized"])
        if "urls" in data:
            scene["urls"] = list(data["urls"] or [])
        elif "url" in data:
            scene["urls"] = [data["url"]] if data["url"] else []
        if "studio_id" in data:
            scene["studio_id"] = (
                self._refs("studio", [data["studio_id"]])[0] if data["studio_id"] else None
            )
        if "performer_ids" in data:
            scene["performer_ids"] = sorted(set(self._refs("performer", data["performer_ids"])))
        if "tag_ids" in data:
            scene["tag_ids"] = sorted(set(self._refs("tag", data["tag_ids"])))
        if "groups" in data or "movies" in data:
            entries = data.get("groups") if "groups" in data else data.get("movies")
            key = "group_id" if "groups" in data else "movie_id"
            scene["groups"] = [
                (self._refs("group", [e[key]])[0], e.get("scene_index")) for e in entries or []
            ]
        if "gallery_ids" in data:
            scene["gallery_ids"] = list(data["gallery_ids"] or [])
        if "stash_ids" in data:
            scene["stash_ids"] = copy.deepcopy(data["stash_ids"] or [])
        if data.get("play_count") is not None:
            scene["play_count"] = data["play_count"]
        if data.get("o_counter") is not None:
            scene["o_counter"] = data["o_counter"]
        if data.get("cover_image"):
            scene["cover"] = self._decode_cover(data["cover_image"])
            scene["has_cover"] = True
        if data.get("primary_file_id") is not None:
            wanted = str(data["primary_file_id"])
            files = scene["files"]
            if not any(f["id"] == wanted for f in files):
                raise GraphQLError(f"file with id {wanted} not found in scene")
            scene["files"] = sorted(files, key=lambda f: f["id"] != wanted)

    @staticmethod
    def _decode_cover(value: str) -> bytes:
        if value.startswith("data:"):
            _, _, encoded = value.partition(",")
            try:
                return base64.b64decode(encoded, validate=False)
            except (binascii.Error, ValueError) as exc:
                raise GraphQLError(f"invalid cover image: {exc}") from None
        raise GraphQLError("the stand-in only accepts data: URLs for cover_image")

    def _apply_bulk_input(self, scene: dict[str, Any], data: dict[str, Any]) -> None:
        for key in ("title", "code", "details", "director", "date"):
            if key in data:
                scene[key] = data[key] or None
        if "rating100" in data:
            scene["rating100"] = data["rating100"]
        if data.get("organized") is not None:
            scene["organized"] = bool(data["organized"])
        if "studio_id" in data:
            scene["studio_id"] = (
                self._refs("studio", [data["studio_id"]])[0] if data["studio_id"] else None
            )
        if data.get("urls") is not None:
            scene["urls"] = self._bulk_merge(
                scene["urls"], data["urls"].get("values"), data["urls"]["mode"]
            )
        for key, kind in (("performer_ids", "performer"), ("tag_ids", "tag")):
            if data.get(key) is not None:
                ids = self._refs(kind, data[key].get("ids"))
                scene[key] = sorted(set(self._bulk_merge(scene[key], ids, data[key]["mode"])))
        if data.get("gallery_ids") is not None:
            scene["gallery_ids"] = self._bulk_merge(
                scene["gallery_ids"], data["gallery_ids"].get("ids"), data["gallery_ids"]["mode"]
            )
        for key in ("group_ids", "movie_ids"):
            if data.get(key) is not None:
                ids = self._refs("group", data[key].get("ids"))
                current = [gid for gid, _ in scene["groups"]]
                kept = self._bulk_merge(current, ids, data[key]["mode"])
                index = dict(scene["groups"])
                scene["groups"] = [(gid, index.get(gid)) for gid in kept]

    @staticmethod
    def _bulk_merge(current: list[Any], values: list[Any] | None, mode: str) -> list[Any]:
        values = list(values or [])
        if mode == "SET":
            return list(dict.fromkeys(values))
        if mode == "ADD":
            return list(dict.fromkeys([*current, *values]))
        return [v for v in current if v not in values]

    def _scene_or_error(self, raw_id: Any) -> dict[str, Any]:
        scene = self._scenes.get(_atoi(raw_id))
        if scene is None:
            raise GraphQLError(f"scene with id {raw_id} not found")
        return scene

    def _hook_input(self, value: Any, type_name: str) -> Any:
        """The input as Stash hands it to hooks: as sent, or every Go struct field (nulls too)."""
        if not self.hook_input_nulls or value is None:
            return copy.deepcopy(value)
        return self._fill_nulls(value, self._schema.get_type(type_name))

    def _fill_nulls(self, value: Any, gql_type: Any) -> Any:
        while isinstance(gql_type, GraphQLNonNull):
            gql_type = gql_type.of_type
        if isinstance(gql_type, GraphQLList):
            return None if value is None else [self._fill_nulls(v, gql_type.of_type) for v in value]
        if isinstance(gql_type, GraphQLInputObjectType) and isinstance(value, dict):
            return {
                name: self._fill_nulls(value.get(name), fld.type)
                for name, fld in gql_type.fields.items()
            }
        return copy.deepcopy(value)

    # ---- python-side edits that go through real GraphQL mutations (so hooks fire)

    def update_scene(self, scene_id: str | int, **input_fields: Any) -> dict[str, Any]:
        data = self._data(
            "mutation($input: SceneUpdateInput!) { sceneUpdate(input: $input) { id updated_at } }",
            {"input": {"id": str(scene_id), **input_fields}},
        )
        return data["sceneUpdate"]

    def bulk_update(self, ids: Iterable[str | int], **input_fields: Any) -> list[dict[str, Any]]:
        data = self._data(
            "mutation($input: BulkSceneUpdateInput!) { bulkSceneUpdate(input: $input) { id updated_at } }",
            {"input": {"ids": [str(i) for i in ids], **input_fields}},
        )
        return data["bulkSceneUpdate"]

    def scenes_update(self, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        data = self._data(
            "mutation($input: [SceneUpdateInput!]!) { scenesUpdate(input: $input) { id updated_at } }",
            {"input": inputs},
        )
        return data["scenesUpdate"]

    def destroy_scene(self, scene_id: str | int, **flags: Any) -> bool:
        data = self._data(
            "mutation($input: SceneDestroyInput!) { sceneDestroy(input: $input) }",
            {"input": {"id": str(scene_id), **flags}},
        )
        return data["sceneDestroy"]

    def _rename(self, kind: str, object_id: str | int, name: str, hooks: bool) -> dict[str, Any]:
        """The UI's rename (``<kind>Update`` with ``{id, name}``, so hooks fire) or, with
        ``hooks=False``, the same row change with no hook: a disabled plugin, a failed hook."""
        return self._update_named(kind, object_id, {"name": name}, hooks)

    def rename_performer(
        self, performer_id: str | int, name: str, *, hooks: bool = True
    ) -> dict[str, Any]:
        return self._rename("performer", performer_id, name, hooks)

    def update_performer(self, performer_id: str | int, **input_fields: Any) -> dict[str, Any]:
        """performerUpdate as the UI sends it, so Performer.Update.Post fires with this input and
        its keys as inputFields: ``image=cover_data_url(data)`` is a new image (``["id", "image"]``),
        ``favorite=True`` the heart. Either moves the performer's updated_at, and with it the
        ``t=`` of its image_path."""
        data = self._data(
            "mutation($input: PerformerUpdateInput!) { performerUpdate(input: $input) { id name } }",
            {"input": {"id": str(performer_id), **input_fields}},
        )
        return data["performerUpdate"]

    def rename_tag(self, tag_id: str | int, name: str, *, hooks: bool = True) -> dict[str, Any]:
        return self._rename("tag", tag_id, name, hooks)

    def rename_studio(
        self, studio_id: str | int, name: str, *, hooks: bool = True
    ) -> dict[str, Any]:
        return self._rename("studio", studio_id, name, hooks)

    def rename_group(self, group_id: str | int, name: str, *, hooks: bool = True) -> dict[str, Any]:
        """groupUpdate: Group.Update.Post, then Movie.Update.Post (both with ``{id, name}``)."""
        return self._rename("group", group_id, name, hooks)

    def add_play(self, scene_id: str | int, *times: str) -> int:
        """sceneAddPlay as Stash's player sends it (now, or at ``times``): play_count goes up,
        updated_at does not move, no hook fires."""
        data = self._data(
            "mutation($id: ID!, $times: [Timestamp!]) { sceneAddPlay(id: $id, times: $times) { count } }",
            {"id": str(scene_id), "times": list(times) or None},
        )
        return data["sceneAddPlay"]["count"]

    def save_activity(self, scene_id: str | int, resume_time: float) -> None:
        """sceneSaveActivity as Stash's player sends it while playing: the resume point (seconds)."""
        self._data(
            "mutation($id: ID!, $t: Float) { sceneSaveActivity(id: $id, resume_time: $t) }",
            {"id": str(scene_id), "t": resume_time},
        )

    def play_history(self, scene_id: str | int) -> list[str]:
        """The scene's plays as Stash returns them (UTC, oldest first as added)."""
        with self._lock:
            return list(self._scenes[int(scene_id)]["play_history"])

    # ---- python-side edits with no hook

    def silent_update(self, scene_id: str | int, **fields: Any) -> str:
        """Change a scene the way Auto Tag does: updated_at moves, no hook fires.

        Accepts SceneUpdateInput keys, plus ``performers``/``tags`` (names, added) and ``studio``
        (a name) for the usual Auto Tag effects. Returns the new updated_at.
        """
        with self._lock:
            scene = self._scenes[int(scene_id)]
            updated = copy.deepcopy(scene)
            for name in fields.pop("performers", ()):
                updated["performer_ids"] = sorted(
                    {*updated["performer_ids"], self._get_or_create("performer", name)}
                )
            for name in fields.pop("tags", ()):
                updated["tag_ids"] = sorted({*updated["tag_ids"], self._get_or_create("tag", name)})
            if "studio" in fields:
                studio = fields.pop("studio")
                updated["studio_id"] = self._get_or_create("studio", studio) if studio else None
            self._apply_scene_input(updated, fields)
            updated["updated_at"] = self._now()
            self._scenes[int(scene_id)] = updated
            return updated["updated_at"]

    def scan_update(self, scene_id: str | int, *, bump: bool = True) -> PluginRun | None:
        """A rescan touching the scene: Scene.Update.Post with a null input and no inputFields."""
        with self._lock:
            if bump:
                self._scenes[int(scene_id)]["updated_at"] = self._now()
        runs = self._fire_hooks((), "Scene.Update.Post", int(scene_id), None, None)
        return runs[-1] if runs else None

    # ------------------------------------------------------------------ query resolvers

    def _r_find_scene(self, _root: Any, info: Any, **args: Any) -> dict[str, Any] | None:
        with self._lock:
            if args.get("id") is not None:
                scene = self._scenes.get(_atoi(args["id"]))
            elif args.get("checksum") is not None:
                scene = next(
                    (
                        s
                        for s in self._scenes.values()
                        if any(f["checksum"] == args["checksum"] for f in s["files"])
                    ),
                    None,
                )
            else:
                scene = None
            return None if scene is None else self._scene_view(scene, info.context.base_url)

    def _r_find_scenes(self, _root: Any, info: Any, **args: Any) -> dict[str, Any]:
        find = args.get("filter") or {}
        with self._lock:
            scenes = list(self._scenes.values())
            if args.get("ids") is not None:
                wanted = {_atoi(i) for i in args["ids"]}
                scenes = [s for s in scenes if s["id"] in wanted]
            if find.get("q"):
                needle = find["q"].lower()
                scenes = [s for s in scenes if needle in self._search_text(s)]
            criteria = self._with_depth(args.get("scene_filter") or {})
            scenes = [s for s in scenes if self._matches(s, criteria)]
            scenes = self._sorted(scenes, find.get("sort"), find.get("direction") or "ASC")
            count = len(scenes)
            duration = sum(s["files"][0]["duration"] for s in scenes if s["files"])
            filesize = float(sum(s["files"][0]["size"] for s in scenes if s["files"]))
            per_page = find.get("per_page")
            if per_page is None:
                per_page = 25
            if per_page >= 0:
                page = max(1, find.get("page") or 1)
                scenes = scenes[(page - 1) * per_page : page * per_page]
            views = [self._scene_view(s, info.context.base_url) for s in scenes]
        return {"count": count, "duration": duration, "filesize": filesize, "scenes": views}

    def _with_depth(self, criteria: dict[str, Any]) -> dict[str, Any]:
        """Tag and studio criteria with ``depth`` widened to the sub-tags/sub-studios they cover
        (sceneTagsCriterionHandler, studioCriterionHandler), once per query."""
        widened = dict(criteria)
        for key, kind in (("tags", "tag"), ("studios", "studio")):
            criterion = criteria.get(key)
            if criterion is None or not criterion.get("depth"):
                continue
            roots = [_atoi(v) for v in criterion.get("value") or []]
            values = self._descendants(kind, roots, criterion["depth"])
            widened[key] = {**criterion, "value": [str(v) for v in sorted(values)]}
        return widened

    @staticmethod
    def _search_text(scene: dict[str, Any]) -> str:
        parts = [scene["title"] or "", scene["details"] or "", scene["code"] or ""]
        parts += [f["path"] for f in scene["files"]]
        return "\n".join(parts).lower()

    def _sorted(
        self, scenes: list[dict[str, Any]], sort: str | None, direction: str
    ) -> list[dict[str, Any]]:
        sort = sort or "title"
        if sort not in _SORT_KEYS:
            raise GraphQLError(
                f"invalid sort: {sort} (the stand-in supports {', '.join(_SORT_KEYS)})"
            )

        def tiebreak(scene: dict[str, Any]) -> tuple[Any, ...]:
            # Stash appends COALESCE(scenes.title, scenes.id) COLLATE NATURAL_CI ASC to every sort.
            return (_natural_key(scene["title"] or str(scene["id"])), scene["id"])

        ordered = sorted(scenes, key=tiebreak)
        primary = _SORT_KEYS[sort]
        # Python's sort is stable: sorting by the primary key after the tiebreak keeps ties ASC.
        return sorted(ordered, key=primary, reverse=(direction == "DESC"))

    def _matches(self, scene: dict[str, Any], criteria: dict[str, Any]) -> bool:
        if "organized" in criteria and criteria["organized"] is not None:
            if scene["organized"] != criteria["organized"]:
                return False
        if criteria.get("id") is not None and not self._compare(scene["id"], criteria["id"]):
            return False
        for key in ("updated_at", "created_at"):
            if criteria.get(key) is not None and not self._compare(scene[key], criteria[key]):
                return False
        if criteria.get("last_played_at") is not None and not plays.matches_last_played(
            scene, criteria["last_played_at"], self._compare
        ):
            return False
        relations = {
            "performers": set(scene["performer_ids"]),
            "tags": set(scene["tag_ids"]),
            "studios": {scene["studio_id"]} if scene["studio_id"] else set(),
            # Groups have no sub-groups here, so ``depth`` changes nothing; tags and studios
            # arrive already widened by _with_depth.
            "groups": {gid for gid, _ in scene["groups"]},
        }
        for key, have in relations.items():
            criterion = criteria.get(key)
            if criterion is not None and not self._multi(have, criterion):
                return False
        files_filter = criteria.get("files_filter")
        if files_filter is not None and not any(
            self._file_matches(f, files_filter) for f in scene["files"]
        ):
            return False
        return True

    @staticmethod
    def _file_matches(file: dict[str, Any], criteria: dict[str, Any]) -> bool:
        """FileFilterType for one file; a scene matches when any of its files does (a join)."""
        basename = criteria.get("basename")
        return basename is None or _string_criterion(file["basename"], basename)

    @staticmethod
    def _compare(value: Any, criterion: dict[str, Any]) -> bool:
        """Timestamps are compared as the stored strings (scenes.updated_at > ?), ints as ints."""
        modifier = criterion["modifier"]
        target = criterion.get("value")
        upper = criterion.get("value2")
        if isinstance(value, int):
            target = None if target is None else int(target)
            upper = None if upper is None else int(upper)
        if modifier == "EQUALS":
            return value == target
        if modifier == "NOT_EQUALS":
            return value != target
        if modifier == "GREATER_THAN":
            return value > target
        if modifier == "LESS_THAN":
            return value < target
        if modifier in ("BETWEEN", "NOT_BETWEEN"):
            if upper is None:
                raise GraphQLError(f"{modifier} needs value2")
            inside = target <= value <= upper
            return inside if modifier == "BETWEEN" else not inside
        if modifier == "IS_NULL":
            return value is None
        if modifier == "NOT_NULL":
            return value is not None
        raise GraphQLError(f"modifier {modifier} is not supported for this criterion")

    @staticmethod
    def _multi(have: set[int], criterion: dict[str, Any]) -> bool:
        modifier = criterion["modifier"]
        values = {_atoi(v) for v in criterion.get("value") or []}
        excludes = {_atoi(v) for v in criterion.get("excludes") or []}
        if excludes & have:
            return False
        if modifier == "INCLUDES":
            return bool(values & have) if values else True
        if modifier == "INCLUDES_ALL":
            return values <= have
        if modifier == "EXCLUDES":
            return not (values & have)
        if modifier == "IS_NULL":
            return not have
        if modifier == "NOT_NULL":
            return bool(have)
        raise GraphQLError(f"modifier {modifier} is not supported for this criterion")

    def _r_find_named(self, kind: str) -> Callable[..., Any]:
        def resolve(_root: Any, info: Any, **args: Any) -> dict[str, Any] | None:
            with self._lock:
                item = self._table(kind).get(_atoi(args["id"]))
                return self._named_view(kind, item, base_url=info.context.base_url)

        return resolve

    def _r_find_named_list(self, kind: str) -> Callable[..., Any]:
        """findPerformers/Tags/Studios/Groups: ids, an updated_at criterion, sort and paging."""
        filter_arg, items = {
            "performer": ("performer_filter", "performers"),
            "tag": ("tag_filter", "tags"),
            "studio": ("studio_filter", "studios"),
            "group": ("group_filter", "groups"),
        }[kind]
        sort_keys: dict[str, Callable[[_Named], Any]] = {
            "id": lambda n: n.id,
            "name": lambda n: _natural_key(n.name),
            "updated_at": lambda n: n.extra.get("updated_at") or "",
        }

        def resolve(_root: Any, info: Any, **args: Any) -> dict[str, Any]:
            find = args.get("filter") or {}
            criteria = args.get(filter_arg) or {}
            with self._lock:
                found = list(self._table(kind).values())
                if args.get("ids") is not None:
                    wanted = {_atoi(i) for i in args["ids"]}
                    found = [n for n in found if n.id in wanted]
                if criteria.get("updated_at") is not None:
                    found = [
                        n for n in found
                        if self._compare(n.extra.get("updated_at") or "", criteria["updated_at"])
                    ]
                sort = find.get("sort") or "name"
                if sort not in sort_keys:
                    raise GraphQLError(f"invalid sort: {sort} (the stand-in supports {', '.join(sort_keys)})")
                found = sorted(sorted(found, key=lambda n: _natural_key(n.name)), key=sort_keys[sort],
                               reverse=(find.get("direction") or "ASC") == "DESC")
                count = len(found)
                per_page = 25 if find.get("per_page") is None else find["per_page"]
                if per_page >= 0:
                    page = max(1, find.get("page") or 1)
                    found = found[(page - 1) * per_page : page * per_page]
                base_url = info.context.base_url
                views = [self._named_view(kind, n, base_url=base_url) for n in found]
                return {"count": count, items: views}

        return resolve

    def _r_config_plugins(self, _root: Any, _info: Any, **args: Any) -> dict[str, Any]:
        include = args.get("include")
        with self._lock:
            if include is None:
                return copy.deepcopy(self._settings)
            # With include, plugins whose map is empty are left out.
            return {
                pid: copy.deepcopy(self._settings[pid])
                for pid in include
                if self._settings.get(pid)
            }

    def _r_job_queue(self, _root: Any, _info: Any) -> list[dict[str, Any]]:
        with self._job_cv:
            return [
                j.view()
                for j in self._jobs.values()
                if j.status in ("READY", "RUNNING", "STOPPING")
            ]

    def _r_find_job(self, _root: Any, _info: Any, **args: Any) -> dict[str, Any] | None:
        with self._job_cv:
            job = self._jobs.get(str(args["input"]["id"]))
            return None if job is None else job.view()

    # ------------------------------------------------------------------ mutation resolvers

    def _r_scene_create(self, _root: Any, info: Any, **args: Any) -> dict[str, Any] | None:
        """sceneCreate (pkg/scene/create.go): the scene, its files, then Scene.Create.Post with a
        null input whatever was sent. No cover is generated: without cover_image the scene serves
        DEFAULT_SCENE_IMAGE. ``file_ids`` move existing files here, the first becoming primary; a
        file that is another scene's primary is refused, and the whole create with it."""
        data = dict(args["input"])
        requested = data.pop("file_ids", None) or []
        file_ids = list(dict.fromkeys(str(_atoi(raw)) for raw in requested))
        with self._lock:
            owners: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for file_id in file_ids:
                found = next(
                    (
                        (scene, f)
                        for scene in self._scenes.values()
                        for f in scene["files"]
                        if f["id"] == file_id
                    ),
                    None,
                )
                if found is None:
                    raise GraphQLError(f"assigning file {file_id} to new scene: file not found")
                if found[0]["files"][0] is found[1]:
                    raise GraphQLError(
                        f"assigning file {file_id} to new scene: cannot reassign primary file"
                    )
                owners.append(found)
            scene = self._blank_scene(self._new_id("scene"))
            scene["has_cover"] = False
            self._apply_scene_input(scene, data)  # validates references before anything moves
            for owner, moved in owners:
                owner["files"].remove(moved)
                scene["files"].append(moved)
            self._scenes[scene["id"]] = scene
        self._fire_hooks(info.context.chain, "Scene.Create.Post", scene["id"], None, None)
        return self._view_after_hooks(scene["id"], info)

    def _r_scene_update(self, _root: Any, info: Any, **args: Any) -> dict[str, Any] | None:
        data = args["input"]
        with self._lock:
            scene = self._scene_or_error(data["id"])
            updated = copy.deepcopy(scene)
            self._apply_scene_input(updated, data)
            updated["updated_at"] = self._now()
            self._scenes[scene["id"]] = updated
        self._fire_hooks(
            info.context.chain,
            "Scene.Update.Post",
            updated["id"],
            self._hook_input(data, "SceneUpdateInput"),
            list(data),
        )
        return self._view_after_hooks(updated["id"], info)

    def _r_scenes_update(self, _root: Any, info: Any, **args: Any) -> list[dict[str, Any] | None]:
        inputs = args["input"]
        with self._lock:
            staged: dict[int, dict[str, Any]] = {}
            order: list[int] = []
            now = self._now()
            for data in inputs:
                scene_id = self._scene_or_error(data["id"])["id"]
                updated = staged.get(scene_id) or copy.deepcopy(self._scenes[scene_id])
                self._apply_scene_input(updated, data)
                updated["updated_at"] = now
                staged[scene_id] = updated
                order.append(scene_id)
            self._scenes.update(staged)
        whole = [self._hook_input(data, "SceneUpdateInput") for data in inputs]
        for scene_id, data in zip(order, inputs, strict=True):
            # One hook per scene; input is the whole array, inputFields are this entry's keys.
            self._fire_hooks(info.context.chain, "Scene.Update.Post", scene_id, whole, list(data))
        return [self._view_after_hooks(scene_id, info) for scene_id in order]

    def _r_bulk_scene_update(self, _root: Any, info: Any, **args: Any) -> list[dict[str, Any]]:
        data = args["input"]
        with self._lock:
            ids = [self._scene_or_error(raw)["id"] for raw in data.get("ids") or []]
            ids = list(dict.fromkeys(ids))
            now = self._now()
            staged = {}
            for scene_id in ids:
                updated = copy.deepcopy(self._scenes[scene_id])
                self._apply_bulk_input(updated, data)
                updated["updated_at"] = now
                staged[scene_id] = updated
            self._scenes.update(staged)
        hook_input = self._hook_input(data, "BulkSceneUpdateInput")
        for scene_id in ids:
            # One process per scene, serially, after the transaction; same input for all.
            self._fire_hooks(
                info.context.chain, "Scene.Update.Post", scene_id, hook_input, list(data)
            )
        return [v for v in (self._view_after_hooks(i, info) for i in ids) if v is not None]

    def _r_scene_destroy(self, _root: Any, info: Any, **args: Any) -> bool:
        data = args["input"]
        with self._lock:
            scene = self._scene_or_error(data["id"])
            del self._scenes[scene["id"]]
        primary = scene["files"][0] if scene["files"] else None
        destroy_input = GoStruct(
            id=str(data["id"]),
            delete_file=data.get("delete_file"),
            delete_generated=data.get("delete_generated"),
            checksum=primary["checksum"] if primary else "",
            oshash=primary["oshash"] if primary else "",
            path=primary["path"] if primary else "",
        )
        self._fire_hooks(info.context.chain, "Scene.Destroy.Post", scene["id"], destroy_input, None)
        return True

    def _r_scene_add_play(self, _root: Any, _info: Any, **args: Any) -> dict[str, Any]:
        with self._lock:
            scene = self._scene_or_error(args["id"])
            now = self._clock()
            times = [plays.parse_timestamp(t, now) for t in args.get("times") or [self._now()]]
            scene["play_history"].extend(times)
            scene["play_count"] += len(times)
            return {"count": scene["play_count"], "history": list(scene["play_history"])}

    def _r_scene_save_activity(self, _root: Any, _info: Any, **args: Any) -> bool:
        with self._lock:
            scene = self._scene_or_error(args["id"])
            plays.save_activity(scene, args.get("resume_time"), args.get("playDuration"))
            return True

    def _r_named_update(self, kind: str) -> Callable[..., Any]:
        type_name = {
            "performer": "PerformerUpdateInput",
            "tag": "TagUpdateInput",
            "studio": "StudioUpdateInput",
            "group": "GroupUpdateInput",
        }[kind]
        triggers = [f"{kind.capitalize()}.Update.Post"]
        if kind == "group":
            # resolver_mutation_group.go GroupUpdate: "for backwards compatibility - run both movie
            # and group hooks", Group first, same input and fields.
            triggers.append("Movie.Update.Post")

        def resolve(_root: Any, info: Any, **args: Any) -> dict[str, Any] | None:
            data = args["input"]
            item_id = self._apply_named_update(kind, data)
            for trigger in triggers:
                self._fire_hooks(
                    info.context.chain,
                    trigger,
                    item_id,
                    self._hook_input(data, type_name),
                    list(data),
                )
            with self._lock:
                item = self._table(kind).get(item_id)
                return self._named_view(kind, item, base_url=info.context.base_url)

        return resolve

    def _apply_named_update(self, kind: str, data: dict[str, Any]) -> int:
        """``<kind>Update``'s change to the stored object (no hook); returns its id."""
        with self._lock:
            item = self._table(kind).get(_atoi(data["id"]))
            if item is None:
                raise GraphQLError(f"{kind} with id {data['id']} not found")
            parent = None
            if kind == "studio" and data.get("parent_id") is not None:
                parent = self._refs("studio", [data["parent_id"]])[0]
                if parent in self._descendants("studio", [item.id], -1):
                    raise GraphQLError("a studio cannot be its own parent or ancestor")
            if kind == "tag":
                self._check_tag_hierarchy(item.id, data)
            if data.get("name") is not None:
                item.name = data["name"]
            for key, value in data.items():
                if key not in ("id", "name", "parent_id", "parent_ids", "child_ids", "front_image", "image"):
                    item.extra[key] = copy.deepcopy(value)
            if kind == "studio" and "parent_id" in data:
                item.extra["parent_id"] = parent
            if kind == "tag":
                self._apply_tag_hierarchy(item.id, data)
            if kind == "performer" and "image" in data:
                # PerformerUpdate: an image in the input replaces the stored one, and an empty or
                # null one deletes it (UpdateImage with no data).
                item.extra["image"] = self._decode_cover(data["image"]) if data["image"] else None
            if kind == "group" and "front_image" in data:
                # utils.ProcessImageInput: a data URL sets the image, an empty value removes it.
                raw = data["front_image"]
                item.extra["front_image"] = self._decode_cover(raw) if raw else None
            item.extra["updated_at"] = self._now()  # the object's own row, never its scenes
            return item.id

    def _check_tag_hierarchy(self, tag_id: int, data: dict[str, Any]) -> None:
        """tag.ValidateHierarchy: no tag may end up among its own ancestors."""
        parents = self._refs("tag", data["parent_ids"]) if data.get("parent_ids") is not None else None
        children = self._refs("tag", data["child_ids"]) if data.get("child_ids") is not None else None
        below = self._descendants("tag", [tag_id], -1)
        if parents is not None and set(parents) & below:
            raise GraphQLError("a tag cannot be its own parent or ancestor")
        if children is not None and tag_id in self._descendants("tag", children, -1):
            raise GraphQLError("a tag cannot be its own child or descendant")

    def _apply_tag_hierarchy(self, tag_id: int, data: dict[str, Any]) -> None:
        """parent_ids replace the tag's parents; child_ids replace the set of tags it is a parent
        of. Only the edited tag's row is stamped: its old and new children keep their updated_at
        (TagStore.UpdateChildTags writes the relation table only)."""
        if data.get("parent_ids") is not None:
            self._tags[tag_id].extra["parent_ids"] = sorted(set(self._refs("tag", data["parent_ids"])))
        if data.get("child_ids") is not None:
            wanted = set(self._refs("tag", data["child_ids"]))
            for other in self._tags.values():
                parents = set(other.extra.get("parent_ids") or [])
                if other.id in wanted:
                    parents.add(tag_id)
                else:
                    parents.discard(tag_id)
                other.extra["parent_ids"] = sorted(parents)

    def _view_after_hooks(self, scene_id: int, info: Any) -> dict[str, Any] | None:
        with self._lock:
            scene = self._scenes.get(scene_id)
            return None if scene is None else self._scene_view(scene, info.context.base_url)

    def _r_configure_plugin(self, _root: Any, _info: Any, **args: Any) -> dict[str, Any]:
        plugin_id = str(args["plugin_id"])
        with self._lock:
            self._settings[plugin_id] = copy.deepcopy(
                dict(args["input"] or {})
            )  # replaces, never merges
            self._write_config()
            return copy.deepcopy(self._settings[plugin_id])

    def _check_plugin(self, plugin_id: Any) -> None:
        if str(plugin_id) != self.plugin_id:
            raise GraphQLError(f"plugin with id {plugin_id} not found")
        if not self.enabled:
            raise GraphQLError(f"plugin {plugin_id} is disabled")

    def _r_run_plugin_task(self, _root: Any, info: Any, **args: Any) -> str:
        self._check_plugin(args["plugin_id"])
        if args.get("args_map") is not None:
            task_args = dict(args["args_map"])
        else:
            task_args = _plugin_args_to_map(args.get("args") or [])
        task_name = args.get("task_name")
        description = (
            args.get("description") or f"Running plugin task: {task_name or self.plugin_id}"
        )
        return self._enqueue(task_name, task_args, description, info.context.chain)

    def _r_run_plugin_operation(self, _root: Any, info: Any, **args: Any) -> Any:
        self._check_plugin(args["plugin_id"])
        run = self._run_plugin(
            "operation", "", None, GoMap(args.get("args") or {}), info.context.chain
        )
        if run.error is not None:
            raise GraphQLError(run.error)
        return run.output

    def _r_stop_job(self, _root: Any, _info: Any, **args: Any) -> bool:
        self.stop_job(str(args["job_id"]))
        return True

    # ------------------------------------------------------------------ settings

    def set_plugin_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """configurePlugin as the UI does it: the whole map is replaced."""
        data = self._data(
            "mutation($id: ID!, $input: Map!) { configurePlugin(plugin_id: $id, input: $input) }",
            {"id": self.plugin_id, "input": settings},
        )
        return data["configurePlugin"]

    def plugin_settings(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._settings.get(self.plugin_id, {}))

    def set_plugin_enabled(self, enabled: bool) -> None:
        """Disabled plugins run no hooks and reject tasks and operations."""
        self.enabled = enabled

    def _write_config(self) -> None:
        # Stash keeps plugin settings in config.yml; Dir in server_connection points here.
        config = {"plugins": {"settings": self._settings}}
        (self.stash_dir / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")

    # ------------------------------------------------------------------ plugin processes

    def server_connection(self, cookie_value: str | None = None) -> dict[str, Any]:
        return server_connection(
            port=self.port,
            host=self.host,
            scheme=self.scheme,
            cookie_value=cookie_value or self.session_value,
            stash_dir=self.stash_dir,
            plugin_dir=self.plugin_dir,
            max_age=self.session_max_age,
        )

    def _run_plugin(
        self,
        kind: str,
        name: str,
        operation: OperationConfig | None,
        args: dict[str, Any],
        chain: tuple[tuple[str, str], ...],
        *,
        job: Job | None = None,
        stdin_override: bytes | None = None,
    ) -> PluginRun:
        token = self._new_session(chain)
        stdin = stdin_override
        if stdin is None:
            stdin = encode_plugin_input(self.server_connection(token), args)
        argv = build_argv(self.manifest, operation, self.python)
        python_command = is_python_command((list(self.manifest.exec) or [""])[0])
        env = build_env(self._env, self.plugin_dir, python_command=python_command)

        def on_start(proc: subprocess.Popen[bytes]) -> None:
            if job is not None:
                with self._job_cv:
                    self._job_proc = proc
                    stopping = job.status == "STOPPING"
                if stopping:
                    proc.kill()

        def on_progress(value: float) -> None:
            if job is not None:
                job.progress = value

        run = run_plugin_process(
            argv,
            stdin=stdin,
            cwd=self.cwd,
            env=env,
            err_log=self.manifest.err_log,
            kind=kind,
            name=name,
            args=args,
            timeout=self.process_timeout,
            on_start=on_start,
            on_progress=on_progress,
        )
        run.job_id = job.id if job else None
        run.session = token if stdin_override is None else _cookie_in(stdin_override)
        with self._lock:
            self.runs.append(run)
            prefix = f"[Plugin / {self.manifest.name}] "
            self.stash_log.extend((level, prefix + msg) for level, msg in run.logs)
            if run.error is not None:
                self.stash_log.append(("error", f"{prefix}plugin returned error: {run.error}"))
            elif run.output is not None:
                # task_plugin.go / plugins.go: a result is only logged at Debug, so whatever a
                # person must read has to be an info (or higher) log line of its own.
                self.stash_log.append(("debug", f"{prefix}plugin returned: {run.output}"))
        return run

    def _fire_hooks(
        self,
        chain: tuple[tuple[str, str], ...],
        trigger: str,
        object_id: int,
        input_value: Any,
        input_fields: list[str] | None,
    ) -> list[PluginRun]:
        """executePostHooks: each matching hook, serially, and the caller waits for all of them."""
        if not self.enabled:
            return []
        runs = []
        key = (self.plugin_id, trigger)
        for hook in self.manifest.hooks_for(trigger):
            if chain.count(key) >= MAX_HOOK_LOOP_DEPTH:
                with self._lock:
                    self.skipped_hooks.append((trigger, object_id))
                    self.stash_log.append(("debug", f"cyclic loop detected: {key}"))
                continue
            context = hook_context(object_id, trigger, input_value, input_fields)
            args = apply_default_args({"hookContext": context}, hook.default_args)
            runs.append(self._run_plugin("hook", hook.name, hook, args, chain + (key,)))
        return runs

    def run_hook_raw(self, hook_context_value: dict[str, Any]) -> PluginRun:
        """Run the hook process for ``hookContext`` directly (no mutation, no data change)."""
        hooks = self.manifest.hooks_for(str(hook_context_value.get("type"))) or self.manifest.hooks
        if not hooks:
            raise ValueError(f"plugin {self.plugin_id} declares no hooks")
        hook = hooks[0]
        args = apply_default_args({"hookContext": GoStruct(hook_context_value)}, hook.default_args)
        return self._run_plugin("hook", hook.name, hook, args, ())

    def run_plugin_raw(
        self,
        args: dict[str, Any],
        *,
        stdin_override: bytes | None = None,
        kind: str = "operation",
        task_name: str | None = None,
    ) -> PluginRun:
        """Run the plugin synchronously with exactly ``args`` (or exactly ``stdin_override``)."""
        operation = self.manifest.task(task_name) if task_name else None
        return self._run_plugin(
            kind, task_name or "", operation, GoMap(args), (), stdin_override=stdin_override
        )

    def run_operation(self, args: dict[str, Any]) -> Any:
        """runPluginOperation as plugin JavaScript calls it; raises on a plugin error."""
        data = self._data(
            "mutation($id: ID!, $args: Map) { runPluginOperation(plugin_id: $id, args: $args) }",
            {"id": self.plugin_id, "args": args},
        )
        return data["runPluginOperation"]

    # ------------------------------------------------------------------ job queue

    def run_task(self, task_name: str, args_map: dict[str, Any] | None = None) -> str:
        """runPluginTask as the Tasks page (or plugin JS) sends it; returns the job id at once."""
        data = self._data(
            "mutation($id: ID!, $task: String!, $args: Map) "
            "{ runPluginTask(plugin_id: $id, task_name: $task, args_map: $args) }",
            {"id": self.plugin_id, "task": task_name, "args": args_map},
        )
        return data["runPluginTask"]

    def run_task_to_end(self, task_name: str, args_map: dict[str, Any] | None = None,
                        timeout: float = 60) -> PluginRun | None:
        """Queue a task as the Tasks page does, wait for the job queue to empty, return the task's run."""
        job = self.run_task(task_name, args_map)
        self.wait_for_jobs(timeout)
        return self.job(job).run

    def _enqueue(
        self,
        task_name: str | None,
        args: dict[str, Any],
        description: str,
        chain: tuple[tuple[str, str], ...],
    ) -> str:
        with self._lock:
            job_id = str(self._new_id("job"))
        with self._job_cv:
            job = Job(job_id, description, task_name, args, chain, add_time=self._now())
            self._jobs[job_id] = job
            self._job_queue.append(job)
            self._job_cv.notify_all()
        return job_id

    def job(self, job_id: str) -> Job:
        with self._job_cv:
            return self._jobs[str(job_id)]

    def jobs(self) -> list[Job]:
        with self._job_cv:
            return list(self._jobs.values())

    def _job_loop(self) -> None:
        while True:
            with self._job_cv:
                while not self._job_queue and not self._stopping:
                    self._job_cv.wait()
                if self._stopping:
                    return
                job = self._job_queue.popleft()
                job.status = "RUNNING"
                job.start_time = self._now()
                self._job_active = job
            try:
                self._execute_job(job)
            except Exception as exc:  # noqa: BLE001 - a broken job must not kill the queue, as in Stash
                job.status = "FAILED"
                job.error = f"{type(exc).__name__}: {exc}"
            finally:
                with self._job_cv:
                    job.end_time = self._now()
                    self._job_active = None
                    self._job_proc = None
                    self._job_cv.notify_all()

    def _execute_job(self, job: Job) -> None:
        task = self.manifest.task(job.task_name) if job.task_name is not None else None
        if job.task_name is not None and task is None:
            job.status = "FAILED"
            job.error = f"task {job.task_name} not found"
            return
        args = apply_default_args(job.args, task.default_args) if task else GoMap(job.args)
        run = self._run_plugin("task", job.task_name or "", task, args, job.chain, job=job)
        job.run = run
        if job.status == "STOPPING":
            job.status = "CANCELLED"
        else:
            # A plugin error is only logged; the job itself still finishes (task_plugin.go).
            job.status = "FINISHED"

    def stop_job(self, job_id: str) -> None:
        """Cancel a queued job, or SIGKILL the running one like Stash's stopJob."""
        with self._job_cv:
            job = self._jobs.get(str(job_id))
            if job is None:
                return
            if job in self._job_queue:
                self._job_queue.remove(job)
                job.status = "CANCELLED"
                self._job_cv.notify_all()
                return
            if job is not self._job_active:
                return
            job.status = "STOPPING"
            proc = self._job_proc
        # Not started yet: on_start kills it as soon as the process exists.
        if proc is not None and proc.poll() is None:
            proc.kill()

    def wait_for_jobs(self, timeout: float = 60) -> None:
        """Block until nothing is queued or running; TimeoutError names what is still pending."""
        with self._job_cv:
            idle = self._job_cv.wait_for(
                lambda: not self._job_queue and self._job_active is None, timeout=timeout
            )
            if not idle:
                pending = [j.description for j in ([self._job_active] if self._job_active else [])]
                pending += [j.description for j in self._job_queue]
                raise TimeoutError(f"jobs still pending after {timeout}s: {pending}")

    # ------------------------------------------------------------------ record helpers

    def hook_runs(self) -> list[PluginRun]:
        with self._lock:
            return [r for r in self.runs if r.kind == "hook"]

    def task_runs(self) -> list[PluginRun]:
        with self._lock:
            return [r for r in self.runs if r.kind == "task"]

    def document_mark(self) -> int:
        """A point in the request stream: pass it to documents_since to get what came after."""
        with self._lock:
            return self._document_seq + 1

    def documents_since(
        self, mark: int, *, contains: str | None = None
    ) -> list[ReceivedDocument]:
        """HTTP documents received at or after ``mark`` (from document_mark): one per request,
        however many root fields each selects. Requests refused before GraphQL (401, injected
        failures, wrong content type) are not documents and are not counted."""
        return [d for d in self.documents(contains=contains) if d.seq >= mark]

    def documents_for(
        self, run: PluginRun, *, contains: str | None = None
    ) -> list[ReceivedDocument]:
        """The documents one plugin run sent: those carrying the session cookie it was handed.

        Nested hook runs get cookies of their own, so their requests are not counted here; a
        run that authenticated with an API key and no cookie sent nothing this can attribute.
        """
        if run.session is None:
            return []
        return [d for d in self.documents(contains=contains) if d.session == run.session]

    def documents(self, *, contains: str | None = None) -> list[ReceivedDocument]:
        """Documents received over HTTP (the plugin's), optionally those mentioning ``contains``."""
        with self._lock:
            docs = list(self.received_documents)
        if contains is None:
            return docs
        return [d for d in docs if isinstance(d.query, str) and contains in d.query]

    def clear_records(self) -> None:
        with self._lock:
            self.runs.clear()
            self.received_documents.clear()
            self.user_documents.clear()
            self.skipped_hooks.clear()
            self.stash_log.clear()
            self.image_request_log.clear()


def _plain(value: Any) -> Any:
    """A view without its on-demand resolvers (tag parents and children, child studios)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _plugin_value(value: dict[str, Any] | None) -> Any:
    """PluginValueInput (the deprecated ``args`` form) to a plain JSON value."""
    if value is None:
        return None
    if value.get("str") is not None:
        return value["str"]
    if value.get("i") is not None:
        return value["i"]
    if value.get("b") is not None:
        return value["b"]
    if value.get("f") is not None:
        return value["f"]
    if value.get("o") is not None:
        return _plugin_args_to_map(value["o"])
    if value.get("a") is not None:
        return [_plugin_value(v) for v in value["a"]]
    return None


def _plugin_args_to_map(args: list[dict[str, Any]]) -> dict[str, Any]:
    return {arg["key"]: _plugin_value(arg.get("value")) for arg in args}
