"""Every task starts here: make PlexSync's Python packages importable, then run the task.

Stash runs tasks with whatever Python it has. When plexapi, persist-queue, pydantic or requests
is missing and that Python has pip, the packages are installed into ``<plugin folder>/vendor``
(worker/install/vendor.py) and the task runs with them; the setting ``install_dependencies`` (on when
unset) turns that off. Whenever nothing can be installed, the task stops before touching the
queue, with the exact pip command, so every queued edit stays queued.

Two moments find a package missing:

* before the task, by looking for the four top-level packages (no import is attempted, so no
  half-imported module can be left behind): the usual case, a fresh container;
* during the task, a ``ModuleNotFoundError`` for one of them that the look-up could not foresee
  (a package present but broken). worker/install/dependencies.py records it; the task has already put
  its jobs back. Then the packages are installed and the task is run once more in this process,
  after forgetting every non-standard-library module the first attempt imported, so the retry
  imports everything afresh from vendor/.

Standard library only, like everything the task path imports before the packages are there.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import sysconfig
from typing import Any

from stash import protocol
from worker.install import dependencies
from worker.install.vendor import Vendor, VendorStatus, probe_pip

TaskResult = tuple[Any, "str | None"]
SETTING = "install_dependencies"


def run_task(mode: str, args: dict, server_connection: dict, *, vendor: Vendor | None = None) -> TaskResult:
    """``worker.tasks.dispatch.run_task`` with the packages made available first (PlexSync.py, cli.py)."""
    vendor = vendor or Vendor()
    status = vendor.status()
    vendor.activate(status)
    installed = False
    missing = missing_packages()
    if missing:
        problem = ensure_installed(vendor, status, missing, server_connection)
        if problem is not None:
            return None, problem
        installed = True

    before = set(sys.modules)
    dependencies.MISSING_SEEN.clear()
    from worker.tasks.dispatch import run_task as task

    output, error = task(mode, args, server_connection)
    seen = list(dict.fromkeys(dependencies.MISSING_SEEN))
    dependencies.MISSING_SEEN.clear()
    if not seen or error is None:
        return output, error
    if installed:
        return output, (
            f"{error} (PlexSync had just installed its packages into {vendor.path}, yet "
            f"{', '.join(seen)} still failed to import; delete that folder and run the task again)"
        )
    problem = ensure_installed(vendor, vendor.status(), seen, server_connection, broken=True)
    if problem is not None:
        return output, problem
    forget_modules_since(before)
    protocol.info(f"running the task again with the packages from {vendor.path}")
    from worker.tasks.dispatch import run_task as task  # a fresh import: the old one was forgotten

    return task(mode, args, server_connection)


def missing_packages() -> list[str]:
    """pip names of PlexSync's packages that no ``sys.path`` entry holds (nothing is imported)."""
    missing = []
    for import_name, pip_name in dependencies.PACKAGES.items():
        try:
            spec = importlib.util.find_spec(import_name)
        except (ImportError, ValueError):  # a finder that refuses it counts as missing
            spec = None
        if spec is None:
            missing.append(pip_name)
    return missing


def ensure_installed(
    vendor: Vendor,
    status: VendorStatus,
    missing: list[str],
    server_connection: dict,
    *,
    broken: bool = False,
) -> str | None:
    """Install into vendor/ if allowed and possible; None when done, else the task's error."""
    allowed, why_not = install_setting(server_connection)
    if not allowed:
        return _explain(missing, why_not)
    pip = probe_pip(vendor.python)
    if pip.version is None:
        return _explain(
            missing,
            f"{vendor.python} has no working pip ({pip.reason}); install pip for that Python (in "
            "Stash's Docker image: apk add py3-pip) and PlexSync installs them into "
            f"{vendor.path} on the next task run",
        )
    if broken:
        why_now = f"{', '.join(missing)} failed to import"
    elif status.state == "stale":
        why_now = f"rebuilding it: {status.reason}"
    elif status.valid:
        why_now = f"rebuilding it: {', '.join(missing)} missing from it"
    else:
        why_now = f"first run: {', '.join(missing)} missing; about a minute"
    pip_name = " ".join(pip.version.split()[:2])  # "pip 24.0", without its path
    protocol.info(
        f"installing PlexSync's Python packages into {vendor.path} with {pip_name} ({why_now})"
    )
    result = vendor.install(log=protocol.log, progress=protocol.progress)
    if not result.ok:
        last = " | ".join(line.strip() for line in result.tail[-6:])
        return protocol.redact(
            f"PlexSync could not install its Python packages into {vendor.path}: {result.message}"
            + (f". pip's last lines: {last}" if last else "")
            + ". Every queued edit is still queued: fix the cause (network, proxy, disk space) and "
            "run the task again, or install them yourself with: "
            f"{dependencies.manual_install_command()}"
        )
    vendor.activate()
    protocol.info(
        f"installed PlexSync's Python packages into {result.lib} in {result.seconds:.0f} s; "
        "tasks use them from now on (the hook needs none of them)"
    )
    still = missing_packages()
    if still:
        return _explain(still, f"they are still not importable after installing into {vendor.path}")
    return None


def install_setting(server_connection: dict) -> tuple[bool, str]:
    """The ``install_dependencies`` setting, read without pydantic (it may be what is missing).

    On when unset. Anything that is not a real boolean counts as on, with a warning; the
    settings check of the task itself then names it, like every other flag.
    """
    from stash.graphql import StashClient
    from validation.settings import load_settings

    try:
        settings = load_settings(StashClient(server_connection, timeout=30.0))
    except Exception as exc:  # noqa: BLE001 - Stash down or answering nonsense: do not guess the wish
        return False, f"PlexSync's settings could not be read from Stash ({exc})"
    value = settings.get(SETTING, True)
    if isinstance(value, bool):
        return value, "" if value else (
            f"the setting {SETTING} is off (Settings → Plugins → PlexSync: turn on 'Install "
            "Python packages' to let PlexSync install them into its vendor folder)"
        )
    protocol.warning(
        f"setting {SETTING} should be on or off, got {type(value).__name__} {value!r}; "
        "treating it as on"
    )
    return True, ""


def _explain(missing: list[str], why_not: str) -> str:
    return (
        f"{dependencies.missing_packages_message(missing)}. PlexSync did not install them "
        f"itself: {why_not}."
    )


def forget_modules_since(before: set[str]) -> None:
    """Drop from ``sys.modules`` every module imported since ``before`` that is not stdlib.

    What is left of a failed attempt (a package imported from site-packages whose submodule was
    missing, the plugin's modules bound to it) must not be reused by the retry; standard
    library modules are kept, because they are the same either way and some C extensions among
    them cannot be initialised twice.
    """
    stdlib = {
        os.path.normcase(os.path.realpath(path)) + os.sep
        for path in (sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"))
        if path
    }
    for name, module in list(sys.modules.items()):
        if name in before:
            continue
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
        if origin in ("built-in", "frozen"):
            continue
        if origin and origin != "namespace":
            path = os.path.normcase(os.path.realpath(origin))
            parts = set(path.split(os.sep))
            in_stdlib = any(path.startswith(prefix) for prefix in stdlib)
            if in_stdlib and not parts & {"site-packages", "dist-packages"}:
                continue
        elif not hasattr(module, "__path__"):
            continue  # no file and not a namespace package: built into the interpreter
        del sys.modules[name]
    importlib.invalidate_caches()
