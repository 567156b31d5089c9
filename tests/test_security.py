"""Secrets, TLS and injection: the token leaks nowhere, certificates are checked, SQL is constant.

The token scan itself is the autouse ``leak_scan`` fixture in conftest.py, applied to every test
that starts a stand-in; the first tests here prove that it catches what it must.
"""

from __future__ import annotations

import ast
import re
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import PLEX_TOKEN, REPO, LeakScan
from tests.helpers import (
    configure,
    inbox,
    process_queue,
    queue_directly,
    run_task,
    synced,
)

# -- the leak scan catches leaks -----------------------------------------------------------------


def _run(**fields) -> SimpleNamespace:
    base: dict[str, Any] = {"kind": "task", "name": "Process queue", "args": {}, "stdout": b"{}", "stderr": b"",
            "logs": [], "output": None, "error": None}
    base.update(fields)
    return SimpleNamespace(**base)


def _stash(runs, tmp_path: Path, documents=()) -> SimpleNamespace:
    return SimpleNamespace(runs=runs, stash_log=[], received_documents=list(documents),
                           _env={"PLEXSYNC_DATA_DIR": str(tmp_path)}, plugin_dir=tmp_path)


@pytest.mark.parametrize("where", ["stdout", "stderr", "logs", "output", "error", "document", "file",
                                   "plex url", "plex query token"])
def test_leak_scan_finds_the_token_wherever_it_is(where: str, tmp_path: Path) -> None:
    token = PLEX_TOKEN
    run = _run()
    documents = []
    plex_records = []
    if where == "stdout":
        run.stdout = f'{{"output": "{token}"}}'.encode()
    elif where == "stderr":
        run.stderr = f"\x01e\x02token={token}\n".encode()
    elif where == "logs":
        run.logs = [("debug", f"GET /?X-Plex-Token={token}")]
    elif where == "output":
        run.output = {"nested": [{"token": token}]}
    elif where == "error":
        run.error = f"failed with {token}"
    elif where == "document":
        documents.append(SimpleNamespace(query="query { x }", variables={"t": token}))
    elif where == "file":
        (tmp_path / "work").mkdir()
        (tmp_path / "work" / "data").write_bytes(b"\x00\x01" + token.encode() + b"\xff")
    elif where == "plex url":
        plex_records.append(SimpleNamespace(method="GET", path=f"/x/{token}", raw_path=f"/x/{token}",
                                            query="", params=[], token_source="header"))
    else:
        plex_records.append(SimpleNamespace(method="GET", path="/", raw_path="/", query="",
                                            params=[], token_source="query"))
    scan = LeakScan()
    scan.stashes.append(_stash([run], tmp_path, documents))
    scan.plexes.append(SimpleNamespace(log_snapshot=lambda: plex_records))
    assert scan.findings(), where

    clean = LeakScan()
    clean.stashes.append(_stash([_run()], tmp_path / "empty",
                                [SimpleNamespace(query="mutation { configurePlugin }", variables={"t": token})]))
    assert clean.findings() == []  # configurePlugin carries the token by design; not a leak


API_KEY = "stash-api-key-5be0d8e4"


@pytest.mark.parametrize("where", ["stdout", "stderr", "logs", "output", "error", "stash log", "document",
                                   "file", "plex url"])
