"""Command-line use outside Stash (cron, debugging): the same modes as the Stash tasks."""

from __future__ import annotations

import argparse

USAGE = """PlexSync is a Stash plugin: Stash runs this file with one JSON document on stdin.

Command-line use (outside Stash) is not built yet; run the tasks from Stash's
Settings → Tasks → Plugin Tasks → PlexSync."""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="PlexSync.py", description=USAGE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    parser.print_help()
    return 0
