"""Learned landmark visibility: a small network scoring each landmark visible or covered, on any backend."""
