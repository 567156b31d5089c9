"""Runs a Stash "raw" plugin process the way Stash does, with no server involved.

Everything the plugin can observe about how it is started is reproduced here: the strict manifest
parser, the argv and PYTHONPATH rules, the exact stdin bytes (Go's JSON encoding of
``PluginInput``), how stdout becomes ``{output, error}``, and the stderr log protocol with its
64 KiB line limit. Facts come from /work/shared/reference/stash-plugins.md sections 1-3; the
behaviour is kept in one module so fake_stash.py and tests that need no server share it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# Level characters of the stderr protocol (stash:pkg/plugin/common/log/log.go).
LOG_LEVEL_CHARS: dict[str, str] = {
    "t": "trace",
    "d": "debug",
    "i": "info",
    "w": "warning",
    "e": "error",
    "p": "progress",
}
ERR_LOG_LEVELS = ("trace", "debug", "info", "warning", "error", "none")
# bufio.Scanner's default token limit: a longer stderr line stops Stash's reader.
MAX_STDERR_LINE_BYTES = 64 * 1024
# Stash's DefaultMaxSessionAge; it is what MakePluginCookie puts in MaxAge.
DEFAULT_SESSION_MAX_AGE = 3600

_TOP_KEYS = {
    "name",
    "description",
    "url",
    "version",
    "exec",
    "interface",
    "errLog",
    "tasks",
    "hooks",
    "settings",
    "ui",
}
_TASK_KEYS = {"name", "description", "execArgs", "defaultArgs"}
_HOOK_KEYS = _TASK_KEYS | {"triggeredBy"}
_SETTING_KEYS = {"displayName", "description", "type"}
_UI_KEYS = {"javascript", "css", "requires", "csp", "assets"}
_CSP_KEYS = {"script-src", "style-src", "connect-src"}
_SETTING_TYPES = ("STRING", "NUMBER", "BOOLEAN")
_INTERFACES = ("raw", "rpc", "js")
_NULL_TAG = "tag:yaml.org,2002:null"

# Go's error text for processes that died from a signal (os/exec ExitError.Error()).
_GO_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGPIPE: "broken pipe",
    signal.SIGHUP: "hangup",
}


class ManifestError(ValueError):
    """The yml would make Stash refuse to load the plugin (its parser is strict)."""


# ----------------------------------------------------------------------------- manifest


@dataclass
class OperationConfig:
    """A task or hook entry: both carry execArgs and defaultArgs (strings, map[string]string)."""

    name: str
    description: str = ""
    exec_args: list[str] = field(default_factory=list)
    default_args: dict[str, str] = field(default_factory=dict)


@dataclass
class TaskConfig(OperationConfig):
    pass


@dataclass
class HookConfig(OperationConfig):
    triggered_by: list[str] = field(default_factory=list)


@dataclass
class PluginManifest:
    plugin_id: str
    yml_path: Path
    plugin_dir: Path
    name: str
    description: str
    version: str
    url: str
    exec: list[str]
    interface: str
    err_log: str
    tasks: list[TaskConfig]
    hooks: list[HookConfig]
    settings: dict[str, dict[str, str]]
    ui: dict[str, Any]

    def task(self, name: str) -> TaskConfig | None:
        for task in self.tasks:
            if task.name == name:
                return task
        return None

    def hooks_for(self, trigger: str) -> list[HookConfig]:
        """Hooks in file order, as Stash walks them; a typo'd trigger simply never matches."""
        return [hook for hook in self.hooks if trigger in hook.triggered_by]


class _StrictLoader(yaml.SafeLoader):
    """Composes nodes only; decoding is done by hand so strings keep their source text."""


def _where(node: yaml.Node) -> str:
    mark = node.start_mark
    return f"line {mark.line + 1}"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _mapping(node: yaml.Node, what: str, allowed: set[str] | None) -> dict[str, yaml.Node]:
    if _is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise ManifestError(f"{what} ({_where(node)}): expected a mapping")
    result: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ManifestError(f"{what} ({_where(key_node)}): keys must be scalars")
        key = key_node.value
        if key in result:
            raise ManifestError(f"{what} ({_where(key_node)}): key {key!r} already set in map")
        if allowed is not None and key not in allowed:
            raise ManifestError(f"{what} ({_where(key_node)}): field {key} not found")
        result[key] = value_node
    return result


