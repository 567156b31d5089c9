"""Build the installable PlexSync package: dist/PlexSync.zip plus a Stash plugin-source index.

Usage: python scripts/build_plugin.py [--out DIR]

Stash installs a plugin by downloading the zip named in a source's index.yml, checking its
sha256 and unzipping it into <plugins>/<source>/<id>/. It then parses every `.yml` below the
plugins folder as a plugin manifest, so the zip carries exactly the files that run and no
other `.yml`: a stray test fixture or CI file would show up as a broken plugin. Entries are
sorted and stamped with a fixed time so the same tree always yields the same sha256, which
keeps the published checksum stable between identical builds.

Stdlib only, so the build runs anywhere Python does. The index YAML is written by hand with
every string double-quoted, because a description may contain `: ` or `#`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_ID = "PlexSync"
MANIFEST = f"{PLUGIN_ID}.yml"
ZIP_NAME = f"{PLUGIN_ID}.zip"

# Root files the plugin needs at run time, or that users read after installing.
REQUIRED_FILES = (MANIFEST, f"{PLUGIN_ID}.py", f"{PLUGIN_ID}.js", "requirements.txt", "README.md")
OPTIONAL_FILES = ("LICENSE",)
# Packages PlexSync.py imports from its own folder. Only their Python sources ship.
PACKAGES = ("sync", "plex", "hooks", "worker", "queue", "validation", "stash")

# Made by the installed plugin itself (pip's packages for one Python, the queue): never shipped.
NEVER_SHIPPED = ("vendor", "data")

# 1980-01-01 is the earliest time a zip entry can hold; any fixed value makes builds repeatable.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644


class BuildError(Exception):
    """The source tree cannot be packaged (a required file or package is missing)."""


@dataclass(frozen=True)
class BuildResult:
    zip_path: Path
    index_path: Path
    sha256: str
    files: tuple[str, ...]


def collect_files(root: Path) -> list[tuple[str, Path]]:
    """(name inside the zip, source path) for every shipped file, sorted by zip name."""
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    missing += [f"{pkg}/" for pkg in PACKAGES if not (root / pkg).is_dir()]
    if missing:
        raise BuildError(f"missing from {root}: {', '.join(missing)}")

    entries = [(name, root / name) for name in REQUIRED_FILES]
    entries += [(name, root / name) for name in OPTIONAL_FILES if (root / name).is_file()]
    for pkg in PACKAGES:
        for path in (root / pkg).rglob("*.py"):
            rel = path.relative_to(root)
            if "__pycache__" in rel.parts or not path.is_file():
                continue
            entries.append((rel.as_posix(), path))
    entries.sort(key=lambda item: item[0])

    local = [name for name, _ in entries if name.split("/", 1)[0] in NEVER_SHIPPED]
    if local:
        raise BuildError(f"refusing to ship the installed plugin's own folders: {local}")
    # Stash would try to load any other .yml as a plugin; fail the build rather than ship one.
    stray = [name for name, _ in entries if name.endswith((".yml", ".yaml")) and name != MANIFEST]
    if stray:
        raise BuildError(f"refusing to ship YAML files other than {MANIFEST}: {stray}")
    return entries


def write_zip(entries: list[tuple[str, Path]], zip_path: Path) -> None:
    """Writes a byte-for-byte reproducible zip: fixed order, times and permissions."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | FILE_MODE) << 16  # regular file, rw-r--r--
            info.create_system = 3  # Unix, so the mode above is honoured on extraction
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    os.replace(tmp, zip_path)


def read_manifest_fields(manifest: Path) -> dict[str, str]:
    """Top-level name/description/version and the `# requires:` comment of the plugin yml.

    Read line by line, the way the community index builder greps them, so the build needs no
    YAML library. Only single-line scalars are supported, which is what PlexSync.yml uses.
    """
    fields: dict[str, str] = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        requires = re.match(r"#\s*requires:\s*(.*)$", line)
        if requires:
            fields["requires"] = requires.group(1).strip()
            continue
        match = re.match(r"(name|description|version):\s*(.*?)\s*$", line)
        if match and match.group(1) not in fields:
            fields[match.group(1)] = _unquote(match.group(2))
    for key in ("name", "version"):
        if not fields.get(key):
            raise BuildError(f"{manifest.name} has no top-level `{key}:`")
    return fields


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        return inner.replace("''", "'") if value[0] == "'" else inner.replace('\\"', '"')
    return value


def yaml_quote(text: str) -> str:
    """A YAML double-quoted scalar that any YAML 1.1/1.2 parser reads back as `text`."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif code in (0x2028, 0x2029, 0xFEFF) or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_index(fields: dict[str, str], sha256: str, date: datetime) -> str:
    """The source index: a YAML list with this one package (Stash's pkg.RemotePackage shape)."""
    requires = [r.strip() for r in fields.get("requires", "").split(",") if r.strip()]
    requires_yaml = "[" + ", ".join(yaml_quote(r) for r in requires) + "]"
    lines = [
        f"- id: {yaml_quote(PLUGIN_ID)}",
        f"  name: {yaml_quote(fields['name'])}",
        "  metadata:",
        f"    description: {yaml_quote(fields.get('description', ''))}",
        f"  version: {yaml_quote(fields['version'])}",
        f"  date: {yaml_quote(date.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S'))}",
        f"  path: {yaml_quote(ZIP_NAME)}",
        f"  sha256: {yaml_quote(sha256)}",
        f"  requires: {requires_yaml}",
    ]
    return "\n".join(lines) + "\n"


def build_date() -> datetime:
    """Now, or SOURCE_DATE_EPOCH when set (reproducible-builds convention).

    Stash offers an update only when the index date is newer than the installed one, so a real
    release must carry its build time; pinning it is for reproducing a published index.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    return datetime.now(timezone.utc)


def build(out_dir: Path, root: Path = ROOT, date: datetime | None = None) -> BuildResult:
    entries = collect_files(root)
    fields = read_manifest_fields(root / MANIFEST)
    zip_path = out_dir / ZIP_NAME
    write_zip(entries, zip_path)
    sha256 = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    index_path = out_dir / "index.yml"
    index_path.write_text(render_index(fields, sha256, date or build_date()), encoding="utf-8")
    return BuildResult(zip_path, index_path, sha256, tuple(name for name, _ in entries))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output dir (dist/)")
    args = parser.parse_args(argv)
    try:
        result = build(args.out)
    except BuildError as exc:
        print(f"build_plugin: {exc}", file=sys.stderr)
        return 1
    print(f"{result.zip_path} ({len(result.files)} files) sha256 {result.sha256}")
    print(result.index_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
