"""What PlexSync knows about scenes it has synced (``sync_state``) and how it detects late edits.

``from sync import SyncState, needs_resync`` works as ever; the modules load on first use, so a
hook that imports only ``sync.db`` does not pay for the rest.
"""

__all__ = ["SyncRecord", "SyncState", "needs_resync"]



def __getattr__(name: str) -> object:
    if name == "needs_resync":
        from sync.detector import needs_resync

        return needs_resync
    if name in ("SyncRecord", "SyncState"):
        from sync import state

        return getattr(state, name)
    raise AttributeError(f"module 'sync' has no attribute {name!r}")
