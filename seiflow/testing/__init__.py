"""Importable contract tests that every Potential (and Labeler) backend must pass."""
