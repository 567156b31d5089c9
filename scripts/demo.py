"""The PlexSync demo: real edits in a Stash stand-in reach a Plex stand-in through the plugin.

Both stand-ins run on 127.0.0.1. The plugin is built into its zip and unpacked into a temporary
Stash plugin folder, exactly as Stash installs it; settings are saved through Stash's GraphQL
as the settings page would. A handful of edits fire real hooks, Stash's job queue runs the drain
task, and the demo prints each Plex item before and after, then the plugin's log in Stash.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.standins.fake_plex import FakePlex  # noqa: E402
from tests.standins.fake_stash import FakeStash  # noqa: E402

TOKEN = "demo-plex-token-4b1d"
STASH_ROOT = "/stash/videos"
PLEX_ROOT = "/plex/media"
FIELDS = ("title", "summary", "studio", "originallyAvailableAt", "userRating")
LISTS = ("actor", "genre", "collection")

SAMPLES = [
    ("Harbor Lights", "Nightfall Films", ["Ava Stone"], ["Drama"]),
    ("Mountain Pass", "Summit Studio", ["Leo Park", "Mia Chen"], ["Outdoor", "Travel"]),
    ("City at Dawn", "Nightfall Films", ["Ava Stone", "Noah Reyes"], ["Urban"]),
    ("Quiet Lake", "Summit Studio", ["Mia Chen"], ["Nature"]),
]


def install_plugin(plugins_dir: Path) -> Path:
    """Build the release zip and unpack it where Stash would put it."""
    dist = plugins_dir.parent / "dist"
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_plugin.py"), "--out", str(dist)], check=True,
                   stdout=subprocess.DEVNULL)
    target = plugins_dir / "PlexSync"
    with zipfile.ZipFile(dist / "PlexSync.zip") as archive:
        archive.extractall(target)
    return target


def named(stash: FakeStash, kind: str, name: str) -> str:
    """The id of a studio/performer/tag by name, created on first use (as a user would)."""
    found = getattr(stash, f"find_{kind}")(name)
    return found or getattr(stash, f"add_{kind}")(name)


def plex_view(plex: FakePlex, key: int) -> dict[str, str]:
    item = plex.item(key)
    view = {name: str(item.get(name) or "") for name in FIELDS}
    for kind in LISTS:
        view[kind] = ", ".join(item["tags"].get(kind, []))
    view["poster"] = (item.get("poster_sha1") or "")[:10]
    view["locked"] = ", ".join(sorted(item.get("locked", ())))
    return view


def print_change(title: str, before: dict[str, str], after: dict[str, str]) -> None:
    print(f"\n  Plex item: {title}")
    print(f"    {'field':<22} {'before':<30} after")
    for name in before:
        old, new = before[name], after[name]
        marker = "*" if old != new else " "
        print(f"  {marker} {name:<22} {textwrap.shorten(old or '-', 30):<30} {textwrap.shorten(new or '-', 40)}")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="plexsync-demo-"))
    plugins = work / "plugins"
    plugins.mkdir()
    plugin_dir = install_plugin(plugins)
    print(f"PlexSync demo — plugin installed from its zip into {plugin_dir}")

    with FakePlex(token=TOKEN) as plex, FakeStash(plugin_dir, stash_dir=work / "stash") as stash:
        plex.add_section(1, "Movies", "movie", [PLEX_ROOT])
        scenes: dict[str, int] = {}
        for n in range(30):
            name = SAMPLES[n % len(SAMPLES)][0] + ("" if n < len(SAMPLES) else f" {n}")
            file_name = name.lower().replace(" ", "_") + ".mp4"
            key = plex.add_movie(1, file_name.removesuffix(".mp4"), [f"{PLEX_ROOT}/{file_name}"])
            scene_id = stash.add_scene(None, [f"{STASH_ROOT}/{file_name}"])
            scenes[scene_id] = key
        print(f"Stash stand-in {stash.url}: {len(scenes)} scenes under {STASH_ROOT}")
        print(f"Plex stand-in  {plex.url}: {len(scenes)} items under {PLEX_ROOT}")

        # The user fills in the settings page (configurePlugin replaces the map, as Stash does).
        stash.graphql(
            "mutation($input: Map!) { configurePlugin(plugin_id: \"PlexSync\", input: $input) }",
            {"input": {"plex_url": plex.url, "plex_token": TOKEN, "path_map": f"{STASH_ROOT} => {PLEX_ROOT}"}},
        )
        print(f"Settings saved: plex_url={plex.url}, path_map '{STASH_ROOT} => {PLEX_ROOT}'\n")

        ids = list(scenes)
        edited = ids[:4]
        before = {sid: plex_view(plex, scenes[sid]) for sid in ids[:6]}
        print("Editing scenes in Stash (each save runs the PlexSync hook, as Stash does):")
        for n, (sid, (title, studio, performers, tags)) in enumerate(zip(edited, SAMPLES, strict=True)):
            stash.update_scene(
                sid, title=title, details=f"{title}: a demo scene synced by PlexSync.",
                date=f"2024-05-1{n}", rating100=60 + 10 * n, studio_id=named(stash, "studio", studio),
                performer_ids=[named(stash, "performer", p) for p in performers],
                tag_ids=[named(stash, "tag", t) for t in tags],
            )
            run = [r for r in stash.runs if r.kind == "hook"][-1]
            print(f"  scene {sid}: '{title}' saved — hook {run.output['action']} in {run.wall_time * 1000:.0f} ms")
        stash.bulk_update(ids[:6], tag_ids={"ids": [named(stash, "tag", "Featured")], "mode": "ADD"})
        print("  bulk edit: tag 'Featured' added to 6 scenes — 6 hook runs, one after another")
        stash.set_cover(ids[0], b"\x89PNG\r\n\x1a\n" + b"demo cover, version 2")
        stash.update_scene(ids[0], details="Harbor Lights: new cover and a longer description.")
        print(f"  scene {ids[0]}: new cover image and description")

        stash.wait_for_jobs(timeout=180)
        tasks = [r for r in stash.runs if r.kind == "task"]
        print(f"\nStash's job queue ran {len(tasks)} PlexSync task(s): "
              + ", ".join(f"{t.args.get('mode')} ({t.wall_time:.1f}s)" for t in tasks))

        print("\nWhat changed in Plex (* = changed):")
        for sid in ids[:6]:
            after = plex_view(plex, scenes[sid])
            print_change(after["title"] or before[sid]["title"], before[sid], after)

        stash.run_task("Status")
        stash.wait_for_jobs(timeout=60)
        status = [r for r in stash.runs if r.kind == "task"][-1]
        print(f"\nStatus task: {status.output and {k: status.output[k] for k in ('synced', 'pending', 'failed', 'needs_review')}}")

        print("\nPlexSync's log in Stash (hooks and tasks):")
        for run in stash.runs:
            for level, message in run.logs:
                if level in ("info", "warning", "error"):
                    print(f"  [{run.kind} {run.name}] {level}: {textwrap.shorten(message, 140)}")

        print("\nNot built yet: nothing in this demo is simulated; see README 'Status of the work'.")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
