#!/usr/bin/env python3
"""Developer commands for PlexSync, runnable on a fresh machine with only Python 3.10+.

    python3 dev.py demo               the demo: real edits synced between the bundled stand-ins
    python3 dev.py test [ARGS]        every check CI runs; with ARGS, only pytest with those ARGS
    python3 dev.py test-fast [ARGS]   pytest without the browser and reliability (slow) tests
    python3 dev.py lint               ruff (style, complexity, unused noqa) and mypy
    python3 dev.py setup              only create .venv and install the dependencies

Standard library only, so it runs before anything is installed. It creates `.venv` beside this
file and installs the dependencies from pyproject.toml (the plugin's folders are never installed
into site-packages: a top-level `queue` package there would collide with the standard library).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

# The verification commands of plan 05-01 (../shared/seeds/004_...), run exactly as written.
SEED_CHECKS = [
    "python -c \"from sync.state import SyncState; import tempfile, os; db = tempfile.mktemp(suffix='.db'); s = SyncState(db); s.update_success(123, '/library/123'); assert s.get_last_synced_at(123) is not None; assert s.get_last_synced_at(999) is None; s.close(); os.unlink(db); print('SyncState: PASS')\"",
    "python -c \"from validation.config import PlexSyncConfig; c = PlexSyncConfig(plex_url='http://plex:32400', plex_token='test-token-12345'); assert c.strict_matching == True; assert c.preserve_plex_edits == False; print('Config flags: PASS')\"",
]


def run(cmd: list[str] | str, **kwargs) -> None:
    shown = cmd if isinstance(cmd, str) else " ".join(str(c) for c in cmd)
    print(f"+ {shown}", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, **kwargs)


def setup() -> None:
    if not PYTHON.exists():
        run([sys.executable, "-m", "venv", str(VENV)])
    stamp = VENV / ".installed"
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        run([str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", ".[test]"])
        shutil.rmtree(ROOT / "build", ignore_errors=True)
        stamp.touch()


def ensure_chromium() -> None:
    """The scene-page button is tested in headless Chromium (Debian's package)."""
    if shutil.which("chromium") or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    try:
        run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null", shell=True)
    except subprocess.CalledProcessError:
        print("chromium could not be installed; the browser tests will be skipped", flush=True)


UI_STANDIN = ROOT / "tests" / "standins" / "web"


def ensure_ui_standin() -> None:
    """The scene page's stand-in runs on the libraries Stash's UI hands plugins (React,
    react-bootstrap, Font Awesome, at Stash's versions): installed from the npm registry by
    its lockfile into tests/standins/web/node_modules, again only when the lockfile changes."""
    lock = UI_STANDIN / "package-lock.json"
    stamp = UI_STANDIN / "node_modules" / ".installed"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    if not shutil.which("npm") and shutil.which("apt-get") and os.name == "posix" and os.geteuid() == 0:
        try:
            run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null", shell=True)
        except subprocess.CalledProcessError:
            pass
    npm = shutil.which("npm")
    if not npm:
        print("npm not found; the scene-page browser tests will be skipped", flush=True)
        return
    run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(UI_STANDIN)])
    stamp.touch()


def venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env.pop("PYTHONPATH", None)
    return env


def demo(args: list[str]) -> int:
    setup()
    run([str(PYTHON), "scripts/demo.py", *args], env=venv_env())
    return 0


def actionlint(env: dict[str, str]) -> None:
    """Check the GitHub workflows (the release) with actionlint, from the test extras' wheel."""
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    if workflows:
        run([str(BIN / "actionlint"), *(str(p.relative_to(ROOT)) for p in workflows)], env=env)


def lint(args: list[str]) -> int:
    """ruff, mypy on the product, the tests, the benchmarks and the scripts, and actionlint."""
    setup()
    env = venv_env()
    run([str(PYTHON), "-m", "ruff", "check", ".", *args], env=env)
    run([str(PYTHON), "-m", "mypy"], env=env)
    actionlint(env)
    return 0


def pytest(args: list[str]) -> None:
    run([str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], env=venv_env())


def test(args: list[str]) -> int:
    """Everything CI runs, or with arguments only ``pytest ARGS`` (e.g. a file or ``-k``)."""
    setup()
    ensure_ui_standin()
    if args:
        pytest(args)
        return 0
    if os.name == "posix":
        ensure_chromium()
    lint([])
    env = venv_env()
    for check in SEED_CHECKS:
        run(check, shell=True, env=env)
    pytest([])
    run([str(PYTHON), "bench/smoke.py"], env=env)
    return 0


def test_fast(args: list[str]) -> int:
    """The quick loop while working: no headless browser, no reliability/load tests."""
    setup()
    pytest(["-m", "not browser and not slow", *args])
    return 0


def setup_only(args: list[str]) -> int:
    setup()
    return 0


COMMANDS = {"demo": demo, "test": test, "test-fast": test_fast, "lint": lint, "setup": setup_only}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[0]](argv[1:])
    except subprocess.CalledProcessError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
