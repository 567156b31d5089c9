"""worker/install/vendor.py and worker/install/bootstrap.py with the real pip, offline.

The packages come from wheels built here into a local folder (a requirements.txt with
``--no-index --find-links``), so pip does everything it does for PyPI (resolve, unpack, write
``--target``) without the network. What is claimed: a stamp mismatch rebuilds, a failed or killed
install never replaces the folder in use, the vendor folder sits right after the plugin folder on
``sys.path`` so its versions win, a Python without pip is recognised, and a retry after a failed
import does not reuse the half-imported package.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from worker.install.vendor import LOCK_NAME, STAMP_NAME, Vendor, interpreter_tag, probe_pip

PKG = "demo_vendored"


def make_wheel(folder: Path, name: str, version: str, body: str) -> Path:
    """A minimal pure-Python wheel (what pip needs: METADATA, WHEEL, RECORD)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": body,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: plexsync-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in files.items():
            zf.writestr(member, text)
        zf.writestr(f"{dist}/RECORD", record)
    return path


def requirements_for(wheels: Path, spec: str = f"{PKG}==1.0") -> str:
    return f"--no-index\n--find-links {wheels}\n{spec}\n"


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    """A plugin folder whose requirements.txt resolves from a local wheel folder only."""
    folder = tmp_path / "plugins" / "PlexSync"
    folder.mkdir(parents=True)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, PKG, "1.0", "VERSION = '1.0'\n")
    (folder / "requirements.txt").write_text(requirements_for(wheels), encoding="utf-8")
    return folder


def libs(vendor: Vendor) -> set[str]:
    return {p.name for p in vendor.path.glob("lib-*")}


def install_ok(vendor: Vendor, **kwargs):
    result = vendor.install(**kwargs)
    assert result.ok, (result.message, result.tail)
    return result


def test_first_install_builds_a_stamped_folder_with_progress(plugin: Path) -> None:
    vendor = Vendor(plugin)
    assert vendor.status().state == "absent"
    logs: list[tuple[str, str]] = []
    progress: list[float] = []
    result = install_ok(vendor, log=lambda level, msg: logs.append((level, msg)), progress=progress.append)

    status = vendor.status()
    assert status.valid and status.lib == result.lib
    assert result.lib.parent == plugin / "vendor"
    assert (result.lib / PKG / "__init__.py").read_text() == "VERSION = '1.0'\n"
    stamp = json.loads((plugin / "vendor" / STAMP_NAME).read_text())
    assert stamp["lib"] == result.lib.name
    assert stamp["requirements_sha256"] == vendor.expected_stamp()["requirements_sha256"]
    assert {k: stamp[k] for k in ("python", "platform", "soabi")} == interpreter_tag()
    assert progress[0] < progress[-1] == 1.0 and progress == sorted(progress)
    assert any(level == "info" and "Successfully installed" in msg for level, msg in logs)
    assert not (plugin / "vendor" / LOCK_NAME).exists()


def test_stamp_mismatch_makes_it_stale_and_a_rebuild_replaces_it(plugin: Path) -> None:
    vendor = Vendor(plugin)
    first = install_ok(vendor).lib

    requirements = plugin / "requirements.txt"
    requirements.write_text(requirements.read_text() + "# a new pin\n", encoding="utf-8")
    status = vendor.status()
    assert status.state == "stale" and "requirements.txt changed" in status.reason

    requirements.write_text(requirements.read_text().replace("# a new pin\n", ""), encoding="utf-8")
    assert vendor.status().valid
    stamp_path = plugin / "vendor" / STAMP_NAME
    stamp = json.loads(stamp_path.read_text())
    stamp_path.write_text(json.dumps({**stamp, "python": "cpython 3.9"}))
    status = vendor.status()
    assert status.state == "stale" and "cpython 3.9" in status.reason
    stamp_path.write_text(json.dumps({**stamp, "soabi": "cpython-311-x86_64-linux-musl"}))
    assert vendor.status().state == "stale"

    second = install_ok(vendor).lib
    assert second != first and vendor.status().valid and vendor.status().lib == second
    assert libs(vendor) == {first.name, second.name}  # the replaced one is kept for running tasks
    third = install_ok(vendor).lib
    assert libs(vendor) == {second.name, third.name}  # anything older goes


def test_a_failed_install_keeps_the_folder_in_use(plugin: Path, tmp_path: Path) -> None:
    vendor = Vendor(plugin)
    good = install_ok(vendor).lib
    stamp_before = (plugin / "vendor" / STAMP_NAME).read_bytes()
    # The same requirements.txt, but the wheel is now corrupt: pip fails half-way.
    wheel = next((tmp_path / "wheels").glob("*.whl"))
    wheel.write_bytes(b"not a zip")

    result = vendor.install()
    assert not result.ok and result.lib is None
    assert "pip exited with status" in result.message
    assert result.tail and any("whl" in line or "zip" in line.lower() for line in result.tail), result.tail
    assert (plugin / "vendor" / STAMP_NAME).read_bytes() == stamp_before
    assert vendor.status().valid and vendor.status().lib == good
    assert libs(vendor) == {good.name}  # the half-built folder is gone
    assert not (plugin / "vendor" / LOCK_NAME).exists()