def _string(node: yaml.Node, what: str) -> str:
    """yaml.v2 decodes any scalar into a Go string as its source text; null is ""."""
    if _is_null(node):
        return ""
    if not isinstance(node, yaml.ScalarNode):
        raise ManifestError(f"{what} ({_where(node)}): cannot unmarshal a collection into string")
    return node.value


def _strings(node: yaml.Node, what: str) -> list[str]:
    if _is_null(node):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise ManifestError(f"{what} ({_where(node)}): expected a list of strings")
    return [_string(item, what) for item in node.value]


def _string_map(node: yaml.Node, what: str) -> dict[str, str]:
    return {
        key: _string(value, f"{what}.{key}") for key, value in _mapping(node, what, None).items()
    }


def _operation(node: yaml.Node, what: str, hook: bool) -> dict[str, Any]:
    fields = _mapping(node, what, _HOOK_KEYS if hook else _TASK_KEYS)
    values: dict[str, Any] = {
        "name": _string(fields["name"], f"{what}.name") if "name" in fields else "",
        "description": _string(fields["description"], f"{what}.description")
        if "description" in fields
        else "",
        "exec_args": _strings(fields["execArgs"], f"{what}.execArgs")
        if "execArgs" in fields
        else [],
        "default_args": _string_map(fields["defaultArgs"], f"{what}.defaultArgs")
        if "defaultArgs" in fields
        else {},
    }
    if hook:
        values["triggered_by"] = (
            _strings(fields["triggeredBy"], f"{what}.triggeredBy")
            if "triggeredBy" in fields
            else []
        )
    return values


def _ui(node: yaml.Node) -> dict[str, Any]:
    fields = _mapping(node, "ui", _UI_KEYS)
    ui: dict[str, Any] = {}
    for key in ("javascript", "css", "requires"):
        if key in fields:
            ui[key] = _strings(fields[key], f"ui.{key}")
    if "csp" in fields:
        csp = _mapping(fields["csp"], "ui.csp", _CSP_KEYS)
        ui["csp"] = {key: _strings(value, f"ui.csp.{key}") for key, value in csp.items()}
    if "assets" in fields:
        ui["assets"] = _string_map(fields["assets"], "ui.assets")
    return ui


