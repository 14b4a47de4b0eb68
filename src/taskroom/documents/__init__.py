"""Shared task descriptions: the y-websocket endpoint, pycrdt documents, storage and relay."""