def test_leak_scan_option_leaves_a_secret_to_plex_urls_only(where: str, tmp_path: Path) -> None:
    """A secret added with ``plex_requests=False`` (Stash's API key, which Plex receives inside the
    photo URLs by design) is still found everywhere else; the Plex token is found in Plex URLs."""
    run = _run()
    stash = _stash([run], tmp_path)
    plex_records = []
    if where == "stdout":
        run.stdout = f'{{"output": "{API_KEY}"}}'.encode()
    elif where == "stderr":
        run.stderr = f"\x01e\x02apikey={API_KEY}\n".encode()
    elif where == "logs":
        run.logs = [("info", f"photo http://stash:9999/performer/1/image?apikey={API_KEY}")]
    elif where == "output":
        run.output = {"photos": [{"url": f"http://stash:9999/performer/1/image?apikey={API_KEY}"}]}
    elif where == "error":
        run.error = f"failed with {API_KEY}"
    elif where == "stash log":
        stash.stash_log.append(("error", f"plugin said {API_KEY}"))
    elif where == "document":
        stash.received_documents.append(SimpleNamespace(query="query { x }", variables={"k": API_KEY}))
    elif where == "file":
        (tmp_path / "ledger.db").write_bytes(b"\x00" + API_KEY.encode() + b"\xff")
    else:
        url = f"/library/sections/1/all?actor[0].tag.thumb=http://stash:9999/performer/1/image?apikey={API_KEY}"
        plex_records.append(SimpleNamespace(method="PUT", path="/library/sections/1/all", raw_path=url,
                                            query=url.split("?", 1)[1], params=[("x", API_KEY)],
                                            token_source="header"))

    def scan(**option: bool) -> list[str]:
        leak_scan = LeakScan()
        leak_scan.add(API_KEY, **option)
        leak_scan.stashes.append(stash)
        leak_scan.plexes.append(SimpleNamespace(log_snapshot=lambda: plex_records))
        return leak_scan.findings()

    assert scan(), where  # added as the Plex token is: found wherever it is
    if where == "plex url":
        assert scan(plex_requests=False) == []  # where it belongs by design
    else:
        [finding] = scan(plex_requests=False)
        assert API_KEY[:6] in finding, finding

    # The Plex token is still searched in the Plex requests, whatever else was added.
    token_url = SimpleNamespace(method="GET", path=f"/x/{PLEX_TOKEN}", raw_path=f"/x/{PLEX_TOKEN}", query="",
                                params=[], token_source="header")
    leak_scan = LeakScan()
    leak_scan.add(API_KEY, plex_requests=False)
    leak_scan.plexes.append(SimpleNamespace(log_snapshot=lambda: [token_url]))
    assert leak_scan.findings()
    with pytest.raises(ValueError):
        leak_scan.add(PLEX_TOKEN, plex_requests=False)


# -- TLS --------------------------------------------------------------------------------------


