"""Helpers shared by the compatibility runner and the broker-process tests."""
