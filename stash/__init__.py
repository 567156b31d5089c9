"""Talking to Stash: the plugin protocol (stdin/stdout/stderr) and its GraphQL API.

Everything here is standard library only, because the hook path imports it.
"""
