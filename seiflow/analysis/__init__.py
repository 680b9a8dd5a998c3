"""Data in, data out: structure and transport analysis of trajectories and fitted results,
and the property fits of the validation suite (EOS, elastic constants, NEB profiles, interface
energies; phonons in seiflow.analysis.phonons, which loads phonopy).

Never drives a calculator.
"""

from __future__ import annotations

from seiflow.analysis.arrhenius import ArrheniusResult, Extrapolation, arrhenius_fit
from seiflow.analysis.clusters import ClusterResult, find_clusters
from seiflow.analysis.comparison import ComparisonRow, compare
from seiflow.analysis.conductivity import HAVEN_CAVEAT, ConductivityResult, nernst_einstein
from seiflow.analysis.diffusion import DiffusionResult, diffusion_coefficient, diffusive_window
from seiflow.analysis.elastic import ElasticFit, born_stable, fit_elastic, vrh_moduli
from seiflow.analysis.eos import EOSFit, fit_birch_murnaghan
from seiflow.analysis.interfaces import interface_energy, surface_energy
from seiflow.analysis.msd import MSDResult, UnwrapError, msd, select_species, unwrap
from seiflow.analysis.neb import NEBProfile, neb_profile
from seiflow.analysis.phase_labels import LABELS, LabelRules, label_atoms, label_fractions
from seiflow.analysis.profiles import (
    FluxResult, FrontResult, ProfileSeries, flux_across_plane, follow_front, profile_series,
)
from seiflow.analysis.rdf import RDFResult, first_minimum, rdf, rdf_peaks
from seiflow.analysis.reaction import ReactionSeries, reaction_series

__all__ = [
    "ComparisonRow", "EOSFit", "ElasticFit", "NEBProfile", "born_stable", "compare",
    "fit_birch_murnaghan", "fit_elastic", "interface_energy", "neb_profile", "surface_energy",
    "vrh_moduli",
    "HAVEN_CAVEAT", "ArrheniusResult", "ConductivityResult", "DiffusionResult", "Extrapolation",
    "MSDResult", "RDFResult", "UnwrapError", "arrhenius_fit", "diffusion_coefficient",
    "diffusive_window", "first_minimum", "msd", "nernst_einstein", "rdf", "rdf_peaks",
    "select_species", "unwrap",
    "LABELS", "ClusterResult", "FluxResult", "FrontResult", "LabelRules", "ProfileSeries",
    "ReactionSeries", "find_clusters", "flux_across_plane", "follow_front", "label_atoms",
    "label_fractions", "profile_series", "reaction_series",
]