def serve_https(plex, cert: Path, key: Path) -> str:
    """Put TLS with the self-signed certificate in front of the Plex stand-in; its https URL."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    plex._httpd.socket = context.wrap_socket(plex._httpd.socket, server_side=True)
    return plex.url.replace("http://", "https://")


def test_tls_is_verified_for_https_and_off_only_when_asked(linked, data_dir: Path, self_signed) -> None:
    stash, plex = linked
    cert, key = self_signed
    url = serve_https(plex, cert, key)
    rk = plex.add_movie(1, "tls", ["/media/videos/tls.mp4"])
    scene = stash.add_scene("Over TLS", ["/media/videos/tls.mp4"])
    queue_directly(data_dir, stash, [scene])

    configure(stash, url)  # tls_verify on (the default)
    refused = process_queue(stash)
    assert refused.exit_code == 1
    assert "certificate" in refused.error and "tls_verify" in refused.error, refused.error
    assert refused.logs_at("error") == [refused.error]
    assert inbox(data_dir)[int(scene)]["state"] == "pending"
    assert inbox(data_dir)[int(scene)]["attempts"] == 0
    assert plex.log_snapshot() == []  # no request got through the handshake
    assert plex.item(rk)["title"] == "tls"

    # Verification really is on, not merely failing: trusting the certificate makes it work.
    stash._env["REQUESTS_CA_BUNDLE"] = str(cert)
    try:
        trusted = process_queue(stash)
    finally:
        del stash._env["REQUESTS_CA_BUNDLE"]
    assert trusted.error is None and trusted.output["written"] == 1
    assert not [m for m in trusted.logs_at("warning") if "tls_verify" in m]
    assert plex.item(rk)["title"] == "Over TLS"

    # tls_verify off: an explicit setting, and every run says so.
    configure(stash, url, tls_verify=False)
    stash.update_scene(scene, title="Unverified TLS")
    stash.wait_for_jobs(60)
    for _ in range(2):
        run = process_queue(stash)
        assert run.error is None
        assert len([m for m in run.logs_at("warning") if "tls_verify is off" in m]) == 1, run.logs
    assert plex.item(rk)["title"] == "Unverified TLS"
    assert int(scene) in synced(data_dir)


# -- SQL and shell ----------------------------------------------------------------------------


def _product_files() -> list[Path]:
    build = ast.parse((REPO / "scripts" / "build_plugin.py").read_text(encoding="utf-8"))
    [packages] = [ast.literal_eval(node.value) for node in build.body if isinstance(node, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == "PACKAGES" for t in node.targets)]
    files = [REPO / "PlexSync.py"]
    for package in packages:  # exactly what ships in the plugin zip
        files += sorted(p for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts)
    return files


SQL_METHODS = {"execute", "executemany", "executescript"}
CONSTANT_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")
MARKER = re.compile(r"#\s*noqa:\s*S608\b(.*)$")
ALLOWED_MARKERS = re.compile(r"^\s*-\s*(constant|placeholders only)\b")
# Names bound by a call the scanner cannot follow, checked at run time below.
RUNTIME_CHECKED = {
    ("plex/index.py", "clause"),
    # Table definitions reach sync.db as ``Table`` values: every one is built from literals only
    # (test_table_definitions_are_literals).
    ("sync/db.py", "statement"),
    ("sync/db.py", "alter"),
}


class SqlScanner:
    """Every SQL string reaching execute*/ must be built from constants only.

    Allowed: string literals; module-level constants (UPPER_CASE names bound to literals);
    ``int()``/``float()`` of anything (a number cannot inject); placeholder lists built as
    ``",".join("?" * n)``; names bound to any of these in the same function. f-strings and
    concatenations additionally need a ``# noqa: S608 - constant`` / ``- placeholders only``
    marker on the statement. Anything else (%, .format, a value from a parameter) is reported.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rel = path.relative_to(REPO).as_posix()
        self.source = path.read_text(encoding="utf-8")
        self.lines = self.source.splitlines()
        self.tree = ast.parse(self.source)
        self.constants = self._literal_constants(self.tree) | self._imported_constants()
        self.problems: list[str] = []

    @classmethod
    def _literal_constants(cls, tree: ast.Module) -> set[str]:
        """Module-level UPPER_CASE names bound to literals."""
        return {
            target.id
            for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and CONSTANT_NAME.match(target.id) and cls._literal(node.value)
        }

    def _imported_constants(self) -> set[str]:
        """UPPER_CASE names imported from another product module where they are literals."""
        found: set[str] = set()
        for node in self.tree.body:
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            source = REPO / (node.module.replace(".", "/") + ".py")
            if not source.is_file():
                continue
            theirs = self._literal_constants(ast.parse(source.read_text(encoding="utf-8")))
            found |= {alias.asname or alias.name for alias in node.names if alias.name in theirs}
        return found

    @staticmethod
    def _literal(node: ast.AST) -> bool:
        try:
            ast.literal_eval(node)
            return True
        except ValueError:
            return False

    def _marked(self, node: ast.expr) -> bool:
        for number in range(node.lineno, (node.end_lineno or node.lineno) + 1):
            match = MARKER.search(self.lines[number - 1])
            if match and ALLOWED_MARKERS.match(match.group(1)):
                return True
        return False

    @staticmethod
    def _placeholders(node: ast.AST) -> bool:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "join" and isinstance(node.func.value, ast.Constant)
                and set(str(node.func.value.value)) <= {",", " "} and len(node.args) == 1):
            return False
        arg = node.args[0]
        if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mult):
            sides = (arg.left, arg.right)
            return any(isinstance(s, ast.Constant) and s.value == "?" for s in sides) or any(
                isinstance(s, ast.List) and all(isinstance(e, ast.Constant) and e.value == "?" for e in s.elts)
                for s in sides)
        if isinstance(arg, (ast.GeneratorExp, ast.ListComp)):
            return isinstance(arg.elt, ast.Constant) and arg.elt.value == "?"
        return False

    def _assignments(self, name: str, scope: ast.AST) -> list[ast.AST] | None:
        values: list[ast.AST] = []
        for node in ast.walk(scope):
            if (isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == name
                    and isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Attribute)
                    and isinstance(node.iter.func.value, ast.Name)
                    and node.iter.func.value.id in self.constants):
                values.append(ast.Constant(""))  # for statement in SCHEMA.split(";")
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        values.append(node.value)
                    elif isinstance(target, ast.Tuple) and any(
                            isinstance(e, ast.Name) and e.id == name for e in target.elts):
                        return None  # bound by unpacking a call: not followable
        return values or None

    def _value_ok(self, node: ast.AST, scope: ast.AST, depth: int = 0) -> bool:
        """An interpolated value: a constant, a number, placeholders, or a name bound to one."""
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("int", "float"):
            return True
        if self._placeholders(node):
            return True
        if isinstance(node, ast.Name):
            if node.id in self.constants:
                return True
            if (self.rel, node.id) in RUNTIME_CHECKED:
                return True
            bound = self._assignments(node.id, scope)
            if not bound:
                return False
            return depth < 5 and all(self._sql_ok(v, scope, depth + 1) for v in bound)
        return False

    def _sql_ok(self, node: ast.AST, scope: ast.AST, depth: int = 0) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        if isinstance(node, ast.JoinedStr):
            return all(isinstance(v, ast.Constant)
                       or (isinstance(v, ast.FormattedValue) and self._value_ok(v.value, scope, depth))
                       for v in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._sql_ok(node.left, scope, depth) and self._sql_ok(node.right, scope, depth)
        return self._value_ok(node, scope, depth)

    def _constants_only(self, node: ast.AST, scope: ast.AST) -> bool:
        """Literals and module constants only: provably constant, no marker needed."""
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            if node.id in self.constants:
                return True
            if (self.rel, node.id) in RUNTIME_CHECKED and isinstance(node.ctx, ast.Load):
                return True  # a whole statement whose source a dedicated test proves literal
            bound = self._assignments(node.id, scope)
            if not bound:
                return False
            return all(self._constants_only(v, scope) for v in bound)
        if isinstance(node, ast.JoinedStr):
            return all(isinstance(v, ast.Constant)
                       or (isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name)
                           and v.value.id in self.constants)
                       for v in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._constants_only(node.left, scope) and self._constants_only(node.right, scope)
        return False

    def scan(self) -> list[str]:
        scopes = [n for n in ast.walk(self.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for node in ast.walk(self.tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in SQL_METHODS and node.args):
                continue
            if "stash" in ast.unparse(node.func.value).lower():
                continue  # StashClient.execute sends GraphQL documents (stash/queries.py), not SQL
            scope = min((s for s in scopes if s.lineno <= node.lineno <= (s.end_lineno or s.lineno)),
                        key=lambda s: (s.end_lineno or s.lineno) - s.lineno, default=self.tree)
            sql = node.args[0]
            where = f"{self.rel}:{node.lineno}"
            if not self._sql_ok(sql, scope):
                self.problems.append(f"{where}: SQL built from a non-constant value: {ast.unparse(sql)[:100]}")
            elif not self._constants_only(sql, scope) and not self._marked(node):
                self.problems.append(f"{where}: SQL built with an f-string/concatenation lacks a "
                                     "'# noqa: S608 - constant' marker")
        for number, line in enumerate(self.lines, start=1):
            match = MARKER.search(line)
            if match and not ALLOWED_MARKERS.match(match.group(1)):
                self.problems.append(f"{self.rel}:{number}: unexplained '# noqa: S608'")
        return self.problems


def test_product_sql_is_built_from_constants_only() -> None:
    files = _product_files()
    assert len(files) > 20
    problems = [p for path in files for p in SqlScanner(path).scan()]
    assert problems == [], "\n".join(problems)


def test_the_scanner_rejects_interpolated_sql(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(conn, title, ids):\n"
        "    conn.execute(f\"SELECT * FROM t WHERE title = '{title}'\")  # noqa: S608 - constant\n"
        "    conn.execute(\"SELECT * FROM t WHERE title = '%s'\" % title)\n"
        "    conn.execute(\"SELECT {}\".format(title))\n"
        "    sql = 'DELETE FROM t WHERE id = ' + str(ids)\n"
        "    conn.execute(sql)\n"
        "    conn.execute(f'SELECT {int(ids)}')\n"
        "    marks = ','.join('?' * len(ids))\n"
        "    conn.execute(f'SELECT 1 WHERE id IN ({marks})')  # noqa: S608 - placeholders only\n"
        "    conn.execute('SELECT 1')  # noqa: S608\n",
        encoding="utf-8",
    )
    scanner = SqlScanner.__new__(SqlScanner)
    scanner.path = bad
    scanner.rel = "bad.py"
    scanner.source = bad.read_text()
    scanner.lines = scanner.source.splitlines()
    scanner.tree = ast.parse(scanner.source)
    scanner.constants = set()
    scanner.problems = []
    lines = sorted(int(p.split(":")[1]) for p in scanner.scan())
    assert lines == [2, 3, 4, 6, 7, 10], scanner.problems  # 7: an int f-string needs its marker


def test_runtime_checked_sql_fragments_are_placeholders_only(tmp_path: Path) -> None:
    from plex.index import PlexIndex, SectionInfo

    index = PlexIndex(tmp_path)
    try:
        for count in (0, 1, 3):
            index._sections = [SectionInfo(n, f"s{n}", "movie", None) for n in range(count)]
            clause, params = index._section_filter()
            assert re.fullmatch(r"( AND \+?section_key IN \(\?(,\?)*\))?", clause), clause
            assert clause.count("?") == len(params) == count
    finally:
        index.close()


def test_table_definitions_are_literals() -> None:
    """The statements sync.db runs to create and upgrade tables come only from ``Table(...)``
    definitions written as literals in the product code, and every registered table is one."""
    import sync.db

    literal_tables = []
    for path in _product_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "Table":
                assert all(SqlScanner._literal(arg) for arg in node.args), ast.unparse(node)
                assert all(SqlScanner._literal(k.value) for k in node.keywords), ast.unparse(node)
                literal_tables.append(ast.literal_eval(node.args[0]))
    assert set(literal_tables) >= {"sync_state", "inbox", "drain", "meta", "error_log"}
    for module in ("queue.inbox", "queue.lease", "sync.state", "sync.meta", "sync.error_log"):
        __import__(module)
    assert set(sync.db._REGISTERED) <= set(literal_tables)


def test_no_shell_in_product_code() -> None:
    problems = []
    for path in _product_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(REPO).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                                    and keyword.value.value is False):
                    problems.append(f"{rel}:{node.lineno}: shell=")
            name = ast.unparse(node.func)
            if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                        "os.execl", "os.execlp", "os.execv", "os.execvp", "os.spawnl", "os.spawnv"):
                problems.append(f"{rel}:{node.lineno}: {name}")
    assert problems == []


def test_stash_and_plex_text_is_never_sql(linked, data_dir: Path) -> None:
    """Hostile titles, names and paths go through a full sync and stay data."""
    stash, plex = linked
    configure(stash, plex.url)
    payload = "x'); DROP TABLE inbox; DELETE FROM sync_state; --"
    path = "/media/videos/it's \"quoted\"; DROP TABLE parts; --.mp4"
    rk = plex.add_movie(1, payload, [path])
    scene = stash.add_scene(payload, [path], details=payload, performers=[payload, "Robert'); --"],
                            tags=["%'; --", "_%"], studio="' OR '1'='1")
    queue_directly(data_dir, stash, [scene])
    run = process_queue(stash)
    assert run.error is None and run.output["written"] == 1
    item = plex.item(rk)
    assert item["title"] == payload and item["summary"] == payload
    assert sorted(item["tags"]["actor"]) == sorted([payload, "Robert'); --"])
    assert item["studio"] == "' OR '1'='1"
    assert synced(data_dir)[int(scene)]["plex_item_key"] == str(rk)
    status = run_task(stash, "Status")
    assert status.error is None and status.output["synced"] == 1


def test_token_is_not_in_setting_errors_or_reprs() -> None:
    from validation.config import PlexSyncConfig
    from validation.settings import ConfigError, build_config

    token = "secret token with spaces"
    with pytest.raises(ConfigError) as caught:
        build_config({"plex_url": "http://127.0.0.1:32400", "plex_token": token})
    assert "plex_token" in str(caught.value) and token not in str(caught.value)
    config = PlexSyncConfig(plex_url="http://127.0.0.1:32400", plex_token=PLEX_TOKEN)
    assert PLEX_TOKEN not in repr(config) and PLEX_TOKEN not in str(config)