def load_manifest(yml_path: Path) -> PluginManifest:
    """Decode a plugin yml with Stash's rules: strict keys, string-typed values, ID from filename."""
    yml_path = Path(yml_path)
    if yml_path.suffix != ".yml":
        raise ManifestError(f"{yml_path.name}: Stash only loads files ending in .yml")
    try:
        root = yaml.compose(yml_path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{yml_path.name}: invalid YAML: {exc}") from exc
    if root is None:
        raise ManifestError(f"{yml_path.name}: empty file")
    top = _mapping(root, yml_path.name, _TOP_KEYS)

    def text(key: str) -> str:
        return _string(top[key], key) if key in top else ""

    interface = text("interface") or "raw"
    if interface not in _INTERFACES:
        raise ManifestError(f"{yml_path.name}: invalid interface {interface!r}")
    settings: dict[str, dict[str, str]] = {}
    for key, node in (
        _mapping(top["settings"], "settings", None) if "settings" in top else {}
    ).items():
        raw = _mapping(node, f"settings.{key}", _SETTING_KEYS)
        setting = {name: _string(value, f"settings.{key}.{name}") for name, value in raw.items()}
        setting.setdefault("displayName", key)
        setting["type"] = setting.get("type") or "STRING"
        if setting["type"] not in _SETTING_TYPES:
            raise ManifestError(f"{yml_path.name}: setting {key}: invalid type {setting['type']!r}")
        settings[key] = setting
    tasks_node = top.get("tasks")
    hooks_node = top.get("hooks")
    tasks = [
        TaskConfig(**_operation(node, f"tasks[{i}]", hook=False))
        for i, node in enumerate(
            tasks_node.value if isinstance(tasks_node, yaml.SequenceNode) else []
        )
    ]
    hooks = [
        HookConfig(**_operation(node, f"hooks[{i}]", hook=True))
        for i, node in enumerate(
            hooks_node.value if isinstance(hooks_node, yaml.SequenceNode) else []
        )
    ]
    for key, list_node in (("tasks", tasks_node), ("hooks", hooks_node)):
        if (list_node is not None and not _is_null(list_node)
                and not isinstance(list_node, yaml.SequenceNode)):
            raise ManifestError(f"{yml_path.name}: {key} must be a list")
    plugin_id = yml_path.stem
    err_log = text("errLog") or "error"
    return PluginManifest(
        plugin_id=plugin_id,
        yml_path=yml_path,
        plugin_dir=yml_path.parent,
        name=text("name") or plugin_id,
        description=text("description"),
        version=text("version"),
        url=text("url"),
        exec=_strings(top["exec"], "exec") if "exec" in top else [],
        interface=interface,
        err_log=err_log if err_log in ERR_LOG_LEVELS else "error",
        tasks=tasks,
        hooks=hooks,
        settings=settings,
        ui=_ui(top["ui"]) if "ui" in top else {},
    )


def yml_files(plugin_dir: Path, *, skip_dirs: Iterable[str] = (".git", ".venv")) -> list[Path]:
    """Every .yml Stash would parse as a plugin under ``plugin_dir`` (it walks recursively).

    A stray yml (CI config, fixture) inside a deployed plugin folder becomes a second plugin or a
    load error in Stash; tests use this to keep the shipped folder clean. ``skip_dirs`` exists only
    so that a developer checkout's virtualenv is not walked.
    """
    found: list[Path] = []
    skip = set(skip_dirs)
    for root, dirs, files in os.walk(plugin_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        found.extend(Path(root) / name for name in sorted(files) if name.endswith(".yml"))
    return found


# ----------------------------------------------------------------------------- stdin document


class GoStruct(dict):
    """A JSON object Go encodes from a struct: keys keep declaration order."""


class GoMap(dict):
    """A JSON object Go encodes from a map: keys are sorted, and so are nested plain objects."""


def _go_string(text: str) -> str:
    # encoding/json escapes <, >, & and U+2028/9 by default (HTML-safe output).
    encoded = json.dumps(text, ensure_ascii=False)
    return (
        encoded.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _go_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise ValueError("Go's encoding/json cannot encode NaN or Inf")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def go_json(value: Any, *, sort_maps: bool = False) -> str:
    """Compact JSON as Go's json.Marshal writes it (no spaces, HTML escaping, map keys sorted)."""
    if isinstance(value, GoStruct):
        items = list(value.items())
        return "{" + ",".join(f"{_go_string(str(k))}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, dict):
        sort_here = sort_maps or isinstance(value, GoMap)
        items = (
            sorted(value.items(), key=lambda kv: str(kv[0])) if sort_here else list(value.items())
        )
        return (
            "{"
            + ",".join(f"{_go_string(str(k))}:{go_json(v, sort_maps=sort_here)}" for k, v in items)
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(go_json(v, sort_maps=sort_maps) for v in value) + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def session_cookie(value: str, *, max_age: int = DEFAULT_SESSION_MAX_AGE) -> GoStruct:
    """A Go net/http.Cookie as encoding/json writes it (go 1.24 field set, no json tags)."""
    return GoStruct(
        Name="session",
        Value=value,
        Quoted=False,
        Path="/",
        Domain="",
        Expires="0001-01-01T00:00:00Z",
        RawExpires="",
        MaxAge=max_age,
        Secure=False,
        HttpOnly=False,
        SameSite=0,
        Partitioned=False,
        Raw="",
        Unparsed=None,
    )


def server_connection(
    *,
    port: int,
    cookie_value: str,
    stash_dir: Path,
    plugin_dir: Path,
    scheme: str = "http",
    host: str = "0.0.0.0",  # Stash's default config host, sent on purpose
    max_age: int = DEFAULT_SESSION_MAX_AGE,
) -> GoStruct:
    """StashServerConnection has no json tags, so the keys are the Go field names."""
    return GoStruct(
        Scheme=scheme,
        Host=host,
        Port=port,
        SessionCookie=session_cookie(cookie_value, max_age=max_age),
        Dir=str(stash_dir),
        PluginDir=str(plugin_dir),
    )


def apply_default_args(args: dict[str, Any], defaults: dict[str, str]) -> GoMap:
    """Stash's applyDefaultArgs: defaults only fill keys the caller did not send."""
    merged = GoMap(args)
    for key, value in defaults.items():
        merged.setdefault(key, value)
    return merged


def hook_context(
    object_id: int, hook_type: str, input_value: Any, input_fields: list[str] | None
) -> GoStruct:
    """common.HookContext: ``id`` and ``inputFields`` carry omitempty, ``input`` does not."""
    ctx = GoStruct()
    if object_id:
        ctx["id"] = object_id
    ctx["type"] = hook_type
    ctx["input"] = input_value
    if input_fields:
        ctx["inputFields"] = list(input_fields)
    return ctx


def encode_plugin_input(connection: dict[str, Any], args: dict[str, Any]) -> bytes:
    """The exact bytes Stash writes to the plugin's stdin (then it closes stdin)."""
    document = GoStruct(server_connection=connection, args=GoMap(args))
    return go_json(document).encode("utf-8")


# ----------------------------------------------------------------------------- argv / env


def is_python_command(argv0: str) -> bool:
    return argv0 in ("python", "python3")


def build_argv(
    manifest: PluginManifest, operation: OperationConfig | None, python: str
) -> list[str]:
    """exec + execArgs, {pluginDir} replaced in every arg but argv[0], python resolved by Stash."""
    argv = list(manifest.exec) + (list(operation.exec_args) if operation else [])
    if not argv:
        raise ManifestError(f"plugin {manifest.plugin_id} has no exec")
    plugin_dir = str(manifest.plugin_dir)
    argv = [argv[0]] + [arg.replace("{pluginDir}", plugin_dir) for arg in argv[1:]]
    if is_python_command(argv[0]):
        argv[0] = python
    else:
        argv[0] = shutil.which(argv[0]) or str(manifest.plugin_dir / argv[0])
    return argv


def build_env(
    base_env: dict[str, str], plugin_dir: Path, *, python_command: bool
) -> dict[str, str]:
    """PYTHONPATH = parent of the plugin dir, then any existing value (python commands only)."""
    env = dict(base_env)
    if python_command:
        parent = str(Path(plugin_dir).parent)
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = f"{parent}{os.pathsep}{existing}" if existing else parent
    return env


# ----------------------------------------------------------------------------- output parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Go's JSON decoder rejects {name}")


def _go_unmarshal(text: str) -> Any:
    """json.Unmarshal of a whole buffer: one value, surrounding whitespace only, no NaN."""
    return json.loads(text, parse_constant=_reject_constant)


def _pick_key(obj: dict[str, Any], name: str) -> tuple[bool, Any]:
    # encoding/json matches struct fields case-insensitively, preferring the exact spelling.
    if name in obj:
        return True, obj[name]
    for key, value in obj.items():
        if key.lower() == name:
            return True, value
    return False, None


def parse_plugin_output(stdout: bytes) -> tuple[Any, str | None]:
    """Stash's getOutput: a ``{output, error}`` object if stdout decodes into one, else the text."""
    text = stdout.decode("utf-8", errors="replace")
    try:
        value = _go_unmarshal(text)
    except ValueError:
        return text, None
    if value is None:
        return None, None
    if not isinstance(value, dict):
        return text, None
    _, output = _pick_key(value, "output")
    has_error, error = _pick_key(value, "error")
    if has_error and error is not None and not isinstance(error, str):
        return text, None  # UnmarshalTypeError on the *string field: Stash falls back to raw text
    return output, error


def exit_error(returncode: int) -> str | None:
    """The text of Go's ExitError, which Stash uses when the plugin set no error itself."""
    if returncode == 0:
        return None
    if returncode > 0:
        return f"exit status {returncode}"
    signum = -returncode
    try:
        name = _GO_SIGNAL_NAMES.get(signal.Signals(signum), f"signal {signum}")
    except ValueError:
        name = f"signal {signum}"
    return f"signal: {name}"


def stdout_contract_problems(stdout: bytes) -> list[str]:
    """What Stash would get wrong about this stdout; empty when it is exactly one result object."""
    problems: list[str] = []
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"stdout is not UTF-8: {exc}"]
    if not text.strip():
        return ['stdout is empty: Stash reports output "" and no error']
    try:
        value = _go_unmarshal(text)
    except ValueError as exc:
        return [f"stdout is not exactly one JSON document ({exc}): {text[:200]!r}"]
    if not isinstance(value, dict):
        return [f"stdout is JSON but not an object: {text[:200]!r}"]
    extra = sorted(set(value) - {"output", "error"})
    if extra:
        problems.append(f"unexpected keys in the result object: {extra}")
    if "output" not in value and "error" not in value:
        problems.append("the result object has neither 'output' nor 'error'")
    error = value.get("error")
    if error is not None and not isinstance(error, str):
        problems.append(f"'error' must be a string or null, got {type(error).__name__}")
    return problems


# ----------------------------------------------------------------------------- stderr parsing


@dataclass
class LogLine:
    level: str  # trace/debug/info/warning/error/progress, or the errLog level for bare lines
    message: str
    prefixed: bool


def parse_stderr_line(line: bytes, err_log: str) -> LogLine | None:
    """DetectLogLevel: needs len >= 4, 0x01 at [0], 0x02 at [2] and a known level character."""
    if len(line) >= 4 and line[0] == 0x01 and line[2] == 0x02:
        level = LOG_LEVEL_CHARS.get(chr(line[1]))
        if level is not None:
            return LogLine(level, line[3:].decode("utf-8", errors="replace").strip(), True)
    if err_log == "none":
        return None
    return LogLine(err_log, line.decode("utf-8", errors="replace"), False)


def _parse_progress(text: str) -> float | None:
    """strconv.ParseFloat: like float() but without Python's digit underscores or spaces."""
    if "_" in text or text != text.strip() or not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


class StderrParser:
    """Feeds stderr bytes through bufio.Scanner's line rules and the plugin log protocol."""

    def __init__(
        self,
        err_log: str,
        *,
        progress_enabled: bool,
        on_progress: Callable[[float], None] | None = None,
    ) -> None:
        self.err_log = err_log
        self.progress_enabled = progress_enabled
        self.on_progress = on_progress
        self.logs: list[tuple[str, str]] = []
        self.progress: list[float] = []
        self.unprefixed_lines: list[str] = []
        self.overflow = False
        self._pending = b""

    def feed(self, data: bytes) -> bool:
        """Returns False once a line exceeds the scanner limit: Stash stops reading there."""
        if self.overflow:
            return False
        self._pending += data
        while True:
            newline = self._pending.find(b"\n")
            if newline < 0:
                if len(self._pending) >= MAX_STDERR_LINE_BYTES:
                    self.overflow = True
                    return False
                return True
            if newline + 1 > MAX_STDERR_LINE_BYTES:
                self.overflow = True
                return False
            line, self._pending = self._pending[:newline], self._pending[newline + 1 :]
            self._handle(line)

    def close(self) -> None:
        if self._pending and not self.overflow:
            self._handle(self._pending)
        self._pending = b""

    def _handle(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            return  # ReadLogMessages skips empty tokens
        entry = parse_stderr_line(line, self.err_log)
        if entry is None:
            return
        if not entry.prefixed:
            self.unprefixed_lines.append(entry.message)
        if entry.level == "progress":
            value = _parse_progress(entry.message)
            if value is None:
                self.logs.append(("error", f"Error parsing progress value: {entry.message!r}"))
            elif self.progress_enabled:
                self.progress.append(value)
                if self.on_progress is not None:
                    self.on_progress(value)
            return
        self.logs.append((entry.level, entry.message))


def parse_stderr(
    data: bytes, err_log: str = "error", *, progress_enabled: bool = True
) -> StderrParser:
    parser = StderrParser(err_log, progress_enabled=progress_enabled)
    parser.feed(data)
    parser.close()
    return parser


# ----------------------------------------------------------------------------- running


@dataclass
class PluginRun:
    """One plugin process as Stash saw it; tests assert on these records."""

    kind: str  # "hook" | "task" | "operation"
    name: str
    args: dict[str, Any]
    argv: list[str]
    cwd: str
    stdin: bytes
    stdout: bytes = b""
    stderr: bytes = b""
    logs: list[tuple[str, str]] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)
    unprefixed_lines: list[str] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    exit_code: int | None = None
    wall_time: float = 0.0
    started_at: float = 0.0  # time.time() of process start
    finished_at: float = 0.0
    killed: bool = False
    timed_out: bool = False
    stderr_overflow: bool = False
    job_id: str | None = None
    # The session cookie value Stash handed this process (FakeStash.documents_for matches on it).
    session: str | None = None

    @property
    def hook_context(self) -> dict[str, Any] | None:
        value = self.args.get("hookContext")
        return value if isinstance(value, dict) else None

    def stdin_json(self) -> dict[str, Any]:
        return json.loads(self.stdin)

    def logs_at(self, level: str) -> list[str]:
        return [message for lvl, message in self.logs if lvl == level]


def assert_stdout_contract(run: PluginRun) -> dict[str, Any]:
    """Fails unless stdout is exactly one ``{output, error}`` object; returns that object."""
    problems = stdout_contract_problems(run.stdout)
    if problems:
        raise AssertionError(
            f"{run.kind} {run.name!r} broke the stdout contract: {'; '.join(problems)}\n"
            f"stderr tail: {run.stderr[-2000:]!r}"
        )
    return json.loads(run.stdout)


def run_plugin_process(
    argv: list[str],
    *,
    stdin: bytes,
    cwd: str | Path,
    env: dict[str, str],
    err_log: str,
    kind: str,
    name: str,
    args: dict[str, Any],
    timeout: float | None = 300.0,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> PluginRun:
    """Start, feed stdin in the background, read stdout to EOF, then wait, as raw.go does.

    Stash has no timeout; ``timeout`` exists so a hung plugin fails a test instead of hanging it,
    and it kills with SIGKILL like Stash's cancellation does.
    """
    run = PluginRun(kind=kind, name=name, args=args, argv=list(argv), cwd=str(cwd), stdin=stdin)
    parser = StderrParser(err_log, progress_enabled=(kind == "task"), on_progress=on_progress)
    stderr_chunks: list[bytes] = []
    stdout_chunks: list[bytes] = []
    run.started_at = time.time()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=str(cwd),
            env=env,
        )
    except OSError as exc:
        # Stash logs the start failure and carries on; the hook or task simply did not run.
        run.error = f"error running plugin: {exc}"
        run.finished_at = time.time()
        return run
    if on_start is not None:
        on_start(proc)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    def write_stdin() -> None:
        try:
            proc.stdin.write(stdin)  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass

    def read_stderr() -> None:
        fd = proc.stderr.fileno()  # type: ignore[union-attr]
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            stderr_chunks.append(chunk)
            if not parser.feed(chunk):
                break  # Stash's scanner gave up: it closes its end, later writes get EPIPE
        try:
            proc.stderr.close()  # type: ignore[union-attr]
        except OSError:
            pass

    def read_stdout() -> None:
        fd = proc.stdout.fileno()  # type: ignore[union-attr]
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            stdout_chunks.append(chunk)

    threads = [
        threading.Thread(target=write_stdin, daemon=True),
        threading.Thread(target=read_stderr, daemon=True),
    ]
    stdout_thread = threading.Thread(target=read_stdout, daemon=True)
    for thread in [*threads, stdout_thread]:
        thread.start()
    deadline = None if timeout is None else start + timeout
    stdout_thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    if stdout_thread.is_alive():
        run.timed_out = True
        _kill(proc)
        run.killed = True
        stdout_thread.join(5.0)
    try:
        remaining = None if deadline is None else max(0.1, deadline - time.monotonic())
        proc.wait(remaining)
    except subprocess.TimeoutExpired:
        run.timed_out = True
        _kill(proc)
        run.killed = True
        proc.wait(10.0)
    # A grandchild that inherited stderr must not hang the test; Stash would not wait for it either.
    for thread in threads:
        thread.join(5.0)
    for pipe in (proc.stdout, proc.stderr):
        try:
            pipe.close()
        except OSError:
            pass
    if not parser.overflow:
        parser.close()
    run.finished_at = time.time()
    run.wall_time = time.monotonic() - start
    run.stdout = b"".join(stdout_chunks)
    run.stderr = b"".join(stderr_chunks)
    run.logs = parser.logs
    run.progress = parser.progress
    run.unprefixed_lines = parser.unprefixed_lines
    run.stderr_overflow = parser.overflow
    run.exit_code = proc.returncode
    run.output, run.error = parse_plugin_output(run.stdout)
    if run.error is None:
        run.error = exit_error(proc.returncode)
    if proc.returncode is not None and proc.returncode == -signal.SIGKILL:
        run.killed = True
    return run


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.kill()
    except OSError:
        pass
