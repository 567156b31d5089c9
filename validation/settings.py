"""Reading PlexSync's settings from Stash and turning them into a config, or one clear error.

Stash keeps nothing until the user changes a value and shows an unset BOOLEAN as off, which for
``strict_matching`` would show the opposite of what is in force. So the first task run writes
the defaults back for every key that is unset (merged: configurePlugin replaces the whole map).
"""

from __future__ import annotations

from typing import Any

from stash import protocol, queries
from stash.graphql import StashClient

DEFAULTS: dict[str, Any] = {
    "plex_url": "",
    "plex_token": "",
    "plex_library": "",
    "strict_matching": True,
    "preserve_plex_edits": False,
    "path_map": "",
    "tls_verify": True,
    # Read by worker/install/bootstrap.py without pydantic, before the packages may be there.
    "install_dependencies": True,
    "performer_photos": False,
    "stash_url_for_plex": "",
    "stash_api_key_for_plex": "",
    "watch_state": "off",
    "skip_fields": "",
    "exclude_tags": "",
    "label_tags": "",
    "organized_label": "",
    "studio_collections": False,
}


class ConfigError(Exception):
    """A setting is wrong; the message names it and says how to fix it."""


def load_settings(stash: StashClient, *, write_defaults: bool = True) -> dict[str, Any]:
    data = stash.execute(queries.PLUGIN_SETTINGS, {"include": [queries.PLUGIN_ID]})
    plugins = (data.get("configuration") or {}).get("plugins") or {}
    stored = plugins.get(queries.PLUGIN_ID) or {}
    if not isinstance(stored, dict):
        stored = {}
    merged = {**DEFAULTS, **stored}
    missing = [key for key in DEFAULTS if key not in stored]
    if missing and write_defaults:
        try:
            stash.execute(
                queries.CONFIGURE_PLUGIN, {"plugin_id": queries.PLUGIN_ID, "input": merged}
            )
            protocol.info(f"wrote default settings to Stash for: {', '.join(missing)}")
        except Exception as exc:  # noqa: BLE001 - the sync can still run with the defaults in memory
            protocol.warning(f"could not save default settings to Stash: {exc}")
    return merged


def build_config(settings: dict[str, Any]):  # -> PlexSyncConfig (imported lazily: pydantic)
    from pydantic import ValidationError

    from validation.config import PlexSyncConfig

    for secret in ("plex_token", "stash_api_key_for_plex"):
        value = settings.get(secret)
        if isinstance(value, str):
            protocol.register_secret(value.strip())
    try:
        return PlexSyncConfig.model_validate(settings)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(part) for part in err.get("loc", ())) or "settings"
            message = str(err.get("msg", "is invalid"))
            message = message.removeprefix("Value error, ")
            problems.append(f"setting '{field}' {message}" if err.get("loc") else message)
        raise ConfigError(
            "PlexSync settings need fixing (Settings → Plugins → PlexSync): " + "; ".join(problems)
        ) from None
