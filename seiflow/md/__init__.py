"""Molecular dynamics: one loop (md/loop.py) over two integrator backends, ASE (md/runner.py)
and batched torch-sim (md/batched.py), one settings schema (md/settings.py), one writer of
frames, thermo rows and checkpoints (md/output.py); applied electric field, observers (the γ
watch)."""

from seiflow.md.field import FieldCalculator
from seiflow.md.gamma import GammaBreak, GammaWatch
from seiflow.md.runner import MDResult, MDSettings, run_md

__all__ = ["FieldCalculator", "GammaBreak", "GammaWatch", "MDResult", "MDSettings", "run_md"]
