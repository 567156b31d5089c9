"""The release zip, installed as Stash installs it, run by a Python that lacks PlexSync's packages.

Each test makes a fresh virtual environment (``python -m venv``: it has pip, or with
``--without-pip`` not even that, and none of plexapi, persist-queue, pydantic or requests), points
the Stash stand-in at it as "the Python Stash runs", and drives the plugin only the way Stash does:
an edit fires the real hook, the hook asks for the Process queue task, the task runs with that
interpreter. What is claimed is read from the Plex stand-in, the plugin's queue and its folder.

The tests that need the package registry are marked slow and skip, saying so, when it cannot be
reached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

from queue.inbox import is_scene_in_queue
from scripts import build_plugin
from tests.conftest import PLEX_TOKEN
from tests.hook_budget import SCENE_CHANGE, over_budget, startup_modules
from tests.standins.fake_stash import FakeStash
from worker.install.vendor import STAMP_NAME, Vendor

INSTALL_TIMEOUT = 900.0
PACKAGES = ("plexapi", "persistqueue", "pydantic", "requests")


@lru_cache(maxsize=1)
def registry_problem() -> str | None:
    """None when pip's index answers within a few seconds, else why not (probed once)."""
    index = os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/"
    url = index.rstrip("/") + "/pip/"
    try:
        with urllib.request.urlopen(url, timeout=8) as response:
            response.read(1)
    except Exception as exc:  # noqa: BLE001 - offline, DNS, proxy: the reason goes into the skip message
        return f"the package index {index} is unreachable ({type(exc).__name__}: {exc})"
    return None


def needs_registry() -> None:
    problem = registry_problem()
    if problem:
        pytest.skip(f"installing into vendor/ needs the package registry: {problem}")


def make_venv(folder: Path, *, pip: bool = True) -> Path:
    command = [sys.executable, "-m", "venv", str(folder)]
    if not pip:
        command.insert(3, "--without-pip")
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # A clean interpreter: none of PlexSync's packages, whatever the test runner's has.
    probe = "import importlib.util, json; print(json.dumps([importlib.util.find_spec(n) is not None for n in %r]))"
    found = subprocess.run(
        [str(python), "-c", probe % (PACKAGES,)], check=True, capture_output=True, text=True, timeout=60
    )
    assert json.loads(found.stdout) == [False] * len(PACKAGES), found.stdout
    return python


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory) -> Path:
    """Shared by the tests of this module: they install into the plugin folder, never into it."""
    return make_venv(tmp_path_factory.mktemp("venv") / "py")


@pytest.fixture(scope="module")
def release_zip(tmp_path_factory) -> Path:
    return build_plugin.build(tmp_path_factory.mktemp("dist")).zip_path


@pytest.fixture
def plugin(release_zip: Path, tmp_path: Path) -> Path:
    """The release zip unpacked the way Stash's package manager does: <plugins>/<id>/."""
    folder = tmp_path / "plugins" / "PlexSync"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(release_zip) as zf:
        zf.extractall(folder)
    return folder


def stash_for(plugin: Path, python: Path, data_dir: Path, tmp_path: Path) -> FakeStash:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PLEXSYNC_"))}
    env["PLEXSYNC_DATA_DIR"] = str(data_dir)
    return FakeStash(
        plugin, python=str(python), env=env, stash_dir=tmp_path / "stash", process_timeout=INSTALL_TIMEOUT
    )


def edit_and_drain(stash: FakeStash, scene: str, title: str):
    """An edit in Stash: the real hook queues it and asks for the drain, which then runs."""
    before = len(stash.task_runs())
    stash.update_scene(scene, title=title)
    hook = stash.hook_runs()[-1]
    assert hook.error is None and hook.output["action"] == "queued", hook.stderr
    stash.wait_for_jobs(INSTALL_TIMEOUT)
    runs = stash.task_runs()[before:]
    assert len(runs) == 1, [r.args for r in runs]
    return runs[0]


def manual_command(python: Path, plugin: Path) -> str:
    return f"{python} -m pip install -r {plugin / 'requirements.txt'}"


def assert_packages_missing_from(python: Path) -> None:
    code = "import importlib.util; print(importlib.util.find_spec('plexapi') is None)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "True", "the packages went into the interpreter, not vendor/"


# -- installing ------------------------------------------------------------------------------


