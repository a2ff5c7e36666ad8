"""Helpers the tests share (import as tests.helpers.<module>)."""
