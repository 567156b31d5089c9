"""PlexSync's queue package, which is also the standard library's ``queue`` module.

Stash runs ``python PlexSync.py``, which puts the plugin folder first on ``sys.path``. From then
on ``import queue`` — done by urllib3 (requests), logging.handlers and concurrent.futures — finds
this folder instead of the standard library. Rather than rename the folder the design names, this
package loads the real module's source into its own namespace, so every stdlib name (Queue,
LifoQueue, Empty, Full, ...) is here and behaves exactly as the original, and PlexSync's own
modules live beside them as submodules (``queue.inbox``, ``queue.lease``, ``queue.work``).

Nothing else may be imported here: whatever this file imports, every ``import requests`` pays for.
"""

import importlib.machinery as _machinery
import os as _os
import sys as _sys


def _load_standard_queue() -> None:
    """Execute the standard library's queue.py in this module's namespace.

    The plugin folder (and the current directory, which ``python -c`` puts first) is left out of
    the search so that the finder cannot hand this package back to itself.
    """
    own_parent = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    search_path = [
        entry
        for entry in _sys.path
        if _os.path.abspath(entry or _os.curdir) != own_parent
    ]
    spec = _machinery.PathFinder.find_spec("queue", search_path)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "get_code"):
        raise ImportError("PlexSync could not find the standard library's queue module")
    code = spec.loader.get_code("queue")
    exec(code, globals())  # noqa: S102 - the interpreter's own stdlib source, by design


_load_standard_queue()
del _load_standard_queue
