"""Stash hook handling: decide in milliseconds whether an edit concerns Plex, and queue it."""
