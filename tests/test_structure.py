"""The layout the README's "Development" section promises, checked: package layers without
cycles, storage SQL only in the storage classes, small modules, and a hook that imports only its
budget of the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hook_budget import SCENE_CHANGE, SETTLED_BY_INPUT, over_budget

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("stash", "sync", "queue", "hooks", "plex", "validation", "worker")
MAX_MODULE_LINES = 500
# The only product modules that run SQL: each owns its tables (the plugin database's storage
# classes, and the path index, which is a database of its own; queue/work.py tunes
# persist-queue's own file).
STORAGE_MODULES = {
    "sync/db.py", "sync/state.py", "sync/meta.py", "sync/error_log.py", "sync/ledger.py", "sync/collections.py", "queue/inbox.py", "queue/inbox_tasks.py",
    "queue/lease.py", "plex/index.py", "queue/work.py", "sync/performer_images.py", "sync/watch_ledger.py",
}


def product_modules() -> list[Path]:
    files = [REPO / "PlexSync.py"]
    for package in PACKAGES:
        files += sorted((REPO / package).rglob("*.py"))
    return files


def imported_packages(path: Path) -> set[str]:
    """Top-level plugin packages this module imports, anywhere in it (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in PACKAGES}
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            graph[package] |= imported_packages(path) - {package}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return trail[trail.index(node):] + [node]
        for target in sorted(graph[node]):
            cycle = visit(target, trail + [node])
            if cycle:
                return cycle
        return None

    for start in graph:
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_no_import_cycle_between_top_level_packages() -> None:
    graph = package_graph()
    assert find_cycle(graph) is None, f"import cycle: {' → '.join(find_cycle(graph) or [])}"
    # The layers the README describes: the hook's packages never reach the task-only ones.
    for low in ("stash", "sync", "queue", "hooks"):
        assert not graph[low] & {"plex", "validation", "worker"}, (low, graph[low])
    assert graph["stash"] == set()


def worker_modules_imported(path: Path) -> set[str]:
    """``worker.*`` modules this module imports, anywhere in it (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.startswith("worker.")}
    return found


def test_worker_is_grouped_by_role() -> None:
    """worker/ holds three roles, each in its own folder, layered: tasks → drain; install boots."""
    top = {p.name for p in (REPO / "worker").glob("*.py")}
    assert top == {"__init__.py", "cli.py", "context.py"}, top
    assert {p.name for p in (REPO / "worker").iterdir() if p.is_dir() and p.name != "__pycache__"} == {
        "tasks", "drain", "install"}
    for path in (REPO / "worker" / "drain").glob("*.py"):
        used = worker_modules_imported(path)
        # The engine never reaches up into what a task decides; of install, only its messages.
        assert not {m for m in used if m.startswith("worker.tasks")}, (path.name, used)
        assert {m for m in used if m.startswith("worker.install")} <= {
            "worker.install.dependencies", "worker.install.dependencies.missing_dependency_message"}, path.name
    for path in (REPO / "worker" / "install").glob("*.py"):
        used = worker_modules_imported(path)
        assert not {m for m in used if m.startswith("worker.drain")}, (path.name, used)
        assert {m for m in used if m.startswith("worker.tasks")} <= {
            "worker.tasks.dispatch", "worker.tasks.dispatch.run_task"}, (path.name, used)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_product_module_is_over_the_limit() -> None:
    sizes = {path.relative_to(REPO).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in product_modules()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_sql_runs_only_in_the_storage_classes() -> None:
    offenders = []
    for path in product_modules():
        rel = path.relative_to(REPO).as_posix()
        if rel in STORAGE_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("execute", "executemany", "executescript")
                    and not _is_graphql_call(node)):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def _is_graphql_call(node: ast.Call) -> bool:
    """``stash.execute(...)`` / ``ctx.stash.execute(...)``: GraphQL to Stash, not SQL."""
    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
    return (isinstance(receiver, ast.Name) and receiver.id == "stash") or (
        isinstance(receiver, ast.Attribute) and receiver.attr == "stash")


_HOOK_IMPORTS = """
import sys
sys.path.insert(0, sys.argv[1])
before = set(sys.modules)
__import__(sys.argv[2])
print("\\n".join(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize(("entry", "budget"), [
    ("stash.entry", {"stash", "stash.entry"}),  # every plugin process (it imports the rest on use)
    ("hooks.run", SETTLED_BY_INPUT - {"stash.entry"}),  # and every hook
    ("hooks.handlers", SCENE_CHANGE - {"hooks.run", "stash.entry"}),  # and a hook with work to do
])
def test_the_hook_path_imports_only_its_budget(entry: str, budget: frozenset[str]) -> None:
    """A hook runs once per edited scene and Stash waits for it: nothing heavy may load
    (tests/hook_budget.py; tests/test_hook_process.py measures whole hook processes)."""
    done = subprocess.run([sys.executable, "-S", "-c", _HOOK_IMPORTS, str(REPO), entry], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
    loaded = set(done.stdout.split())
    assert over_budget(loaded, budget) == {}
    assert not loaded & {"plexapi", "pydantic", "persistqueue", "requests", "urllib3"}
