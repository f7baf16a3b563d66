"""Fixtures of the file system tests."""

from tests.scratch import scratch

__all__ = ["scratch"]
