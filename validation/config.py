"""PlexSync's settings as a validated model.

Stash stores plugin settings without defaults or types beyond STRING/BOOLEAN/NUMBER, and a user
can type anything into them. The model turns them into values the worker can trust, and every
rejection names the setting and how to fix it. Messages never contain the token's value.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from plex.mapping import PerformerPhotos, clean_line
from plex.pathmap import PathMap
from plex.rules import parse_skip_fields, split_names
from stash import protocol

# watch_state: whose plays are exchanged is the Plex token's account (the server owner's).
WATCH_MODES = ("off", "plex_to_stash", "both")


class PlexSyncConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    plex_url: str = Field(description="Plex server URL with scheme, e.g. http://192.168.1.10:32400")
    plex_token: str = Field(description="X-Plex-Token used for every Plex request", repr=False)
    plex_library: str = Field(
        default="",
        description="Comma-separated Plex library titles; empty means every movie library",
    )
    path_map: str = Field(
        default="",
        description="Rules 'STASH_PREFIX => PLEX_PREFIX' separated by ';'; empty = same paths",
    )
    strict_matching: bool = Field(
        default=True,
        description="Skip sync on low-confidence matches (safer). False = sync anyway with warning logged.",
    )
    preserve_plex_edits: bool = Field(
        default=False,
        description="Preserve manual Plex edits. True = only update empty fields, False = Stash always wins.",
    )
    tls_verify: bool = Field(
        default=True,
        description="Verify the Plex server's TLS certificate for https URLs",
    )
    install_dependencies: bool = Field(
        default=True,
        description="Let tasks pip-install requirements.txt into <plugin folder>/vendor when a package is missing",
    )
    performer_photos: bool = Field(
        default=False,
        description="Put each performer's Stash image on the Plex actor (Plex fetches it from stash_url_for_plex)",
    )
    stash_url_for_plex: str = Field(
        default="",
        description="How the Plex server reaches Stash, e.g. http://stash:9999 when both run in Docker",
    )
    stash_api_key_for_plex: str = Field(
        default="",
        description="Stash API key put in the photo URLs Plex fetches (Plex stores it); empty = none",
        repr=False,
    )
    skip_fields: str = Field(
        default="",
        description="Comma-separated fields PlexSync neither writes nor locks (title, summary, date, studio, "
                    "actors, genres, labels, collections, rating, poster, director); empty = none",
    )
    exclude_tags: str = Field(
        default="",
        description="Comma-separated Stash tags that, with every tag below them, never reach Plex",
    )
    label_tags: str = Field(
        default="",
        description="Comma-separated Stash tags that, with every tag below them, become Plex labels, not genres",
    )
    organized_label: str = Field(
        default="",
        description="Plex label for scenes marked organized in Stash; empty = none",
    )
    studio_collections: bool = Field(
        default=False,
        description="Also make the scene's studio and each parent studio a Plex collection",
    )

    watch_state: str = Field(
        default="off",
        description="Play state between Plex and Stash: off, plex_to_stash (plays and resume points "
        "made in Plex reach Stash) or both (Stash's also reach Plex). The plays are those of the "
        "account whose plex_token PlexSync uses (the server owner)",
    )

    @field_validator("plex_url", mode="before")
    @classmethod
    def validate_url(cls, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("is empty; set it to your Plex address, e.g. http://192.168.1.10:32400")
        text = value.strip()
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{text!r} has no http:// or https:// scheme; write it as http://{text.split('://')[-1]}"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query string (put the token in plex_token)")
        return text.rstrip("/")

    @field_validator("plex_token", mode="before")
    @classmethod
    def validate_token(cls, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(
                "is empty; paste your X-Plex-Token (README: Getting your Plex token)"
            )
        token = value.strip()
        if any(ch.isspace() for ch in token):
            raise ValueError("contains spaces; paste the token alone, without spaces or quotes")
        protocol.register_secret(token)
        return token

    @field_validator("plex_library", "path_map", "skip_fields", "exclude_tags", "label_tags", "organized_label",
                     mode="before")
    @classmethod
    def validate_text(cls, value: object) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError("must be text")
        return value.strip()

    @field_validator("stash_url_for_plex", mode="before")
    @classmethod
    def validate_stash_url(cls, value: object) -> str:
        if value is None or (isinstance(value, str) and not value.strip()):
            return ""
        if not isinstance(value, str):
            raise ValueError("must be text")
        text = value.strip()
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{text!r} is not an address Plex can fetch from; write it as http://host:port, "
                "e.g. http://stash:9999"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query string (put an API key in stash_api_key_for_plex)")
        return text.rstrip("/")

    @field_validator("stash_api_key_for_plex", mode="before")
    @classmethod
    def validate_api_key(cls, value: object) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError("must be text")
        key = value.strip()
        if any(ch.isspace() for ch in key):
            raise ValueError("contains spaces; paste the API key alone (Stash: Settings → Security → API Key)")
        protocol.register_secret(key)
        return key

    @field_validator("watch_state", mode="before")
    @classmethod
    def validate_watch_state(cls, value: object) -> str:
        """Unset (empty) is the default; the three values are accepted in any case."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return "off"
        text = value.strip().lower() if isinstance(value, str) else None
        if text not in WATCH_MODES:
            raise ValueError(f"is {value!r}; set it to one of: off, plex_to_stash, both")
        return text

    @property
    def plex_to_stash(self) -> bool:
        """Whether plays and resume points made in Plex are copied to Stash."""
        return self.watch_state != "off"

    @property
    def stash_to_plex(self) -> bool:
        """Whether plays and resume points made in Stash are copied to Plex."""
        return self.watch_state == "both"

    @model_validator(mode="after")
    def photos_need_an_address(self) -> PlexSyncConfig:
        if self.performer_photos and not self.stash_url_for_plex:
            raise ValueError(
                "performer_photos is on but stash_url_for_plex is empty: set it to the address the "
                "Plex server reaches Stash at (e.g. http://stash:9999), or turn performer_photos off"
            )
        return self

    @field_validator("skip_fields")
    @classmethod
    def validate_skip_fields(cls, value: str) -> str:
        parse_skip_fields(value)  # raises ValueError listing the names it accepts
        return value

    @field_validator("organized_label")
    @classmethod
    def validate_organized_label(cls, value: str) -> str:
        return clean_line(value)  # what Plex will show: one line, no control characters

    @field_validator("path_map")
    @classmethod
    def validate_path_map(cls, value: str) -> str:
        PathMap.parse(value)  # raises ValueError naming the bad rule
        return value

    @field_validator(
        "strict_matching", "preserve_plex_edits", "tls_verify", "install_dependencies", "performer_photos",
        "studio_collections", mode="before",
    )
    @classmethod
    def validate_bool_flags(cls, value: object) -> bool:
        """Only real booleans: a truthy string like "false" must not switch a flag on."""
        if not isinstance(value, bool):
            raise ValueError(
                f"must be on or off (a boolean), got {type(value).__name__}; "
                "toggle it in Settings → Plugins → PlexSync"
            )
        return value

    @property
    def libraries(self) -> list[str]:
        return [name.strip() for name in self.plex_library.split(",") if name.strip()]

    @property
    def path_rules(self) -> PathMap:
        return PathMap.parse(self.path_map)

    @property
    def skipped_fields(self) -> frozenset[str]:
        """The Plex fields (and "poster") PlexSync leaves to Plex."""
        return parse_skip_fields(self.skip_fields)

    @property
    def excluded_tag_names(self) -> list[str]:
        return split_names(self.exclude_tags)

    @property
    def label_tag_names(self) -> list[str]:
        return split_names(self.label_tags)

    @property
    def hook_flags(self) -> dict[str, bool]:
        """Which edits the hooks must pass on because of these settings (sync.meta.HookFlags)."""
        return {"organized": bool(self.organized_label),
                "tag_tree": bool(self.excluded_tag_names or self.label_tag_names),
                "studio_tree": self.studio_collections,
                "photos": self.performer_photos}

    @property
    def performer_photo_settings(self) -> PerformerPhotos | None:
        """Where Plex fetches performer photos from, or None when photos are off."""
        if not self.performer_photos:
            return None
        return PerformerPhotos(self.stash_url_for_plex, self.stash_api_key_for_plex or None)

    def log_config(self) -> None:
        """Log every setting in force, the token masked, so a support request shows the setup."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in ("plex_token", "stash_api_key_for_plex") and value:
                value = f"*** ({len(value)} characters)"
            protocol.info(f"setting {name} = {value!r}")
        if self.plex_url.startswith("https") and not self.tls_verify:
            protocol.warning(
                "tls_verify is off: the Plex certificate is not checked, so anyone on the path "
                "could read your token. Turn it on unless you trust this network."
            )