class HangingServer:
    """Accepts connections and never answers: pip waits on it until it is killed."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_install_keeps_the_folder_in_use_and_is_cleaned_up_later(plugin: Path) -> None:
    vendor = Vendor(plugin)
    good = install_ok(vendor).lib
    stamp_before = (plugin / "vendor" / STAMP_NAME).read_bytes()
    server = HangingServer()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_FIND_LINKS"] = f"http://127.0.0.1:{server.port}/"  # pip reads it and hangs
    env["PIP_DEFAULT_TIMEOUT"] = "120"
    env["PYTHONPATH"] = str(REPO)
    code = f"from worker.install.vendor import Vendor; Vendor({str(plugin)!r}).install()"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(libs(vendor)) < 2 or not (plugin / "vendor" / LOCK_NAME / "owner.json").exists():
            assert time.monotonic() < deadline, "the install never started"
            assert proc.poll() is None, "the install ended on its own"
            time.sleep(0.1)
        time.sleep(1.0)  # pip is inside its request now
        proc.kill()  # SIGKILL to the task process alone, as Stash stops a job
        proc.wait(10)
        if sys.platform.startswith("linux"):  # pip dies with it (PR_SET_PDEATHSIG)
            deadline = time.monotonic() + 10
            while _group_alive(proc.pid):
                assert time.monotonic() < deadline, "pip outlived the stopped task"
                time.sleep(0.1)
    finally:
        server.close()
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert (plugin / "vendor" / STAMP_NAME).read_bytes() == stamp_before
    assert vendor.status().valid and vendor.status().lib == good
    assert len(libs(vendor)) == 2  # the unfinished folder is there but nothing refers to it
    assert (plugin / "vendor" / LOCK_NAME).exists()

    # The next install breaks the dead process's lock and removes its leftovers.
    newest = install_ok(vendor).lib
    assert libs(vendor) == {good.name, newest.name}
    assert not (plugin / "vendor" / LOCK_NAME).exists()


def _python_probe(plugin: Path, code: str, extra_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(extra_path)])
    script = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(plugin)!r})  # as PlexSync.py does\n"
        "from worker.install.vendor import Vendor\n"
        f"vendor = Vendor({str(plugin)!r})\n" + code
    )
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_vendor_goes_right_after_the_plugin_folder_and_its_versions_win(plugin: Path, tmp_path: Path) -> None:
    vendor = Vendor(plugin)
    lib = install_ok(vendor).lib
    # An older copy that the "system" offers through PYTHONPATH (site-packages comes later still).
    system = tmp_path / "system"
    (system / PKG).mkdir(parents=True)
    (system / PKG / "__init__.py").write_text("VERSION = 'system'\n")

    seen = _python_probe(
        plugin,
        "vendor.activate(); vendor.activate()\n"
        f"import {PKG}, site\n"
        f"print(json.dumps({{'path': sys.path, 'version': {PKG}.VERSION, 'site': site.getsitepackages()}}))\n",
        system,
    )
    path = seen["path"]
    assert seen["version"] == "1.0"
    assert path.count(str(lib)) == 1
    assert path.index(str(lib)) == path.index(str(plugin)) + 1
    assert path.index(str(lib)) < path.index(str(system))
    for site_dir in seen["site"]:
        if site_dir in path:
            assert path.index(str(lib)) < path.index(site_dir)

    # Without a valid vendor folder nothing is added and the system copy is used.
    (plugin / "requirements.txt").write_text("# changed\n")
    seen = _python_probe(
        plugin, f"vendor.activate()\nimport {PKG}\nprint(json.dumps({{'path': sys.path, 'version': {PKG}.VERSION}}))\n", system
    )
    assert seen["version"] == "system" and str(lib) not in seen["path"]


def test_reactivation_after_a_rebuild_swaps_the_path_entry(plugin: Path, tmp_path: Path) -> None:
    vendor = Vendor(plugin)
    install_ok(vendor)
    seen = _python_probe(
        plugin,
        "first = str(vendor.activate())\n"
        "second = str(vendor.install().lib)\n"
        "vendor.activate()\n"
        "print(json.dumps({'path': sys.path, 'first': first, 'second': second}))\n",
        tmp_path,
    )
    assert seen["first"] != seen["second"]
    assert seen["first"] not in seen["path"] and seen["path"].count(seen["second"]) == 1


def test_a_python_without_pip_is_recognised(tmp_path: Path) -> None:
    venv = tmp_path / "nopip"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    probe = probe_pip(str(python))
    assert probe.version is None and "No module named pip" in probe.reason
    version = probe_pip(sys.executable).version
    assert version is not None and version.startswith("pip ")


def test_retry_forgets_what_the_failed_import_left_behind(tmp_path: Path) -> None:
    """A package whose __init__ fails half-way leaves its submodules in sys.modules."""
    broken, good = tmp_path / "site", tmp_path / "vendor-lib"
    for root, tail in ((broken, "import halfpkg._missing\n"), (good, "")):
        (root / "halfpkg").mkdir(parents=True)
        (root / "halfpkg" / "part.py").write_text(f"WHERE = {str(root)!r}\n")
        (root / "halfpkg" / "__init__.py").write_text("from halfpkg import part\n" + tail)
    script = f"""
import json, sys
sys.path.insert(0, {str(broken)!r})
from worker.install.bootstrap import forget_modules_since
before = set(sys.modules)
try:
    import halfpkg
except ModuleNotFoundError as exc:
    failed = exc.name
import decimal  # a standard-library module first imported by the failed attempt
kept = sys.modules["decimal"]
left_over = "halfpkg.part" in sys.modules
sys.path.insert(0, {str(good)!r})
forget_modules_since(before)
import halfpkg
print(json.dumps({{"failed": failed, "left_over": left_over, "where": halfpkg.part.WHERE,
                  "stdlib_kept": sys.modules["decimal"] is kept}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["failed"] == "halfpkg._missing" and seen["left_over"]
    assert seen["where"] == str(good)  # the retry imported the whole package afresh
    assert seen["stdlib_kept"]
