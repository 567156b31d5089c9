"""Making PlexSync's Python packages importable for a task (vendor/ installed on demand); never loaded by a hook."""
