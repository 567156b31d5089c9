"""The Stash web UI stand-in: the scene page a plugin's JavaScript runs in, served over HTTP.

Stash serves its single-page UI for every path that is not an API route, and each enabled
plugin's JavaScript at ``/plugin/<id>/javascript`` (the files of the manifest's ``ui.javascript``,
one after another). This module answers those GETs for both Stash stand-ins (FakeStash, and the
fault-injecting server of tests/test_ui_button.py), so a browser test loads PlexSync.js exactly
as a user's browser would. The page itself is ``web/stash_ui.js`` and ``web/stash_ui.css`` on top
of the real React, react-bootstrap, Bootstrap and Font Awesome packages at the versions Stash
cf3489e ships (``web/package.json``; ``python3 dev.py`` installs them with ``npm ci``).
"""

from __future__ import annotations

import html
from pathlib import Path

import yaml

WEB = Path(__file__).with_name("web")
NODE_MODULES = WEB / "node_modules"
ASSET_PREFIX = "/standin-ui/"

# Served name -> file. Development builds of React, so its warnings (keys, state updates after
# unmount) reach console.error, which the page records for the tests.
_ASSETS: dict[str, Path] = {
    "react.js": NODE_MODULES / "react" / "umd" / "react.development.js",
    "react-dom.js": NODE_MODULES / "react-dom" / "umd" / "react-dom.development.js",
    "prop-types.js": NODE_MODULES / "prop-types" / "prop-types.js",
    "fontawesome-svg-core.js": NODE_MODULES / "@fortawesome" / "fontawesome-svg-core" / "index.js",
    "free-solid-svg-icons.js": NODE_MODULES / "@fortawesome" / "free-solid-svg-icons" / "index.js",
    "react-fontawesome.js": NODE_MODULES / "@fortawesome" / "react-fontawesome" / "index.js",
    "react-bootstrap.js": NODE_MODULES / "react-bootstrap" / "dist" / "react-bootstrap.js",
    "bootstrap.css": NODE_MODULES / "bootstrap" / "dist" / "css" / "bootstrap.css",
    "stash_ui.js": WEB / "stash_ui.js",
    "stash_ui.css": WEB / "stash_ui.css",
}
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

Reply = tuple[int, str, bytes]


def missing_packages() -> str | None:
    """Why the page cannot be served (the npm packages are not installed), or None."""
    absent = [str(path.relative_to(WEB)) for path in _ASSETS.values() if not path.is_file()]
    if absent:
        return (f"the Stash UI stand-in's packages are missing ({absent[0]}): run "
                f"`npm ci --ignore-scripts --prefix {WEB}` (python3 dev.py does)")
    return None


def page_html(base_href: str = "/", *, plugin_ids: tuple[str, ...] = ("PlexSync",), harness: str = "") -> str:
    """The UI's index page: ``<base href>`` as Stash writes it (rewritten behind a proxy prefix),
    the libraries, the stand-in, each plugin's JavaScript, then ``harness`` (a test's script)."""
    libraries = ["react.js", "react-dom.js", "prop-types.js", "fontawesome-svg-core.js",
                 "free-solid-svg-icons.js", "react-bootstrap.js"]
    scripts = [f'<script src="{ASSET_PREFIX[1:]}{name}"></script>' for name in libraries]
    # react-fontawesome's browser build looks for the core under the name FontAwesome.
    scripts.append('<script>window.FontAwesome = window["fontawesome-svg-core"];</script>')
    scripts += [f'<script src="{ASSET_PREFIX[1:]}{name}"></script>' for name in ("react-fontawesome.js", "stash_ui.js")]
    scripts += [f'<script src="plugin/{html.escape(pid)}/javascript"></script>' for pid in plugin_ids]
    if harness:
        scripts.append(f"<script>\n{harness}\n</script>")
    scripts.append("<script>StashStandin.start();</script>")
    return (
        "<!doctype html>\n<html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
        f"<base href=\"{html.escape(base_href)}\"><title>Stash</title>"
        f"<link rel=\"stylesheet\" href=\"{ASSET_PREFIX[1:]}bootstrap.css\">"
        f"<link rel=\"stylesheet\" href=\"{ASSET_PREFIX[1:]}stash_ui.css\">"
        "</head>\n<body><div id=\"root\"></div><pre id=\"harness-log\" hidden>[]</pre>\n"
        + "\n".join(scripts) + "\n</body></html>\n"
    )


def plugin_javascript(plugin_dir: Path) -> bytes:
    """``/plugin/<id>/javascript``: the manifest's ``ui.javascript`` files, concatenated."""
    manifest = next(iter(sorted(Path(plugin_dir).glob("*.yml"))))
    config = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
    files = ((config.get("ui") or {}).get("javascript")) or []
    return b"\n".join((Path(plugin_dir) / name).read_bytes() for name in files)


def serve(path: str, *, plugin_dir: Path, plugin_id: str, base_href: str = "/",
          harness: str = "") -> Reply | None:
    """The answer to a GET of ``path`` (without the proxy prefix), or None when it is not the
    UI's (an API route, an image): the caller answers those."""
    if path == f"/plugin/{plugin_id}/javascript":
        return 200, _TYPES[".js"], plugin_javascript(plugin_dir)
    if path.startswith(ASSET_PREFIX):
        asset = _ASSETS.get(path[len(ASSET_PREFIX):])
        if asset is None or not asset.is_file():
            return 404, "text/plain; charset=utf-8", b"404 page not found\n"
        return 200, _TYPES[asset.suffix], asset.read_bytes()
    last = path.rsplit("/", 1)[-1]
    if path == "/graphql" or path.startswith(("/plugin/", "/scene/", "/performer/")) or "." in last:
        return None
    page = page_html(base_href, plugin_ids=(plugin_id,), harness=harness)
    return 200, "text/html; charset=utf-8", page.encode("utf-8")