@pytest.mark.slow
def test_missing_packages_are_installed_into_vendor_and_the_edit_syncs(
    venv_python: Path, plugin: Path, data_dir: Path, fake_plex, tmp_path: Path
) -> None:
    needs_registry()
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    rk = fake_plex.add_movie(1, "clip", ["/media/videos/v.mp4"])
    with stash_for(plugin, venv_python, data_dir, tmp_path) as stash:
        stash.set_plugin_settings({"plex_url": fake_plex.url, "plex_token": PLEX_TOKEN})
        scene = stash.add_scene("V", ["/media/videos/v.mp4"])

        started = time.monotonic()
        run = edit_and_drain(stash, scene, "Installed And Synced")
        first_seconds = time.monotonic() - started
        print(f"\nfirst task with the install into vendor/: {first_seconds:.1f} s")

        assert run.error is None, (run.error, run.logs[-30:])
        info = run.logs_at("info")
        assert any(f"installing PlexSync's Python packages into {plugin / 'vendor'}" in m for m in info)
        assert any(m.startswith("installed PlexSync's Python packages into") for m in info)
        assert run.progress and all(0 <= p <= 1 for p in run.progress)
        assert any(0 < p < 1 for p in run.progress)  # the install's own progress
        assert run.output["status"] == "done" and run.output["written"] == 1, run.output
        assert fake_plex.item(rk)["title"] == "Installed And Synced"
        assert not is_scene_in_queue(data_dir, int(scene))

        stamp = json.loads((plugin / "vendor" / STAMP_NAME).read_text())
        lib = plugin / "vendor" / stamp["lib"]
        for package in PACKAGES:
            assert (lib / package).is_dir(), package
        assert stamp["python"] == f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]}"
        assert_packages_missing_from(venv_python)
        assert stash.plugin_settings().get("install_dependencies") is True  # written back: shown as on

        # The second task finds the folder valid: no pip, no second install.
        stamp_bytes = (plugin / "vendor" / STAMP_NAME).read_bytes()
        started = time.monotonic()
        run = edit_and_drain(stash, scene, "Second Edit")
        print(f"second task (vendor/ reused): {time.monotonic() - started:.1f} s")
        assert run.error is None, run.error
        assert not any("installing PlexSync's Python packages" in m for m in run.logs_at("info"))
        assert not any(m.startswith("pip: ") for _, m in run.logs)
        assert (plugin / "vendor" / STAMP_NAME).read_bytes() == stamp_bytes
        assert sorted(p.name for p in (plugin / "vendor").glob("lib-*")) == [lib.name]
        assert fake_plex.item(rk)["title"] == "Second Edit"


@pytest.mark.slow
def test_a_broken_package_found_during_the_task_is_installed_and_the_task_retried(
    plugin: Path, data_dir: Path, fake_plex, tmp_path: Path
) -> None:
    """The packages look present (so nothing is installed up front) but fail to import."""
    needs_registry()
    python = make_venv(tmp_path / "venv")
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True, timeout=60,
        ).stdout.strip()
    )
    for package in PACKAGES:
        (site / package).mkdir()
        (site / package / "__init__.py").write_text(f"import {package}._gone_in_this_copy\n")
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    rk = fake_plex.add_movie(1, "clip", ["/media/videos/b.mp4"])
    with stash_for(plugin, python, data_dir, tmp_path) as stash:
        stash.set_plugin_settings({"plex_url": fake_plex.url, "plex_token": PLEX_TOKEN})
        scene = stash.add_scene("B", ["/media/videos/b.mp4"])
        run = edit_and_drain(stash, scene, "Retried")
    assert run.error is None, (run.error, run.logs[-30:])
    info = run.logs_at("info")
    assert any("failed to import" in m and "installing PlexSync's Python packages" in m for m in info)
    assert any("running the task again with the packages from" in m for m in info)
    assert fake_plex.item(rk)["title"] == "Retried"
    assert not is_scene_in_queue(data_dir, int(scene))
    assert Vendor(plugin).read_stamp().get("lib")


# -- not installing: the command, and nothing lost ------------------------------------------


def _assert_stopped_with_the_command(run, python: Path, plugin: Path, data_dir: Path, scene: str) -> str:
    error = run.error
    assert error, run.logs
    assert manual_command(python, plugin) in error
    assert "'plexapi'" in error and "'pydantic'" in error and "'persist-queue'" in error
    assert "Traceback" not in error and "Traceback" not in run.stderr.decode("utf-8", "replace")
    assert is_scene_in_queue(data_dir, int(scene))  # the edit waits for the packages
    return error


def test_with_install_dependencies_off_the_task_names_the_command_and_keeps_the_edit(
    venv_python: Path, plugin: Path, data_dir: Path, fake_plex, tmp_path: Path
) -> None:
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    with stash_for(plugin, venv_python, data_dir, tmp_path) as stash:
        stash.set_plugin_settings(
            {"plex_url": fake_plex.url, "plex_token": PLEX_TOKEN, "install_dependencies": False}
        )
        scene = stash.add_scene("Off", ["/media/videos/off.mp4"])
        run = edit_and_drain(stash, scene, "Waits")
    error = _assert_stopped_with_the_command(run, venv_python, plugin, data_dir, scene)
    assert "install_dependencies is off" in error
    assert not (plugin / "vendor").exists()
    assert not any("installing" in m for _, m in run.logs)
    assert fake_plex.matching_requests("PUT") == []


