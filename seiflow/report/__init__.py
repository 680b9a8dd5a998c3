"""Figures and reports (matplotlib, Agg backend)."""
