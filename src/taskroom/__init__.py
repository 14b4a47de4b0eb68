"""Taskroom: a self-hostable real-time backend for collaborative task apps."""

__version__ = "0.1.0"
