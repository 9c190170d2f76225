"""Helpers shared by several test files (pytest puts tests/ on sys.path)."""
