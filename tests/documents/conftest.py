"""Fixtures of the document tests: the real-time tests' own, shared."""

from tests.realtime.conftest import api_factory

__all__ = ["api_factory"]
