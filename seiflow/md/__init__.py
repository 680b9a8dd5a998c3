"""Molecular dynamics over ASE: ensembles, applied electric field, checkpoints, observers."""

from seiflow.md.field import FieldCalculator
from seiflow.md.runner import MDResult, MDSettings, run_md

__all__ = ["FieldCalculator", "MDResult", "MDSettings", "run_md"]
