"""What to tell a user whose Python lacks one of PlexSync's packages.

Stash's Docker image ships Python with requests but not plexapi, persist-queue or pydantic, and
PEP 668 makes its pip refuse to install without --break-system-packages. The hook needs none of
them, so edits keep being queued; the tasks stop with the exact command for this interpreter
(unless worker/install/bootstrap.py could install them into the plugin's vendor folder first).
"""

from __future__ import annotations

import os
import sys
import sysconfig

PACKAGES = {"plexapi": "plexapi", "persistqueue": "persist-queue", "pydantic": "pydantic", "requests": "requests"}

# Packages a task found missing in this process: worker/install/bootstrap.py installs them and retries.
MISSING_SEEN: list[str] = []


def manual_install_command() -> str:
    """The pip command that installs requirements.txt into the Python running this process."""
    plugin_dir = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    requirements = os.path.join(plugin_dir, "requirements.txt")
    managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
    flag = " --break-system-packages" if managed else ""
    return f"{sys.executable} -m pip install{flag} -r {requirements}"


def missing_packages_message(packages: list[str]) -> str:
    """The message naming ``packages`` (pip names) and the command that installs them."""
    names = ", ".join(f"'{name}'" for name in packages)
    noun = "package" if len(packages) == 1 else "packages"
    verb = "does" if len(packages) == 1 else "do"
    return (
        f"PlexSync needs the Python {noun} {names}, which the Python Stash runs "
        f"({sys.executable}) {verb} not have. Install the plugin's requirements with: "
        f"{manual_install_command()} — then run the task again; edits made meanwhile stay queued "
        "(README: Install)"
    )


def missing_dependency_message(exc: ModuleNotFoundError) -> str | None:
    """The message for a missing PlexSync dependency, or None if ``exc`` is about anything else."""
    package = PACKAGES.get((exc.name or "").split(".")[0])
    if package is None:
        return None
    MISSING_SEEN.append(package)
    return missing_packages_message([package])