def test_without_pip_the_task_names_the_command_and_keeps_the_edit(
    plugin: Path, data_dir: Path, fake_plex, tmp_path: Path
) -> None:
    python = make_venv(tmp_path / "nopip", pip=False)
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    with stash_for(plugin, python, data_dir, tmp_path) as stash:
        stash.set_plugin_settings({"plex_url": fake_plex.url, "plex_token": PLEX_TOKEN})
        scene = stash.add_scene("NoPip", ["/media/videos/nopip.mp4"])
        run = edit_and_drain(stash, scene, "Waits")
    error = _assert_stopped_with_the_command(run, python, plugin, data_dir, scene)
    assert "has no working pip" in error and "No module named pip" in error
    assert not (plugin / "vendor").exists()


def test_a_failed_install_says_why_and_keeps_the_edit(
    venv_python: Path, plugin: Path, data_dir: Path, fake_plex, tmp_path: Path
) -> None:
    """pip cannot find the packages (no index allowed): a failure that needs no network."""
    requirements = plugin / "requirements.txt"
    requirements.write_text("--no-index\n" + requirements.read_text(encoding="utf-8"), encoding="utf-8")
    fake_plex.add_section(1, "Movies", "movie", ["/media/videos"])
    with stash_for(plugin, venv_python, data_dir, tmp_path) as stash:
        stash.set_plugin_settings({"plex_url": fake_plex.url, "plex_token": PLEX_TOKEN})
        scene = stash.add_scene("Fails", ["/media/videos/fails.mp4"])
        run = edit_and_drain(stash, scene, "Waits")
    error = run.error
    assert error and f"could not install its Python packages into {plugin / 'vendor'}" in error
    assert "pip exited with status" in error and "No matching distribution" in error
    assert "Every queued edit is still queued" in error and manual_command(venv_python, plugin) in error
    assert is_scene_in_queue(data_dir, int(scene))
    assert run.progress  # the install showed progress before it failed
    vendor = plugin / "vendor"
    assert not (vendor / STAMP_NAME).exists() and not list(vendor.glob("lib-*"))
    assert not (vendor / ".install-lock").exists()
    assert_packages_missing_from(venv_python)


# -- the hook never looks at vendor/ ---------------------------------------------------------


def test_the_hook_never_imports_from_vendor(plugin: Path, data_dir: Path, tmp_path: Path) -> None:
    """A valid vendor folder whose sqlite3 would break any process that put it on sys.path."""
    vendor = Vendor(plugin)
    lib = vendor.path / "lib-poison"
    (lib / "sqlite3").mkdir(parents=True)
    (lib / "sqlite3" / "__init__.py").write_text("raise RuntimeError('imported from vendor/')\n")
    (vendor.path / STAMP_NAME).write_text(json.dumps({**vendor.expected_stamp(), "lib": lib.name}))
    assert vendor.status().valid

    with stash_for(plugin, Path(sys.executable), data_dir, tmp_path) as stash:
        scene = stash.add_scene("H", ["/media/videos/h.mp4"])
        stash.update_scene(scene, title="Hooked")
        hook = stash.hook_runs()[-1]
        assert hook.error is None and hook.output["action"] == "queued", hook.stderr
        stash.wait_for_jobs(120)
        # The task did put it on sys.path (and so met the poisoned module).
        task = stash.task_runs()[-1]
        assert task.error and "imported from vendor/" in task.error

    # And the hook's import list holds nothing of the task start-up.
    payload = json.dumps({
        "server_connection": {"Scheme": "http", "Host": "127.0.0.1", "Port": 9, "Dir": str(tmp_path),
                              "PluginDir": str(plugin)},
        "args": {"hookContext": {"id": 1, "type": "Scene.Update.Post", "input": {"id": "1"},
                                 "inputFields": ["id", "title"]}},
    })
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PLEXSYNC_"))}
    env.update(PLEXSYNC_DATA_DIR=str(data_dir), PYTHONPATH=str(plugin.parent))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(plugin / "PlexSync.py")],
        input=payload, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "hooks.handlers" in imported, proc.stderr[-2000:]
    assert not {name for name in imported if name == "worker" or name.startswith("worker.")}, "a hook loaded the task side"
    assert over_budget(imported - startup_modules(), SCENE_CHANGE) == {}  # nothing else either
