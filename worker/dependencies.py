"""What to tell a user whose Python lacks one of PlexSync's packages.

Stash's Docker image ships Python with requests but not plexapi, persist-queue or pydantic, and
PEP 668 makes its pip refuse to install without --break-system-packages. The hook needs none of
them, so edits keep being queued; the tasks stop with the exact command for this interpreter.
"""

from __future__ import annotations

import os
import sys
import sysconfig

PACKAGES = {"plexapi": "plexapi", "persistqueue": "persist-queue", "pydantic": "pydantic", "requests": "requests"}


def missing_dependency_message(exc: ModuleNotFoundError) -> str | None:
    """The message for a missing PlexSync dependency, or None if ``exc`` is about anything else."""
    package = PACKAGES.get((exc.name or "").split(".")[0])
    if package is None:
        return None
    plugin_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    requirements = os.path.join(plugin_dir, "requirements.txt")
    managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
    flag = " --break-system-packages" if managed else ""
    return (
        f"PlexSync needs the Python package '{package}', which the Python Stash runs "
        f"({sys.executable}) does not have. Install the plugin's requirements with: "
        f"{sys.executable} -m pip install{flag} -r {requirements} — then run the task again; "
        "edits made meanwhile stay queued (README: Install)"
    )
