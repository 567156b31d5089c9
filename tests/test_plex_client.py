"""Connecting to Plex: stable identity, silent plexapi logging, and errors sorted by what to do."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from plex.client import client_identifier, connect, prepare_plexapi
from plex.errors import (
    PermanentSyncError,
    PlexAuthError,
    PlexItemGone,
    PlexUnavailable,
    classify,
)
from tests.conftest import PLEX_TOKEN
from validation.config import PlexSyncConfig

REPO = Path(__file__).resolve().parent.parent


def config(url: str, token: str = PLEX_TOKEN) -> PlexSyncConfig:
    return PlexSyncConfig(plex_url=url, plex_token=token)


def test_client_identifier_is_created_once_and_reused(data_dir: Path) -> None:
    first = client_identifier(data_dir)
    assert first.startswith("plexsync-") and (data_dir / "plex_client_id").exists()
    assert client_identifier(data_dir) == first
    (data_dir / "plex_client_id").write_text("garbage with spaces!\n")
    assert client_identifier(data_dir) != "garbage with spaces!"  # replaced by a valid one


_IDENTITY_PROBE = """
import sys
from plex.client import prepare_plexapi
prepare_plexapi(sys.argv[1])
from plexapi import server  # the headers dict plexapi bound at import is what requests carry
print(server.BASE_HEADERS["X-Plex-Client-Identifier"], server.BASE_HEADERS["X-Plex-Product"])
"""


def identity_in_a_fresh_process(data_dir: Path) -> list[str]:
    """What a new plugin process sends as its identity (the first data folder in a process wins,
    so each probe is its own process, as every Stash task is)."""
    done = subprocess.run([sys.executable, "-c", _IDENTITY_PROBE, str(data_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()


def test_headers_carry_the_stored_identity_and_logging_is_contained(data_dir: Path, tmp_path: Path) -> None:
    first = identity_in_a_fresh_process(data_dir)
    stored = (data_dir / "plex_client_id").read_text(encoding="ascii").strip()
    assert first == [stored, "PlexSync"] and stored == client_identifier(data_dir)
    assert identity_in_a_fresh_process(data_dir) == first  # the next run is the same device
    other = tmp_path / "other-install"
    other.mkdir()
    assert identity_in_a_fresh_process(other)[0] != stored  # another installation is another

    prepare_plexapi(data_dir)
    log = logging.getLogger("plexapi")
    assert log.propagate is False and any(isinstance(h, logging.NullHandler) for h in log.handlers)


def test_connect_errors(fake_plex, data_dir: Path) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    server = connect(config(fake_plex.url), data_dir)
    assert server._showSecrets is False
    with pytest.raises(PlexAuthError) as auth:
        connect(config(fake_plex.url, "not-the-token-123"), data_dir)
    assert auth.value.status == 401 and "not-the-token-123" not in str(auth.value)
    url = fake_plex.url
    fake_plex.go_down()
    with pytest.raises(PlexUnavailable) as down:
        connect(config(url), data_dir, connect_timeout=1, read_timeout=1)
    assert down.value.outage and str(down.value).endswith("connection refused")
    fake_plex.come_back()
    fake_plex.set_delay(2.0)
    with pytest.raises(PlexUnavailable, match="timed out"):
        connect(config(url), data_dir, connect_timeout=1, read_timeout=0.3)


def test_classify_http_statuses(fake_plex, data_dir: Path) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    server = connect(config(fake_plex.url), data_dir)

    def error_for(status: int):
        fake_plex.fail_next(1, status)
        try:
            server.query("/library/sections")
        except Exception as exc:  # noqa: BLE001 - the point is what plexapi raised
            return classify(exc, context="listing")
        raise AssertionError("no error")

    five = error_for(503)
    assert isinstance(five, PlexUnavailable) and not five.outage and five.status == 503
    assert isinstance(error_for(400), PermanentSyncError)
    forbidden = error_for(403)
    assert isinstance(forbidden, PlexAuthError) and forbidden.status == 403
    assert isinstance(error_for(404), PlexItemGone)
    assert isinstance(classify(requests.ConnectionError("x"), context="c"), PlexUnavailable)
    with pytest.raises(KeyError):
        classify(KeyError("not a Plex error"), context="c")  # unknown errors are not swallowed
