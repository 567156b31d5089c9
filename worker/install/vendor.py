"""PlexSync's own copy of its Python packages: ``<plugin folder>/vendor``.

Stash's Docker image ships Python with pip and requests but none of plexapi, persist-queue or
pydantic, and whatever a user pip-installs into the container is gone when it is re-created. The
plugin folder survives (it is on the config volume), so the tasks install ``requirements.txt``
there with ``python -m pip install --target`` and put it on ``sys.path``. The hook never does:
it is standard library only and must stay as fast as a bare interpreter start.

Standard library only: this module runs precisely when the packages are missing.

Layout, chosen so that a failed or killed install can never leave a half-built folder in use::

    vendor/ACTIVE          the stamp: which lib-* folder is complete and what it was built for
    vendor/lib-<random>/   one complete `pip install --target` result
    vendor/.install-lock/  held while an install runs (two processes never build at once)

pip writes into a fresh ``lib-<random>`` folder that nothing refers to; only once pip succeeded
is ``ACTIVE`` replaced (``os.replace``, atomic) to point at it. A task reads ``ACTIVE`` once, so
it sees either the old complete folder or the new one. The stamp records a hash of
requirements.txt and the interpreter (implementation, major.minor, platform, ABI): when either
changes, the folder no longer counts and the next task that needs it builds a new one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[2]
VENDOR_NAME = "vendor"
STAMP_NAME = "ACTIVE"
LOCK_NAME = ".install-lock"
LIB_PREFIX = "lib-"
REQUIREMENTS_NAME = "requirements.txt"

PIP_PROBE_TIMEOUT_S = 20.0
# pip has its own network timeouts; this only stops a pip that hangs for good.
INSTALL_TIMEOUT_S = 30 * 60.0
# A lock older than this belongs to an install that died without removing it.
LOCK_STALE_S = INSTALL_TIMEOUT_S + 5 * 60.0
TAIL_LINES = 12

Logger = Callable[[str, str], None]  # (level, message); level: debug/info/warning/error
Progress = Callable[[float], None]


def _no_log(level: str, message: str) -> None:
    pass


def _no_progress(fraction: float) -> None:
    pass


def interpreter_tag() -> dict[str, str]:
    """What a vendor folder built by this interpreter is only good for.

    Pure-Python wheels would survive a change of interpreter, but pydantic-core is compiled for
    one implementation, minor version, platform and ABI (e.g. glibc vs musl, free-threaded).
    """
    impl = sys.implementation.name
    return {
        "python": f"{impl} {sys.version_info[0]}.{sys.version_info[1]}",
        "platform": sysconfig.get_platform(),
        "soabi": str(sysconfig.get_config_var("SOABI") or ""),
    }


def requirements_hash(requirements: Path) -> str:
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


@dataclass(frozen=True)
class VendorStatus:
    """What ``vendor/`` holds for this interpreter and requirements.txt.

    ``state`` is "valid" (usable as is), "absent" (never built) or "stale" (built for another
    requirements.txt or Python, or its folder is gone); ``reason`` says which, for the log.
    """

    state: str
    reason: str
    lib: Path | None = None
    stamp: dict = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.state == "valid"


@dataclass
class InstallResult:
    ok: bool
    lib: Path | None
    seconds: float
    message: str = ""
    tail: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PipProbe:
    """Whether ``python -m pip`` works: its version line, or why not."""

    version: str | None
    reason: str = ""


def probe_pip(python: str = sys.executable, timeout: float = PIP_PROBE_TIMEOUT_S) -> PipProbe:
    """Ask ``python -m pip --version``; a missing pip answers in well under a second."""
    try:
        proc = subprocess.run(
            [python, "-m", "pip", "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_pip_env(),
        )
    except subprocess.TimeoutExpired:
        return PipProbe(None, f"`{python} -m pip --version` did not answer within {timeout:.0f} s")
    except OSError as exc:
        return PipProbe(None, f"could not start {python}: {exc}")
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()
        return PipProbe(None, last[-1] if last else f"exit status {proc.returncode}")
    return PipProbe(proc.stdout.strip() or "pip")


def _pip_env() -> dict[str, str]:
    env = dict(os.environ)
    # pip's PEP 668 check ("externally-managed-environment", Alpine and Debian system Pythons)
    # guards the system site-packages; --target never writes there, and pip >= 23.0.1 skips the
    # check for --target by itself. The variable covers pip 23.0 and is ignored by older ones.
    env["PIP_BREAK_SYSTEM_PACKAGES"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


def pip_install_command(target: Path, requirements: Path, python: str = sys.executable) -> list[str]:
    """The install command, as run and as shown to the user."""
    return [
        python,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]


class Vendor:
    """``<plugin_dir>/vendor`` for the running interpreter."""

    def __init__(self, plugin_dir: Path = PLUGIN_DIR, *, python: str = sys.executable) -> None:
        self.plugin_dir = Path(plugin_dir).resolve()
        self.path = self.plugin_dir / VENDOR_NAME
        self.requirements = self.plugin_dir / REQUIREMENTS_NAME
        self.stamp_path = self.path / STAMP_NAME
        self.python = python

    # ------------------------------------------------------------------ state

    def expected_stamp(self) -> dict[str, str]:
        return {"requirements_sha256": requirements_hash(self.requirements), **interpreter_tag()}

    def read_stamp(self) -> dict:
        try:
            stamp = json.loads(self.stamp_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return stamp if isinstance(stamp, dict) else {}

    def status(self) -> VendorStatus:
        stamp = self.read_stamp()
        if not stamp:
            return VendorStatus("absent", f"{self.path} holds no complete install")
        lib_name = stamp.get("lib")
        lib = self.path / lib_name if isinstance(lib_name, str) and lib_name else None
        if lib is None or lib.parent != self.path or not lib.is_dir():
            return VendorStatus("stale", f"the folder named in {self.stamp_path} is gone", None, stamp)
        try:
            expected = self.expected_stamp()
        except OSError as exc:
            return VendorStatus("stale", f"cannot read {self.requirements}: {exc}", lib, stamp)
        if stamp.get("requirements_sha256") != expected["requirements_sha256"]:
            return VendorStatus("stale", "requirements.txt changed since it was built", lib, stamp)
        for key in ("python", "platform", "soabi"):
            if stamp.get(key) != expected[key]:
                return VendorStatus(
                    "stale",
                    f"it was built for {stamp.get(key) or 'another Python'}, this is {expected[key]}",
                    lib,
                    stamp,
                )
        return VendorStatus("valid", "up to date", lib, stamp)

    # ------------------------------------------------------------------ sys.path

    def activate(self, status: VendorStatus | None = None) -> Path | None:
        """Put the valid vendor folder on ``sys.path`` right after the plugin folder.

        Before site-packages (and PYTHONPATH), so the vendored versions win over whatever the
        system Python has. Any other vendor folder a previous call put there is taken out.
        """
        status = status or self.status()
        if not status.valid or status.lib is None:
            return None
        lib = str(status.lib)
        own = _real(str(self.path)) + os.sep
        sys.path[:] = [entry for entry in sys.path if not _real(entry).startswith(own)]
        # Compared resolved: Stash follows symlinks into plugin folders, and PlexSync.py puts
        # the folder on sys.path as it was reached.
        plugin = _real(str(self.plugin_dir))
        index = 0
        for i, entry in enumerate(sys.path):
            if _real(entry) == plugin:
                index = i + 1
                break
        sys.path.insert(index, lib)
        importlib.invalidate_caches()
        return status.lib

    # ------------------------------------------------------------------ install

    def install(
        self,
        *,
        log: Logger = _no_log,
        progress: Progress = _no_progress,
        timeout: float = INSTALL_TIMEOUT_S,
    ) -> InstallResult:
        """Build a new lib folder with pip and make it the active one, or leave everything as is.

        Holds the install lock for the whole build; a second process waits for it and then uses
        what the first one built if that is now valid.
        """
        started = time.monotonic()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return InstallResult(False, None, 0.0, f"cannot create {self.path}: {exc}")
        try:
            lock = _InstallLock(self.path / LOCK_NAME, wait=timeout)
            with lock:
                if lock.waited:
                    current = self.status()
                    if current.valid:
                        log("info", f"another PlexSync process has just built {self.path}; using it")
                        return InstallResult(True, current.lib, time.monotonic() - started)
                return self._install_locked(log, progress, timeout, started)
        except _LockTimeout as exc:
            return InstallResult(False, None, time.monotonic() - started, str(exc))
        except OSError as exc:
            return InstallResult(False, None, time.monotonic() - started, f"cannot write {self.path}: {exc}")

    def _install_locked(
        self, log: Logger, progress: Progress, timeout: float, started: float
    ) -> InstallResult:
        previous = self.read_stamp()
        self._remove_unused_libs(keep=_stamp_libs(previous))
        lib = self.path / f"{LIB_PREFIX}{os.urandom(4).hex()}"
        lib.mkdir()
        expected = self.expected_stamp()
        command = pip_install_command(lib, self.requirements, self.python)
        ok, tail, why = _run_pip(command, cwd=self.path, timeout=timeout, log=log, progress=progress)
        if not ok:
            shutil.rmtree(lib, ignore_errors=True)
            return InstallResult(False, None, time.monotonic() - started, why, tail)
        stamp = {
            **expected,
            "lib": lib.name,
            "previous": previous.get("lib") if isinstance(previous.get("lib"), str) else None,
            "installed_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        tmp = self.path / f".{STAMP_NAME}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.stamp_path)  # the switch: from here on the new folder is the one
        # The folder replaced just now is kept: a task started before the switch may still import
        # from it lazily. Anything older goes.
        self._remove_unused_libs(keep=_stamp_libs(stamp))
        progress(1.0)
        return InstallResult(True, lib, time.monotonic() - started, "", tail)

    def _remove_unused_libs(self, keep: set[str]) -> None:
        for entry in self.path.iterdir():
            if entry.name.startswith(LIB_PREFIX) and entry.name not in keep and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(f".{STAMP_NAME}.") and entry.name.endswith(".tmp"):
                try:
                    entry.unlink()
                except OSError:
                    pass


def _real(entry: str) -> str:
    return os.path.normcase(os.path.realpath(entry or os.curdir))


def _stamp_libs(stamp: dict) -> set[str]:
    return {name for name in (stamp.get("lib"), stamp.get("previous")) if isinstance(name, str) and name}


def _run_pip(
    command: Sequence[str], *, cwd: Path, timeout: float, log: Logger, progress: Progress
) -> tuple[bool, list[str], str]:
    """Run pip, turning its output into progress; (ok, last lines, why it failed)."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        proc = subprocess.Popen(
            list(command),
            preexec_fn=_die_with_parent(),  # no other thread of ours runs at this point
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=_pip_env(),
        )
    except OSError as exc:
        return False, [], f"could not start pip: {exc}"
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    timer.start()
    collected = 0
    fraction = 0.02
    progress(fraction)
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip()
            if not line:
                continue
            tail.append(line)
            if line.startswith("Collecting "):
                collected += 1
                fraction = max(fraction, 0.05 + 0.6 * (1 - 0.85**collected))
                log("info", f"pip: {line.split(' (from ')[0]}")
            elif line.startswith("Installing collected packages"):
                fraction = max(fraction, 0.8)
                log("info", f"pip: {line}")
            elif line.startswith("Successfully installed"):
                fraction = max(fraction, 0.95)
                log("info", f"pip: {line}")
            else:
                log("debug", f"pip: {line}")
            progress(fraction)
        returncode = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if timed_out.is_set():
        return False, list(tail), f"pip did not finish within {timeout / 60:.0f} minutes"
    if returncode != 0:
        return False, list(tail), f"pip exited with status {returncode}"
    return True, list(tail), ""


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, pip gets SIGKILL when this process dies (Stash stops a task with SIGKILL).

    Without it a stopped task's pip would go on downloading into a folder nothing will use.
    Elsewhere it is left running: harmless, the folder is not used and the next install removes it.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:  # runs in the child, between fork and exec
        prctl(pr_set_pdeathsig, 9)  # SIGKILL

    return set_death_signal


