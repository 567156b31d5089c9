"""Shared fixtures: the real plugin folder run by the Stash stand-in against the Plex stand-in."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def start_linked_stash(tmp_path: Path, data_dir: Path, fake_plex) -> Iterator[Callable[..., Any]]:
    """Start Stash stand-ins set up as a real one can be (``FakeStash`` options: a host, a UTC
    offset, a clock), each running this repo as the plugin and configured for the Plex stand-in."""
    from tests.standins.fake_stash import FakeStash

    started: list[FakeStash] = []

    def start(**options: Any) -> FakeStash:
        stash = FakeStash(REPO, env={"PLEXSYNC_DATA_DIR": str(data_dir)},
                          stash_dir=tmp_path / f"stash{len(started)}", **options)
        stash.start()
        started.append(stash)
        try:
            fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
        except ValueError:
            pass  # a second Stash in the same test shares the Plex library
        stash.set_plugin_settings({"plex_url": fake_plex.url, "plex_token": PLEX_TOKEN})
        return stash

    yield start
    for stash in started:
        stash.stop()
        assert not stash.schema_violations, stash.schema_violations


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """(certificate, key) of a self-signed certificate for 127.0.0.1, for a server on TLS."""
    key, cert = tmp_path / "server-key.pem", tmp_path / "server-cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture(params=["merge", "replace"])
def tag_mode(request) -> str:
    return request.param


@pytest.fixture
def world(fake_stash, data_dir: Path, request) -> Iterator[tuple]:
    """Stash + a Plex stand-in (merge semantics unless the test asks for ``tag_mode``)."""
    mode = request.getfixturevalue("tag_mode") if "tag_mode" in request.fixturenames else "merge"
    from tests.standins.fake_plex import FakePlex

    plex = FakePlex(token=PLEX_TOKEN, tag_semantics=mode)
    plex.start()
    plex.add_section(1, "Movies", "movie", ["/media/videos"])
    from tests.helpers import configure

    configure(fake_stash, plex.url)
    try:
        yield fake_stash, plex
    finally:
        plex.stop()
        for run in fake_stash.runs:
            # Nothing reaches Stash's log unprefixed, and the token is never printed.
            assert run.unprefixed_lines == [], (run.name, run.unprefixed_lines)
        # The token (and any other secret a test adds to leak_scan) is checked by leak_scan.


def pytest_configure(config) -> None:
    os.environ.setdefault("PLEXSYNC_TEST", "1")


# -- secrets: the Plex token must leak nowhere ------------------------------------------------
#
# Autouse: every test that starts a Stash or Plex stand-in is scanned at teardown for the Plex
# token (PLEX_TOKEN plus anything a test adds with ``leak_scan.add``): every plugin run's
# stdout/stderr/logs/output/error, Stash's log, the GraphQL documents the plugin sent to Stash
# (except configurePlugin: writing the settings map back to Stash carries the token by design),
# the Plex requests' paths and query strings (the token belongs in the X-Plex-Token header only),
# and the bytes of every file under the plugin's data directory. The stand-ins' own conformance
# suites (test_fake_*.py) send tokens in URLs on purpose and are not scanned. A secret added with
# ``plex_requests=False`` (Stash's API key for Plex, which goes to Plex inside the performer photo
# URLs by design) is searched everywhere except in the Plex requests.


class LeakScan:
    """What the autouse ``leak_scan`` fixture collected during one test."""

    def __init__(self) -> None:
        self.secrets: set[str] = {PLEX_TOKEN}
        self.not_in_plex_requests: set[str] = set()  # secrets Plex is meant to receive
        self.stashes: list = []
        self.plexes: list = []
        self.data_dirs: set[Path] = set()

    def add(self, secret: str, *, plex_requests: bool = True) -> None:
        """Also scan for ``secret`` (another token a test configures). ``plex_requests=False``:
        not in the Plex request URLs, where it belongs by design; everywhere else it is searched."""
        if secret == PLEX_TOKEN and not plex_requests:
            raise ValueError("the Plex token belongs in no Plex URL: it is always scanned there")
        self.secrets.add(secret)
        if plex_requests:
            self.not_in_plex_requests.discard(secret)
        else:
            self.not_in_plex_requests.add(secret)

    def findings(self) -> list[str]:
        found: list[str] = []

        def scanner(secrets: list[str]):
            def check(where: str, value: object) -> None:
                if value is None:
                    return
                data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
                for secret in secrets:
                    if secret.encode() in data:
                        found.append(f"{where} contains the token {secret[:6]}…")

            return check

        check = scanner(sorted(self.secrets))
        check_plex = scanner(sorted(self.secrets - self.not_in_plex_requests))
        for stash in self.stashes:
            self._scan_stash(stash, check)
        for plex in self.plexes:
            for rec in plex.log_snapshot():
                check_plex(f"Plex request {rec.method} {rec.path}", (rec.raw_path, rec.query, rec.params))
                if rec.token_source == "query":
                    found.append(f"Plex request {rec.method} {rec.path} carried the token in the URL")
        for folder in sorted(self.data_dirs):
            self._scan_files(folder, check)
        return found

    def _scan_stash(self, stash, check) -> None:
        for run in list(stash.runs):
            where = f"{run.kind} run {run.name or run.args.get('mode')!r}"
            for part in ("stdout", "stderr", "logs", "output", "error"):
                check(f"{where} {part}", getattr(run, part))
        check("Stash log", list(stash.stash_log))
        for doc in list(stash.received_documents):
            if isinstance(doc.query, str) and "configurePlugin" in doc.query:
                continue
            check("GraphQL document sent to Stash", (doc.query, doc.variables))
        env_dir = stash._env.get("PLEXSYNC_DATA_DIR")
        self.data_dirs.add(Path(env_dir) if env_dir else Path(stash.plugin_dir) / "data")

    @staticmethod
    def _scan_files(folder: Path, check) -> None:
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                try:
                    check(f"data file {path}", path.read_bytes())
                except OSError:
                    pass


@pytest.fixture(autouse=True)
def leak_scan(request, monkeypatch) -> Iterator[LeakScan]:
    scan = LeakScan()
    exempt = request.node.path.name.startswith("test_fake_")
    if not exempt:
        from tests.standins import fake_plex as fake_plex_module
        from tests.standins import fake_stash as fake_stash_module

        def tracking(cls, bucket: list):
            original = cls.start

            def start(self, *args, **kwargs):
                if not any(existing is self for existing in bucket):
                    bucket.append(self)
                return original(self, *args, **kwargs)

            monkeypatch.setattr(cls, "start", start)

        tracking(fake_stash_module.FakeStash, scan.stashes)
        tracking(fake_plex_module.FakePlex, scan.plexes)
    yield scan
    if exempt or not (scan.stashes or scan.plexes):
        return
    data_dir_value = getattr(request.node, "funcargs", {}).get("data_dir")
    if data_dir_value is not None:
        scan.data_dirs.add(Path(data_dir_value))
    findings = scan.findings()
    assert not findings, "a secret leaked (the Plex token, or one added with leak_scan.add):\n" + "\n".join(findings[:20])
