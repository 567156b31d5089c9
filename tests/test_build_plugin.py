"""Packaging: what scripts/build_plugin.py ships, the index Stash reads, and that the unzipped
plugin runs the way Stash starts it.

Stash parses every .yml under its plugins folder as a plugin, checks the zip's sha256 against
the index, and runs `python {pluginDir}/PlexSync.py` from its own working directory. Each of
those is checked here against the real build output.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from scripts import build_plugin

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("sync", "plex", "hooks", "worker", "queue", "validation", "stash")
ROOT_FILES = {"PlexSync.yml", "PlexSync.py", "PlexSync.js", "requirements.txt", "README.md"}


def _write(path: Path, text: str = "x = 1\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def decoy_tree(tmp_path: Path) -> Path:
    """A source tree holding every kind of file the zip must leave out, next to what it keeps."""
    root = tmp_path / "src"
    _write(
        root / "PlexSync.yml",
        "name: PlexSync\n# requires: PythonDepManager, Other\n"
        'description: "Syncs: Stash -> Plex #1, \\"quoted\\""\nversion: 1.2.3\n'
        "tasks:\n  - name: T\n    description: nested description must be ignored\n",
    )
    for name in ("PlexSync.py", "PlexSync.js", "requirements.txt", "README.md", "LICENSE"):
        _write(root / name)
    for pkg in PACKAGES:
        _write(root / pkg / "__init__.py")
        _write(root / pkg / "mod.py")
        _write(root / pkg / "__pycache__" / "mod.cpython-311.pyc")
        _write(root / pkg / "mod.pyc")
        _write(root / pkg / "fixture.yml", "name: stray\n")
        _write(root / pkg / "notes.yaml", "a: 1\n")
        _write(root / pkg / "README.md", "docs\n")
    _write(root / "sync" / "deep" / "inner" / "leaf.py")
    _write(root / "sync" / "deep" / "__pycache__" / "leaf.py")  # .py but inside a cache dir
    for junk in (
        "tests/test_a.py",
        "tests/fixture.yml",
        "bench/b.py",
        "scripts/s.py",
        ".ci/run.yml",
        "data/queue.db",
        "vendor/ACTIVE",  # what tasks pip-install into the installed plugin (worker/install/vendor.py)
        "vendor/lib-0a1b2c3d/plexapi/__init__.py",
        "vendor/lib-0a1b2c3d/pydantic/main.py",
        "dist/old.zip",
        "dev.py",
        "pyproject.toml",
        "__pycache__/x.pyc",
        "extra/other.py",
        "PlexSync.py.orig",
    ):
        _write(root / junk)
    return root


def expected_decoy_files() -> set[str]:
    names = set(ROOT_FILES) | {"LICENSE", "sync/deep/inner/leaf.py"}
    for pkg in PACKAGES:
        names |= {f"{pkg}/__init__.py", f"{pkg}/mod.py"}
    return names


def test_zip_holds_exactly_the_runtime_files(decoy_tree, tmp_path):
    result = build_plugin.build(tmp_path / "out", root=decoy_tree)
    with zipfile.ZipFile(result.zip_path) as zf:
        names = zf.namelist()
    assert set(names) == expected_decoy_files()
    assert len(names) == len(set(names))
    assert names == sorted(names)  # stable order
    assert [n for n in names if n.endswith((".yml", ".yaml"))] == ["PlexSync.yml"]


def test_vendor_and_data_are_never_shipped(decoy_tree, tmp_path, monkeypatch):
    """Even if someone listed them as packages: they belong to one installed plugin and Python."""
    result = build_plugin.build(tmp_path / "out", root=decoy_tree)
    assert not [n for n in result.files if n.split("/")[0] in ("vendor", "data")]
    monkeypatch.setattr(build_plugin, "PACKAGES", (*build_plugin.PACKAGES, "vendor"))
    _write(decoy_tree / "vendor" / "__init__.py")
    with pytest.raises(build_plugin.BuildError, match="vendor/"):
        build_plugin.build(tmp_path / "out2", root=decoy_tree)


def test_zip_entries_are_normalised(decoy_tree, tmp_path):
    result = build_plugin.build(tmp_path / "out", root=decoy_tree)
    with zipfile.ZipFile(result.zip_path) as zf:
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert (info.external_attr >> 16) & 0o777 == 0o644
            assert not info.filename.startswith(("/", "PlexSync/"))  # files at the zip root
        assert zf.read("sync/mod.py") == b"x = 1\n"


def test_license_is_optional(decoy_tree, tmp_path):
    (decoy_tree / "LICENSE").unlink()
    result = build_plugin.build(tmp_path / "out", root=decoy_tree)
    assert "LICENSE" not in result.files
    assert "README.md" in result.files


@pytest.mark.parametrize("missing", ["README.md", "PlexSync.py", "requirements.txt", "worker"])
def test_missing_required_part_fails_the_build(decoy_tree, tmp_path, missing):
    target = decoy_tree / missing
    if target.is_dir():
        for path in sorted(target.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(build_plugin.BuildError, match=re.escape(missing)):
        build_plugin.build(tmp_path / "out", root=decoy_tree)
    assert not (tmp_path / "out" / "PlexSync.zip").exists()


def test_index_yml_describes_the_zip(decoy_tree, tmp_path):
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    result = build_plugin.build(tmp_path / "out", root=decoy_tree, date=when)
    index = yaml.safe_load(result.index_path.read_text(encoding="utf-8"))
    assert isinstance(index, list) and len(index) == 1
    (entry,) = index
    assert set(entry) == {"id", "name", "version", "date", "path", "sha256", "requires", "metadata"}
    assert entry["id"] == "PlexSync"
    assert entry["name"] == "PlexSync"
    assert entry["version"] == "1.2.3"
    assert entry["date"] == "2026-03-04 05:06:07"
    assert entry["path"] == "PlexSync.zip"
    assert entry["requires"] == ["PythonDepManager", "Other"]
    assert entry["metadata"] == {"description": 'Syncs: Stash -> Plex #1, "quoted"'}
    assert entry["sha256"] == hashlib.sha256(result.zip_path.read_bytes()).hexdigest()
    assert entry["sha256"] == result.sha256


def test_build_is_reproducible(decoy_tree, tmp_path):
    first = build_plugin.build(tmp_path / "a", root=decoy_tree)
    os.utime(decoy_tree / "PlexSync.py", (1, 1))  # mtimes must not leak into the zip
    second = build_plugin.build(tmp_path / "b", root=decoy_tree)
    assert first.sha256 == second.sha256
    assert first.zip_path.read_bytes() == second.zip_path.read_bytes()
    _write(decoy_tree / "sync" / "mod.py", "x = 2\n")
    assert build_plugin.build(tmp_path / "c", root=decoy_tree).sha256 != first.sha256


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "colon: hash # here",
        'quote " back\\slash',
        "tab\tnew\nline",
        "ctrl\x07\x85",
        "unicode é ✓ 😀",
        "\u2028sep\ufeff",
        "",
        "- [x]: {y}",
        "null",
        "yes",
    ],
)
def test_yaml_quote_round_trips(text):
    assert yaml.safe_load(f"k: {build_plugin.yaml_quote(text)}\n") == {"k": text}


def test_source_date_epoch_pins_the_date(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert build_plugin.build_date() == datetime(2026, 1, 1, tzinfo=timezone.utc)


# --- The real tree -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_build(tmp_path_factory) -> build_plugin.BuildResult:
    out = tmp_path_factory.mktemp("dist")
    try:
        return build_plugin.build(out)
    except build_plugin.BuildError as exc:
        pytest.fail(f"the repository cannot be packaged yet: {exc}")


def test_cli_builds_the_repository(tmp_path):
    out = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_plugin.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "PlexSync.zip").is_file() and (out / "index.yml").is_file()
    entry = yaml.safe_load((out / "index.yml").read_text(encoding="utf-8"))[0]
    manifest = yaml.safe_load((REPO / "PlexSync.yml").read_text(encoding="utf-8"))
    assert entry["version"] == str(manifest["version"])
    assert entry["name"] == manifest["name"]
    assert entry["metadata"] == {"description": manifest["description"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["date"])
    assert entry["sha256"] == hashlib.sha256((out / "PlexSync.zip").read_bytes()).hexdigest()


def test_real_zip_follows_the_rules(real_build):
    names = set(real_build.files)
    assert ROOT_FILES <= names
    for name in names:
        top = name.split("/", 1)[0]
        if "/" in name:
            assert top in PACKAGES, name
            assert name.endswith(".py") and "__pycache__" not in name, name
        else:
            assert name in ROOT_FILES | {"LICENSE"}, name
    # Every Python source in the packages ships; otherwise an import fails only after install.
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            if "__pycache__" not in rel:
                assert rel in names, rel
    assert [n for n in names if n.endswith((".yml", ".yaml"))] == ["PlexSync.yml"]


def test_real_build_twice_gives_the_same_sha(real_build, tmp_path):
    assert build_plugin.build(tmp_path / "again").sha256 == real_build.sha256


def _unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_installed(plugin_dir: Path, tmp_path: Path, args: dict) -> subprocess.CompletedProcess:
    """Starts PlexSync.py as Stash does: `python {pluginDir}/PlexSync.py`, Stash's own cwd,
    PYTHONPATH = the plugins folder, one JSON document on stdin."""
    stash_dir = tmp_path / "stash-home"
    stash_dir.mkdir(exist_ok=True)
    data_dir = tmp_path / "plexsync-data"
    data_dir.mkdir(exist_ok=True)
    payload = {
        "server_connection": {
            "Scheme": "http",
            "Host": "127.0.0.1",
            "Port": _unused_port(),  # Stash is unreachable
            "SessionCookie": {"Name": "session", "Value": "x"},
            "Dir": str(stash_dir),
            "PluginDir": str(plugin_dir),
        },
        "args": args,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PLEXSYNC_"))}
    env["PYTHONPATH"] = str(plugin_dir.parent)
    env["PLEXSYNC_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, str(plugin_dir / "PlexSync.py")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=stash_dir,
        env=env,
    )


def _single_json_object(proc: subprocess.CompletedProcess) -> dict:
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        pytest.fail(f"stdout is not one JSON document: {proc.stdout!r}\nstderr: {proc.stderr}")
    assert isinstance(result, dict), proc.stdout
    assert set(result) == {"output", "error"}, proc.stdout
    return result


@pytest.fixture
def installed(real_build, tmp_path) -> Path:
    plugin_dir = tmp_path / "plugins" / "PlexSync"
    plugin_dir.mkdir(parents=True)
    with zipfile.ZipFile(real_build.zip_path) as zf:
        zf.extractall(plugin_dir)
    return plugin_dir


def test_installed_plugin_runs_status_task(installed, tmp_path):
    proc = _run_installed(installed, tmp_path, {"mode": "status"})
    _single_json_object(proc)


def test_installed_plugin_hook_records_edit_without_stash(installed, tmp_path):
    hook = {
        "hookContext": {
            "id": 1,
            "type": "Scene.Update.Post",
            "input": {"id": "1", "title": "x"},
            "inputFields": ["id", "title"],
        }
    }
    proc = _run_installed(installed, tmp_path, hook)
    result = _single_json_object(proc)
    assert result["error"] is None, proc.stderr
    # The edit is persisted under PLEXSYNC_DATA_DIR even though Stash could not be asked.
    assert any((tmp_path / "plexsync-data").iterdir()), "hook stored nothing"


# --- requirements.txt ----------------------------------------------------------------------------


def _normalise(req: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", req)
    assert match, req
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    spec = ",".join(sorted(part.strip() for part in match.group(2).split(",") if part.strip()))
    return name, spec


def test_requirements_txt_matches_pyproject():
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared = dict(_normalise(r) for r in pyproject["project"]["dependencies"])
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    listed = [_normalise(line) for line in lines if line.strip() and not line.startswith("#")]
    assert len(listed) == len(dict(listed)), "duplicate requirement"
    assert dict(listed) == declared
    assert len(declared) == 4
