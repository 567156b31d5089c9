"""Checking what users give PlexSync: the plugin settings, read from Stash and validated."""
