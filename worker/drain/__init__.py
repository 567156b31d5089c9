"""The drain engine: moving queued scenes into Plex, one job at a time, and what every drain does before it ends."""
