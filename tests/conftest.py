"""Shared fixtures: the real plugin folder run by the Stash stand-in against the Plex stand-in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_SCHEMA = REPO.parent / "shared" / "stash-schema"
PLEX_TOKEN = "plex-test-token-9f3a71c2"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "plexsync-data"
    path.mkdir()
    return path


@pytest.fixture
def fake_plex() -> Iterator:
    from tests.standins.fake_plex import FakePlex

    plex = FakePlex(token=PLEX_TOKEN)
    plex.start()
    try:
        yield plex
    finally:
        plex.stop()


@pytest.fixture
def fake_stash(tmp_path: Path, data_dir: Path) -> Iterator:
    """The Stash stand-in running THIS repo as the installed plugin, data in a temp dir."""
    from tests.standins.fake_stash import FakeStash

    env = {"PLEXSYNC_DATA_DIR": str(data_dir)}
    stash = FakeStash(REPO, env=env, stash_dir=tmp_path / "stash")
    stash.start()
    try:
        yield stash
    finally:
        stash.stop()
        assert not stash.schema_violations, stash.schema_violations


@pytest.fixture
def linked(fake_stash, fake_plex):
    """Both stand-ins, with PlexSync's settings pointing the Stash plugin at the Plex stand-in."""
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    fake_stash.set_plugin_settings({"plex_url": fake_plex.url, "plex_token": PLEX_TOKEN})
    return fake_stash, fake_plex


def pytest_configure(config) -> None:
    os.environ.setdefault("PLEXSYNC_TEST", "1")
