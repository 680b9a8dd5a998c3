"""Data in, data out: structure and transport analysis of trajectories and fitted results.

Never drives a calculator.
"""

from __future__ import annotations

from seiflow.analysis.arrhenius import ArrheniusResult, Extrapolation, arrhenius_fit
from seiflow.analysis.conductivity import HAVEN_CAVEAT, ConductivityResult, nernst_einstein
from seiflow.analysis.diffusion import DiffusionResult, diffusion_coefficient, diffusive_window
from seiflow.analysis.msd import MSDResult, UnwrapError, msd, select_species, unwrap
from seiflow.analysis.rdf import RDFResult, first_minimum, rdf, rdf_peaks

__all__ = [
    "HAVEN_CAVEAT", "ArrheniusResult", "ConductivityResult", "DiffusionResult", "Extrapolation",
    "MSDResult", "RDFResult", "UnwrapError", "arrhenius_fit", "diffusion_coefficient",
    "diffusive_window", "first_minimum", "msd", "nernst_einstein", "rdf", "rdf_peaks",
    "select_species", "unwrap",
]
