"""Molecular dynamics over ASE: ensembles, applied electric field, checkpoints, observers
(the γ watch)."""

from seiflow.md.field import FieldCalculator
from seiflow.md.gamma import GammaBreak, GammaWatch
from seiflow.md.runner import MDResult, MDSettings, run_md

__all__ = ["FieldCalculator", "GammaBreak", "GammaWatch", "MDResult", "MDSettings", "run_md"]
