"""queue/ is PlexSync's package AND a full stand-in for the standard library's ``queue`` module.

Stash runs ``python PlexSync.py``, so the plugin folder is first on sys.path and every later
``import queue`` (urllib3, logging.handlers, concurrent.futures) finds this package. Each check
runs in a fresh interpreter, started the ways the plugin can be started, because the test
process itself has imported the standard module long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Runs in the child. REPO_QUEUE is the expected file of the package (argv[1]).
PROBE = r'''
import sys

assert "queue" not in sys.modules, "something imported queue before the probe"
import queue

import importlib.util
import os
import sysconfig
import threading

report = {"sys_path0": sys.path[0]}
expected_file = os.path.realpath(sys.argv[1])
assert os.path.realpath(queue.__file__) == expected_file, (queue.__file__, expected_file)
assert hasattr(queue, "__path__"), "queue is not a package"

# The real standard-library module, loaded under another name, is the reference.
spec = importlib.util.spec_from_file_location(
    "_reference_queue", os.path.join(sysconfig.get_paths()["stdlib"], "queue.py")
)
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)
missing = [name for name in reference.__all__ if not hasattr(queue, name)]
assert not missing, missing
assert list(queue.__all__) == list(reference.__all__)
report["names"] = sorted(reference.__all__)

# FIFO, LIFO, priority and simple queues behave as the standard ones.
q = queue.Queue()
for i in range(3):
    q.put(i)
assert [q.get() for _ in range(3)] == [0, 1, 2]
assert q.empty() and q.qsize() == 0
lifo = queue.LifoQueue()
for i in range(3):
    lifo.put(i)
assert [lifo.get() for _ in range(3)] == [2, 1, 0]
prio = queue.PriorityQueue()
for item in [(3, "c"), (1, "a"), (2, "b")]:
    prio.put(item)
assert [prio.get()[1] for _ in range(3)] == ["a", "b", "c"]
simple = queue.SimpleQueue()
simple.put("x")
simple.put("y")
assert (simple.get(), simple.get()) == ("x", "y")
assert isinstance(lifo, queue.Queue) and isinstance(prio, queue.Queue)

# Empty and Full are raised and catchable through this module's names.
caught = []
for make, action in [
    (queue.Queue, lambda qq: qq.get_nowait()),
    (queue.Queue, lambda qq: qq.get(timeout=0.01)),
    (queue.LifoQueue, lambda qq: qq.get(block=False)),
    (queue.SimpleQueue, lambda qq: qq.get(timeout=0.01)),
]:
    try:
        action(make())
    except queue.Empty:
        caught.append("Empty")
bounded = queue.Queue(maxsize=1)
bounded.put_nowait(1)
assert bounded.full()
for action in (lambda: bounded.put_nowait(2), lambda: bounded.put(2, timeout=0.01)):
    try:
        action()
    except queue.Full:
        caught.append("Full")
assert caught == ["Empty"] * 4 + ["Full"] * 2, caught
assert issubclass(queue.Empty, Exception) and issubclass(queue.Full, Exception)

# task_done/join across threads.
work = queue.Queue()
done = []
def consume():
    while True:
        item = work.get()
        if item is None:
            work.task_done()
            return
        done.append(item * 2)
        work.task_done()
t = threading.Thread(target=consume)
t.start()
for i in range(5):
    work.put(i)
work.put(None)
work.join()
t.join(timeout=10)
assert sorted(done) == [0, 2, 4, 6, 8]

# PlexSync's own submodules live beside the standard names.
import queue.inbox
import queue.lease
from queue.inbox import Inbox
assert sys.modules["queue.inbox"].Inbox is Inbox
assert queue.lease.Inbox is Inbox

# The standard library and the dependencies that import queue all load and work.
import concurrent.futures
import logging
import logging.handlers

import requests
import urllib3

assert sys.modules["queue"] is queue

with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
    assert pool.submit(pow, 2, 10).result(timeout=30) == 1024
    assert list(pool.map(lambda n: n * n, range(6), timeout=30)) == [0, 1, 4, 9, 16, 25]

records = queue.Queue()
listener_seen = []
class Collect(logging.Handler):
    def emit(self, record):
        listener_seen.append(record.getMessage())
listener = logging.handlers.QueueListener(records, Collect())
listener.start()
log = logging.getLogger("probe")
log.propagate = False
log.addHandler(logging.handlers.QueueHandler(records))
log.warning("through %s", "the queue")
listener.stop()
assert listener_seen == ["through the queue"], listener_seen

pool = urllib3.HTTPConnectionPool("127.0.0.1", port=9, maxsize=1, block=True)
assert isinstance(pool.pool, queue.LifoQueue)
held = pool._get_conn()
try:
    pool._get_conn(timeout=0.01)
    raise AssertionError("an exhausted blocking pool handed out a connection")
except urllib3.exceptions.EmptyPoolError:
    pass  # urllib3 caught this module's Empty and turned it into its own error
pool._put_conn(held)

import http.server
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
threading.Thread(target=server.serve_forever, daemon=True).start()
try:
    with requests.Session() as session:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        bodies = [session.get(url, timeout=10).text for _ in range(3)]  # reuses the pooled conn
    assert bodies == ["hello"] * 3
finally:
    server.shutdown()
    server.server_close()

report["ok"] = True
import json
print(json.dumps(report))
'''


def run_probe(argv: list[str], cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["ok"] is True
    return report


def test_plugin_dir_script_first_on_sys_path(tmp_path: Path) -> None:
    """As Stash runs PlexSync.py: a script in the plugin folder, which Python puts first."""
    if os.name != "posix":
        pytest.skip("builds the plugin folder with symlinks")
    plugin = tmp_path / "plugins" / "PlexSync"
    plugin.mkdir(parents=True)
    for package in ("queue", "sync", "hooks", "stash"):
        (plugin / package).symlink_to(REPO / package, target_is_directory=True)
    script = plugin / "probe.py"
    script.write_text(PROBE)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    report = run_probe([sys.executable, str(script), str(plugin / "queue" / "__init__.py")], elsewhere)
    assert Path(report["sys_path0"]) == plugin
    assert "Queue" in report["names"] and "Empty" in report["names"]


def test_repo_inserted_first_as_plexsync_py_does(tmp_path: Path) -> None:
    """PlexSync.py run from elsewhere inserts its own folder at sys.path[0] before any import."""
    script = tmp_path / "launcher.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(REPO)!r})\n" + PROBE)
    report = run_probe([sys.executable, str(script), str(REPO / "queue" / "__init__.py")], tmp_path)
    assert Path(report["sys_path0"]) == REPO


def test_python_dash_c_from_the_repo_root() -> None:
    """``python -c`` puts the current directory (as '') first on sys.path."""
    report = run_probe([sys.executable, "-c", PROBE, str(REPO / "queue" / "__init__.py")], REPO)
    assert report["sys_path0"] == ""


def test_plugin_entry_point_imports_with_the_package_in_place() -> None:
    """The hook path's modules load together with requests in one interpreter."""
    code = (
        "import sys, queue, requests, concurrent.futures, logging.handlers\n"
        "from hooks import handlers\n"
        "from queue import lease\n"
        "assert handlers.lease is lease and hasattr(queue, 'Queue') and hasattr(queue, 'inbox')\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
