"""Everything that talks to or reasons about Plex: path mapping, the path index, matching, writing."""
