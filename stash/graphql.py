"""A small GraphQL client for Stash, on a plain socket (stash/transport.py).

The hook runs once per edited scene and Stash waits for it, so this module must import almost
nothing: no requests, no http.client, no json (stash/json_codec.py runs json's own C parser). The
worker uses the same client, so there is one place that knows how to reach Stash (host mapping,
session cookie, timeouts, error wording).
"""

from __future__ import annotations

from stash import json_codec, transport


class StashError(Exception):
    """Stash answered with an error, or its GraphQL reply made no sense."""


class StashUnavailable(StashError):
    """Stash could not be reached in time (down, restarting, or too slow)."""


def _host(connection: dict) -> str:
    host = connection.get("Host") or ""
    # Stash listens on 0.0.0.0 by default and passes that through; it means "this machine".
    if host in ("", "0.0.0.0", "::", "[::]"):
        return "127.0.0.1"
    return str(host)


class StashClient:
    """Sends GraphQL to the Stash that started this process, as the user who triggered it."""

    def __init__(self, server_connection: dict, *, timeout: float = 10.0) -> None:
        self.scheme = str(server_connection.get("Scheme") or "http").lower()
        self.host = _host(server_connection)
        try:
            self.port = int(server_connection.get("Port") or (443 if self.scheme == "https" else 9999))
        except (TypeError, ValueError):
            raise StashError(f"server_connection.Port is not a number: {server_connection.get('Port')!r}") from None
        cookie = server_connection.get("SessionCookie") or {}
        self.session = cookie.get("Value") if isinstance(cookie, dict) else None
        # Stash never sends an ApiKey; the command line (worker/cli.py) puts one here. Stash's
        # hook-loop protection reads the cookie, so both are sent when both exist.
        api_key = server_connection.get("ApiKey")
        self.api_key = str(api_key) if api_key else None
        self.timeout = timeout
        self.base_url = f"{self.scheme}://{self._netloc()}"

    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.session:
            headers["Cookie"] = f"session={self.session}"
        if self.api_key:
            headers["ApiKey"] = self.api_key
        return headers

    def execute(self, query: str, variables: dict | None = None, *, timeout: float | None = None) -> dict:
        """Run one GraphQL document and return its ``data``."""
        body = json_codec.dumps({"query": query, "variables": variables or {}}).encode()
        headers = self._headers()
        headers["Content-Type"] = "application/json"
        status, payload = self._request("POST", "/graphql", body, headers, timeout)
        if status >= 500:
            raise StashUnavailable(f"Stash answered HTTP {status} at {self.base_url}/graphql")
        if status in (401, 403):
            if self.api_key:
                raise StashError(
                    f"Stash refused the API key (HTTP {status}); copy it again from Stash's "
                    "Settings → Security → API Key"
                )
            if not self.session:
                raise StashError(
                    f"Stash asks for a login (HTTP {status}); pass its API key (Settings → "
                    "Security → API Key) with --api-key or STASH_API_KEY"
                )
            raise StashError(
                f"Stash refused the plugin's session (HTTP {status}); re-run the task from Stash"
            )
        try:
            reply = json_codec.loads(payload)
        except ValueError:
            raise StashError(f"Stash answered HTTP {status} with a body that is not JSON") from None
        errors = reply.get("errors") if isinstance(reply, dict) else None
        if errors:
            messages = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
            raise StashError(f"Stash GraphQL error: {messages or errors}")
        if status != 200 or not isinstance(reply, dict) or not isinstance(reply.get("data"), dict):
            raise StashError(f"Stash answered HTTP {status} without data")
        return reply["data"]

    def fetch_bytes(self, url: str, *, timeout: float | None = None, limit: int = 50 * 1024 * 1024) -> bytes:
        """Download a Stash URL (a screenshot) with the session's credentials."""
        from urllib.parse import urlsplit  # tasks only: the hook never downloads

        parts = urlsplit(url)
        # Screenshot URLs carry Stash's external host; the plugin always talks to Stash directly.
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        status, payload = self._request("GET", path, None, self._headers(), timeout, limit=limit)
        if status != 200:
            raise StashError(f"Stash answered HTTP {status} for {parts.path}")
        return payload

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float | None,
        *,
        limit: int = 200 * 1024 * 1024,
    ) -> tuple[int, bytes]:
        try:
            return transport.request(self.scheme, self.host, self.port, method, path, headers, body,
                                     timeout=timeout or self.timeout, limit=limit)
        except transport.ResponseTooLarge:
            raise StashError(f"Stash's answer for {path.split('?', 1)[0]} is larger than {limit} bytes") from None
        except (OSError, transport.BadResponse) as exc:
            raise StashUnavailable(f"cannot reach Stash at {self.base_url}: {exc}") from None
