"""Connecting to Plex with plexapi, the way a long-lived, well-behaved client should.

Three things plexapi does by default are wrong for a plugin that starts a fresh process for every
task: it identifies itself with ``hex(uuid.getnode())`` (Plex announces a "new device" whenever
that changes, e.g. in a container), it reads a per-user ``config.ini`` that could put the token
into URLs or log files, and its ``logging`` output would reach Stash's stderr without the
protocol prefix. ``prepare_plexapi`` fixes all three before the first connection; ``connect``
then opens a session with the user's TLS choice and split connect/read timeouts, and turns
every failure into a ``plex.errors`` class.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from plex.errors import PlexError, classify
from stash import protocol

if TYPE_CHECKING:
    from plexapi.server import PlexServer

CLIENT_ID_FILE = "plex_client_id"
PRODUCT = "PlexSync"
DEVICE_NAME = "PlexSync (Stash plugin)"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

_prepared = False


class PlexSettings(Protocol):
    """The settings talking to Plex needs (``validation.config.PlexSyncConfig`` has them); a
    protocol, so that plex/ does not depend on the settings model."""

    plex_url: str
    plex_token: str
    tls_verify: bool

    @property
    def libraries(self) -> list[str]: ...


class _ProtocolHandler(logging.Handler):
    """Forward a library's log records to Stash as debug lines (redacted, prefixed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            protocol.debug(f"{record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - logging must never break the work
            pass


def quiet_library_logging() -> None:
    """No library may write to stderr on its own: Stash would show it as an unprefixed error.

    plexapi's records carry URLs and are of no use to a user, so they go nowhere. urllib3's
    retry warnings and persist-queue's warnings are worth a debug line.
    """
    plex_log = logging.getLogger("plexapi")
    if not any(isinstance(h, logging.NullHandler) for h in plex_log.handlers):
        plex_log.addHandler(logging.NullHandler())
    plex_log.propagate = False
    for name in ("urllib3", "persistqueue"):
        lib_log = logging.getLogger(name)
        if not any(isinstance(h, _ProtocolHandler) for h in lib_log.handlers):
            handler = _ProtocolHandler(level=logging.WARNING)
            lib_log.addHandler(handler)
        lib_log.propagate = False


def client_identifier(data_dir: Path) -> str:
    """This installation's X-Plex-Client-Identifier, created once and kept in the data folder.

    Plex lists every new identifier as a new device (and may e-mail the owner about it), so it
    must survive process restarts, container rebuilds and MAC address changes.
    """
    path = Path(data_dir) / CLIENT_ID_FILE
    try:
        existing = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        existing = ""
    if existing and len(existing) <= 64 and existing.replace("-", "").isalnum():
        return existing
    new_id = f"plexsync-{uuid.uuid4()}"
    tmp = path.with_name(f"{CLIENT_ID_FILE}.{os.getpid()}.tmp")
    try:
        tmp.write_text(new_id + "\n", encoding="ascii")
        os.replace(tmp, path)
    except OSError as exc:
        protocol.warning(f"could not save the Plex client identifier in {path} ({exc}); "
                         "Plex may list PlexSync as a new device on every run")
        return new_id
    # Two processes may race on the very first run; whoever renamed last wins for both.
    try:
        return path.read_text(encoding="ascii").strip() or new_id
    except OSError:
        return new_id


def prepare_plexapi(data_dir: Path) -> None:
    """Configure plexapi for this process: isolated config, stable identity, silent logging.

    The environment is set before plexapi is first imported, because plexapi reads its config
    file at import time. An administrator can still point PLEXAPI_CONFIG_PATH somewhere on
    purpose; PLEXAPI_LOG_SHOW_SECRETS is forced off whatever they set, so the token never goes
    into a URL.
    """
    global _prepared
    os.environ.setdefault("PLEXAPI_CONFIG_PATH", os.devnull)
    os.environ["PLEXAPI_LOG_SHOW_SECRETS"] = "false"
    # Autoreload (a hidden GET when an empty attribute is read) is switched off per item, where
    # items are fetched (plex.session.PlexSession.fetch), not for the whole process.
    import plexapi
    from plexapi.config import reset_base_headers

    quiet_library_logging()
    if _prepared:
        return
    plexapi.X_PLEX_IDENTIFIER = client_identifier(data_dir)
    plexapi.X_PLEX_PRODUCT = PRODUCT
    plexapi.X_PLEX_DEVICE_NAME = DEVICE_NAME
    # server.py bound BASE_HEADERS at import: update that very dict, do not rebind it.
    plexapi.BASE_HEADERS.update(reset_base_headers())
    _prepared = True


def make_session(tls_verify: bool, *, read_retries: int = 1) -> Any:
    """A requests session: certificate checking per the setting, a small connect retry.

    Retries cover only failures that are safe to repeat: connecting, and one read of a request
    whose answer was lost (edits here are idempotent: full tag lists, same poster bytes).
    ``read_retries=0`` for a request that is not: a scrobble sent twice is two plays.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.verify = bool(tls_verify)
    if not tls_verify:
        import urllib3

        # The setting's own warning is logged once by the config; urllib3's would be one
        # unprefixed stderr line per request.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    retry = Retry(
        total=2, connect=2, read=read_retries, status=0, other=0, redirect=0,
        allowed_methods=None, backoff_factor=0.1, raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def connect(
    config: PlexSettings,
    data_dir: Path,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
) -> PlexServer:
    """Open a PlexServer (one ``GET /``); raises a ``plex.errors`` class on failure."""
    protocol.register_secret(config.plex_token)
    prepare_plexapi(data_dir)
    from plexapi.server import PlexServer

    session = make_session(config.tls_verify)
    try:
        server = PlexServer(
            config.plex_url,
            config.plex_token,
            session=session,
            timeout=(connect_timeout, read_timeout),
        )
    except PlexError:
        raise
    except Exception as exc:  # noqa: BLE001 - classify re-raises what it does not know
        raise classify(exc, context=f"connecting to Plex at {config.plex_url}") from None
    server._showSecrets = False  # the token travels in the header only, never in a URL
    return server


def call(context: str, operation: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one plexapi call, translating its exceptions into ``plex.errors`` classes."""
    try:
        return operation(*args, **kwargs)
    except PlexError:
        raise
    except Exception as exc:  # noqa: BLE001 - classify re-raises what it does not know
        raise classify(exc, context=context) from None
