"""``python PlexSync.py <mode>``: the Stash tasks from a shell or cron, against real HTTP stand-ins.

The CLI must run the very same task code as Stash does (same settings from Stash, same data
folder), authenticate with Stash's API key instead of the session cookie Stash hands plugins,
print one JSON result, keep logs readable and secrets out of everything it prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PLEX_TOKEN, REPO
from worker.cli import MODES, PlainLog, server_connection_for

API_KEY = "stash-api-key-4d1e0b7a"
SCRIPT = REPO / "PlexSync.py"


def cli(*argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("STASH_API_KEY", "STASH_URL", "PLEXSYNC_DATA_DIR")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *argv],
        cwd=cwd,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def result_of(proc: subprocess.CompletedProcess) -> dict:
    document = json.loads(proc.stdout)
    assert set(document) == {"output", "error"}
    return document


def assert_clean(proc: subprocess.CompletedProcess) -> None:
    for text in (proc.stdout, proc.stderr):
        assert PLEX_TOKEN not in text
        assert API_KEY not in text
        assert "\x01" not in text and "\x02" not in text


def test_help_documents_every_mode_and_option(tmp_path: Path) -> None:
    proc = cli("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for mode in MODES:
        assert mode in proc.stdout
    for option in ("--stash-url", "--api-key", "--scene-id", "--dry-run", "--data-dir", "STASH_API_KEY"):
        assert option in proc.stdout
    bare = cli(cwd=tmp_path)  # no arguments, empty stdin (cron): points at --help, no hang
    assert bare.returncode == 1 and "--help" in result_of(bare)["error"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["resync_scene"], "needs --scene-id"),
        (["sync_all", "--scene-id", "3"], "only for resync_scene"),
        (["status", "--dry-run"], "--dry-run is for"),
        (["status", "--stash-url", "ftp://host:1"], "must look like http"),
        (["status", "--stash-url", "http://host:9999/stash"], "path"),
        (["bogus"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(tmp_path: Path, argv: list[str], message: str) -> None:
    proc = cli(*argv, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not list(tmp_path.iterdir())  # nothing was created


def test_server_connection_is_what_stash_would_send() -> None:
    conn = server_connection_for("https://stash.lan", "k")
    assert conn["Scheme"] == "https" and conn["Host"] == "stash.lan" and conn["Port"] == 443
    assert conn["ApiKey"] == "k" and conn["PluginDir"] == str(REPO)
    assert server_connection_for("http://127.0.0.1:9999/", None)["Port"] == 9999
    assert "ApiKey" not in server_connection_for("http://127.0.0.1:9999", None)


def test_plain_log_rewrites_the_stash_protocol() -> None:
    import io

    target = io.StringIO()
    log = PlainLog(target, "i")
    log.write("\x01d\x02hidden\n\x01i\x02shown\n\x01p\x020.5\n\x01w\x02care")
    log.write("ful\nplain line\n")
    log.flush()
    assert target.getvalue().splitlines() == ["INFO    shown", "WARNING careful", "plain line"]


def test_cli_runs_the_same_tasks_against_stash_and_plex(linked, data_dir: Path, tmp_path: Path) -> None:
    stash, plex = linked
    stash.api_key = API_KEY
    keys = {}
    for name in ("one", "two"):
        path = f"/media/videos/{name}.mp4"
        keys[name] = plex.add_movie(1, name, [path])
        stash.add_scene(f"Scene {name}", [path], tags=["CLI"])
    # Stash stamps whole seconds: a sync in the same second as the edit cannot prove it has it.
    time.sleep(1.1)
    common = ("--stash-url", stash.url, "--data-dir", str(data_dir))
    env = {"STASH_API_KEY": API_KEY}
    workdir = tmp_path / "elsewhere"  # cron runs from anywhere
    workdir.mkdir()

    proc = cli("sync_recent", *common, cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    result = result_of(proc)
    assert result["error"] is None
    assert result["output"]["queued"] == 2 and result["output"]["drain"]["written"] == 2
    assert plex.item(keys["one"])["title"] == "Scene one"
    assert "INFO    PlexSync sync_recent:" in proc.stderr
    docs = stash.documents()
    assert docs  # reached Stash with the key alone (without it: 401, see the next test)
    assert not list(workdir.iterdir())

    # Stash's own task sees the state the CLI left: nothing is new.
    job = stash.run_task("Sync recent changes")
    stash.wait_for_jobs(60)
    [run] = [r for r in stash.task_runs() if r.job_id == job]
    assert run.output["queued"] == 0

    # resync with a dry run: reports, writes nothing.
    plex.clear_log()
    proc = cli("resync_scene", "--scene-id", "1,2", "--dry-run", *common, cwd=workdir, env=env)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    scenes = result_of(proc)["output"]["scenes"]
    assert [s["scene_id"] for s in scenes] == [1, 2] and all(s["changes"] == [] for s in scenes)
    assert [r for r in plex.request_log if r.method != "GET"] == []

    # The real resync, key on the command line this time; status afterwards.
    proc = cli("resync_scene", "--scene-id", "2", "--api-key", API_KEY, *common, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert_clean(proc)
    assert result_of(proc)["output"]["scenes"][0]["result"] in ("unchanged", "synced")
    proc = cli("status", "--api-key", API_KEY, *common, cwd=workdir)
    assert proc.returncode == 0 and result_of(proc)["output"]["synced"] == 2


def test_cli_errors_exit_1_with_a_reason(linked, data_dir: Path, tmp_path: Path) -> None:
    stash, _ = linked
    stash.api_key = API_KEY
    common = ("--stash-url", stash.url, "--data-dir", str(data_dir))

    no_key = cli("sync_recent", *common, cwd=tmp_path)
    assert no_key.returncode == 1
    assert "API key" in result_of(no_key)["error"]
    assert "ERROR" in no_key.stderr

    wrong = cli("sync_all", *common, cwd=tmp_path, env={"STASH_API_KEY": "wrong-key-123"})
    assert wrong.returncode == 1 and "refused the API key" in result_of(wrong)["error"]
    assert "wrong-key-123" not in wrong.stdout + wrong.stderr

    bad_id = cli("resync_scene", "--scene-id", "4,four", *common, cwd=tmp_path, env={"STASH_API_KEY": API_KEY})
    assert bad_id.returncode == 1 and "'four'" in result_of(bad_id)["error"]

    stash.go_down()
    down = cli("sync_recent", *common, cwd=tmp_path, env={"STASH_API_KEY": API_KEY})
    assert down.returncode == 1 and "cannot reach Stash" in result_of(down)["error"]
    assert_clean(down)
