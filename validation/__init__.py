"""Checking what users and Stash give PlexSync: settings, text, dates."""
