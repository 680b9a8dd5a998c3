"""The pipelines a user runs (build -> label -> train -> learn -> simulate -> report)."""
