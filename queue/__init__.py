"""PlexSync's queue package, which is also the standard library's ``queue`` module.

Stash runs ``python PlexSync.py``, which puts the plugin folder first on ``sys.path``. From then
on ``import queue`` — done by urllib3 (requests), logging.handlers and concurrent.futures — finds
this folder instead of the standard library. Rather than rename the folder the design names, this
package loads the real module's source into its own namespace, so every stdlib name (Queue,
LifoQueue, Empty, Full, ...) is here and behaves exactly as the original, and PlexSync's own
modules live beside them as submodules (``queue.inbox``, ``queue.lease``, ``queue.work``).

The standard names are loaded on first use (a module ``__getattr__``): the real module imports
``threading``, which a hook, importing only ``queue.inbox`` and ``queue.lease``, never needs.
Nothing else may be imported here: whatever this file imports, every ``import requests`` pays for.
"""

import _thread

# The submodules: asking for one of them (``from queue import lease``) must import it, not load
# the standard names.
_OWN = frozenset({"inbox", "inbox_tasks", "lease", "work"})
_load_lock = _thread.allocate_lock()
_loaded = False


def _load_standard_queue() -> None:
    """Execute the standard library's queue.py in this module's namespace.

    The plugin folder (and the current directory, which ``python -c`` puts first) is left out of
    the search so that the finder cannot hand this package back to itself.
    """
    import importlib.machinery as machinery
    import os
    import sys

    own_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    search_path = [
        entry
        for entry in sys.path
        if os.path.abspath(entry or os.curdir) != own_parent
    ]
    spec = machinery.PathFinder.find_spec("queue", search_path)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "get_code"):
        raise ImportError("PlexSync could not find the standard library's queue module")
    code = spec.loader.get_code("queue")
    exec(code, globals())  # noqa: S102 - the interpreter's own stdlib source, by design


def __getattr__(name: str) -> object:
    """A standard name (Queue, Empty, ``__all__`` ...): load them all, once, then answer."""
    global _loaded
    if name in _OWN or (name.startswith("__") and name != "__all__"):
        raise AttributeError(f"module 'queue' has no attribute {name!r}")
    with _load_lock:  # two threads must not make two different Empty classes
        if not _loaded:
            _load_standard_queue()
            _loaded = True
    try:
        return globals()[name]
    except KeyError:
        raise AttributeError(f"module 'queue' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    __getattr__("__all__")
    return sorted(globals())
