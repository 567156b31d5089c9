"""PlexSync.py speaks Stash's raw-plugin protocol exactly: stdin JSON, one JSON object on stdout,
level-prefixed lines on stderr, and a clear JSON error (never a traceback) for bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stash import protocol
from tests.conftest import REPO

LOG_LINE = re.compile(rb"^\x01[tdiwe]\x02[^\n]*$|^\x01p\x02(0(\.\d+)?|1(\.0+)?)$")


def stash_connection(plugin_dir: Path, port: int = 9) -> dict:
    """server_connection exactly as Stash serialises it (Go field names, no json tags)."""
    return {
        "Scheme": "http",
        "Host": "0.0.0.0",
        "Port": port,
        "SessionCookie": {
            "Name": "session", "Value": "MTcwMDAwMDAwMHxkZWFkYmVlZnw=", "Quoted": False, "Path": "/",
            "Domain": "", "Expires": "0001-01-01T00:00:00Z", "RawExpires": "", "MaxAge": 3600,
            "Secure": False, "HttpOnly": False, "SameSite": 0, "Partitioned": False, "Raw": "",
            "Unparsed": None,
        },
        "Dir": str(plugin_dir.parent),
        "PluginDir": str(plugin_dir),
    }


def run_plugin(stdin: bytes, data_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "PlexSync.py")],
        input=stdin, capture_output=True, cwd=cwd, timeout=60,
        env={"PLEXSYNC_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO.parent)},
    )


def assert_protocol(result: subprocess.CompletedProcess) -> dict:
    """Exactly one JSON object on stdout; every stderr line carries a level prefix."""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    payload = json.loads(lines[0])
    assert set(payload) == {"output", "error"}
    for line in result.stderr.splitlines():
        assert LOG_LINE.match(line), line
        assert len(line) < 64 * 1024
    assert b"Traceback" not in result.stdout + result.stderr
    return payload


def test_status_task_answers_in_protocol(tmp_path: Path, data_dir: Path) -> None:
    stdin = json.dumps({"server_connection": stash_connection(REPO), "args": {"mode": "status"}})
    result = run_plugin(stdin.encode(), data_dir, tmp_path)
    payload = assert_protocol(result)
    assert payload["error"] is None
    assert payload["output"]["pending"] == 0
    assert result.returncode == 0
    assert (data_dir / "plexsync.db").is_file()


def test_hook_records_edit_when_stash_is_unreachable(tmp_path: Path, data_dir: Path) -> None:
    hook = {
        "id": 7, "type": "Scene.Update.Post",
        "input": {"id": "7", "title": "New title"}, "inputFields": ["id", "title"],
    }
    stdin = json.dumps({"server_connection": stash_connection(REPO), "args": {"hookContext": hook}})
    result = run_plugin(stdin.encode(), data_dir, tmp_path)
    payload = assert_protocol(result)
    assert payload["error"] is None
    assert payload["output"]["action"] == "queued"
    from queue.inbox import is_scene_in_queue

    assert is_scene_in_queue(data_dir, 7)
    assert b"\x01w\x02" in result.stderr  # the failed lookup is a warning, not silence


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [
        (b"", "no input on stdin"),
        (b"   \n", "no input on stdin"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "expected an object"),
        (b'{"args": {"mode": "status"}}', "no server_connection"),
        (b'{"server_connection": [], "args": {"mode": "status"}}', "no server_connection"),
        (b'{"server_connection": {}, "args": "status"}', "args is a str"),
        (b'{"server_connection": {}, "args": {"mode": "explode"}}', "unknown mode 'explode'"),
        (b'{"server_connection": {}, "args": {}}', "neither mode nor hookContext"),
        (b'{"server_connection": {}, "args": {"hookContext": "x"}}', "hookContext is a str"),
    ],
)
def test_bad_stdin_gets_a_clear_json_error(stdin: bytes, expected: str, tmp_path: Path, data_dir: Path) -> None:
    result = run_plugin(stdin, data_dir, tmp_path)
    payload = assert_protocol(result)
    assert payload["output"] is None
    assert expected in payload["error"]
    assert result.returncode == 1
    assert b"\x01e\x02" in result.stderr


def test_log_lines_are_prefixed_split_and_capped(capsys: pytest.CaptureFixture[str]) -> None:
    protocol.info("first\nsecond")
    protocol.warning("x" * 200_000)
    protocol.progress(1.7)
    protocol.progress(-1)
    err = capsys.readouterr().err
    lines = err.split("\n")[:-1]
    assert lines[0] == "\x01i\x02first" and lines[1] == "\x01i\x02second"
    assert lines[2].startswith("\x01w\x02xxx") and len(lines[2].encode()) <= protocol.MAX_LINE_BYTES + 10
    assert lines[3] == "\x01p\x021.0000" and lines[4] == "\x01p\x020.0000"


def test_secrets_are_masked_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    protocol.register_secret("s3cr3t-token-value")
    protocol.error("request to http://plex?X-Plex-Token=s3cr3t-token-value failed")
    protocol.emit_result({"token": "s3cr3t-token-value"}, "bad s3cr3t-token-value")
    captured = capsys.readouterr()
    assert "s3cr3t-token-value" not in captured.err + captured.out
    assert "***" in captured.err and "***" in captured.out


def test_data_dir_defaults_to_plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.db import data_dir_for

    monkeypatch.delenv("PLEXSYNC_DATA_DIR", raising=False)
    assert data_dir_for({"PluginDir": str(tmp_path)}) == tmp_path / "data"
    assert (tmp_path / "data").is_dir()
    monkeypatch.setenv("PLEXSYNC_DATA_DIR", str(tmp_path / "elsewhere"))
    assert data_dir_for({"PluginDir": str(tmp_path)}) == tmp_path / "elsewhere"
