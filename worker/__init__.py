"""The drain: the Process queue task and the worker thread that writes Plex."""
