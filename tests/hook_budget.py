"""The hook's import budget: which modules a hook process may load, per kind of hook.

Stash waits for every hook process, so what it imports is what the user pays on every save
(README, Benchmarks). The budget is measured as the issue asked, with ``-X importtime``: the
modules the real PlexSync.py loads for a hook beyond what a bare interpreter start loads. The
plugin's own modules must be exactly the ones listed per kind (a new one is a conscious choice,
made here); standard-library modules that cost a hook a noticeable share of an interpreter
start must never appear.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Never on a hook's path (each measured: together they were most of the old hook's 57 ms).
FORBIDDEN = frozenset({
    "re", "json", "json.decoder", "json.scanner", "json.encoder", "enum", "typing", "datetime", "socket",
    "selectors", "ssl", "_ssl", "http", "http.client", "email", "email.parser", "urllib", "urllib.parse",
    "threading", "sqlite3", "sqlite3.dbapi2", "pathlib", "dataclasses", "inspect", "logging", "asyncio",
    "importlib.util", "importlib.machinery", "tempfile", "random", "base64", "hashlib", "locale", "calendar",
    "string", "_datetime",
    "plexapi", "pydantic", "persistqueue", "requests", "urllib3",
})
# Allowed for an https Stash only: TLS, and what the ssl module itself imports.
TLS_MODULES = frozenset({"ssl", "_ssl", "socket", "selectors", "enum", "re", "base64"})

# The plugin's modules each kind of hook loads, and no others.
SETTLED_BY_INPUT = frozenset({
    "stash", "stash.entry", "stash.protocol", "stash.json_codec", "hooks", "hooks.run", "hooks.triage"})
SCENE_CHANGE = SETTLED_BY_INPUT | {
    "hooks.handlers", "queue", "queue.inbox", "queue.lease", "sync", "sync.db", "sync.state", "sync.detector",
    "sync.timestamps", "sync.paths", "stash.graphql", "stash.transport", "stash.queries",
}


def startup_modules(python: str = sys.executable) -> set[str]:
    """What the interpreter itself loads before running anything (``python -c pass``)."""
    done = subprocess.run([python, "-X", "importtime", "-c", "pass"], capture_output=True, text=True,
                          timeout=60, check=True)
    return imported(done.stderr)


def imported(importtime_stderr: str) -> set[str]:
    """Module names in ``-X importtime`` output."""
    return {line.rsplit("|", 1)[-1].strip() for line in importtime_stderr.splitlines()
            if line.startswith("import time:") and "|" in line} - {"package"}


def hook_imports(plugin: Path, data_dir: Path, context: dict, connection: dict | None = None,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[set[str], dict]:
    """(modules the hook loaded beyond the interpreter's start, the hook's result)."""
    connection = connection or {"Scheme": "http", "Host": "127.0.0.1", "Port": 9, "PluginDir": str(plugin)}
    payload = json.dumps({"server_connection": connection, "args": {"hookContext": context}})
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PLEXSYNC_"))}
    environment.update(env or {}, PLEXSYNC_DATA_DIR=str(data_dir))
    done = subprocess.run([sys.executable, "-X", "importtime", str(plugin / "PlexSync.py")], input=payload,
                          capture_output=True, text=True, timeout=60, cwd=cwd or data_dir, env=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    return imported(done.stderr) - startup_modules(), json.loads(done.stdout)


def over_budget(loaded: set[str], allowed_own: frozenset[str], *, https: bool = False) -> dict[str, set[str]]:
    """What a hook loaded beyond its budget (empty when within it)."""
    own_packages = ("stash", "sync", "queue", "hooks", "plex", "validation", "worker")
    own = {name for name in loaded if name.split(".")[0] in own_packages}
    forbidden = FORBIDDEN - (TLS_MODULES if https else frozenset())
    problems = {"own modules not in the budget": own - allowed_own,
                "own modules the budget expects but were not loaded": set(allowed_own) - own,
                "forbidden standard-library or third-party modules": {
                    name for name in loaded if name in forbidden or name.split(".")[0] in forbidden}}
    return {what: names for what, names in problems.items() if names}
