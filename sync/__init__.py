"""What PlexSync knows about scenes it has synced (``sync_state``) and how it detects late edits."""

from sync.detector import needs_resync
from sync.state import SyncRecord, SyncState

__all__ = ["SyncRecord", "SyncState", "needs_resync"]