class _LockTimeout(Exception):
    pass


class _InstallLock:
    """A directory created with ``os.mkdir`` (atomic on every OS Stash runs on).

    A lock whose owner died (same host, POSIX, process gone) or that is older than any install
    may take is broken; otherwise the caller waits for it.
    """

    def __init__(self, path: Path, *, wait: float) -> None:
        self.path = path
        self.wait = wait
        self.waited = False

    def __enter__(self) -> _InstallLock:
        deadline = time.monotonic() + self.wait
        while True:
            try:
                os.mkdir(self.path)
            except FileExistsError:
                if self._stale():
                    shutil.rmtree(self.path, ignore_errors=True)
                    continue
                if time.monotonic() >= deadline:
                    raise _LockTimeout(
                        f"another PlexSync process has been installing into {self.path.parent} "
                        f"for over {self.wait / 60:.0f} minutes"
                    ) from None
                self.waited = True
                time.sleep(1.0)
                continue
            owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
            (self.path / "owner.json").write_text(json.dumps(owner), encoding="utf-8")
            return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _stale(self) -> bool:
        try:
            owner = json.loads((self.path / "owner.json").read_text(encoding="utf-8"))
            started = float(owner["started"])
            host, pid = str(owner["host"]), int(owner["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            # Being written this instant, or left half-written by a killed process.
            try:
                return time.time() - self.path.stat().st_mtime > 60
            except OSError:
                return False
        if time.time() - started > LOCK_STALE_S:
            return True
        return os.name == "posix" and host == socket.gethostname() and not _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # POSIX only: on Windows this would terminate the process
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
