"""The reactive Li/Li3InCl6 interface over a trajectory: per-species profiles along the
interface normal, phase labels and their profiles, the two reaction fronts of the electrolyte
slab, metal clusters with their percolation, and the Li flux through the initial interface.

Data in, data out: frames (ASE ``Atoms``, Å) and their times (ps) in, a :class:`ReactionSeries`
out; :meth:`ReactionSeries.to_dict` gives a JSON-ready summary with units in its keys. The
definitions live in :mod:`seiflow.analysis.profiles` (profiles, fronts, flux),
:mod:`seiflow.analysis.clusters` (clusters, percolation) and
:mod:`seiflow.analysis.phase_labels` (labels); docs/reactive-interface.md puts them together.

Fronts: ``front_of`` names a phase label (its composition profile: the fraction of a bin's atoms
that carry the label) or a species (its number density), smoothed with a periodic Gaussian of
``front_smooth_A`` (2 Å) so that crystal layers do not make false crossings. The walk starts in
the middle of the region where the first frame's profile is at least half its bulk value (the
electrolyte slab, for the default ``Li3InCl6``) and goes both ways: the ``-`` front is the
slab's lower boundary along the axis, the ``+`` front its upper one; each front's ``advance_A``
is how far it has moved into the slab. The flux plane defaults to the first frame's ``-``
front, so positive crossings are Li entering the slab's side of that plane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from seiflow.analysis.clusters import DEFAULT_CUTOFF_A, find_clusters
from seiflow.analysis.phase_labels import (
    LABELS, LabelRules, label_atoms, label_counts, label_index,
)
from seiflow.analysis.profiles import (
    FluxResult, FrontResult, ProfileSeries, binned_counts, fractional_along, flux_across_plane,
    follow_front, profile_series,
)
from seiflow.core.errors import SeiflowError


@dataclass
class ClusterSeries:
    """Cluster statistics of the selected species per frame."""

    species: tuple[str, ...]
    cutoff_A: float
    n_selected: np.ndarray  # atoms selected per frame
    n_clusters: np.ndarray  # clusters of >= 2 atoms per frame
    largest: np.ndarray  # atoms in the largest cluster per frame
    percolates: np.ndarray  # (nframes, 3) bool: largest cluster infinite along a, b, c
    dimensionality: np.ndarray  # 0 finite, 1 chain, 2 sheet, 3 network (largest cluster)
    sizes: list[np.ndarray]  # every cluster size per frame, decreasing

    @property
    def largest_fraction(self) -> np.ndarray:
        """Fraction of the selected atoms in the largest cluster per frame."""
        return self.largest / np.maximum(self.n_selected, 1)


def cluster_series(frames: Sequence[Atoms], species: Sequence[str] = ("In",),
                   cutoff: float = DEFAULT_CUTOFF_A,
                   masks: Sequence[np.ndarray] | None = None) -> ClusterSeries:
    """:func:`seiflow.analysis.clusters.find_clusters` on every frame (``masks``: per frame)."""
    results = [find_clusters(a, species, cutoff, None if masks is None else masks[k])
               for k, a in enumerate(frames)]
    return ClusterSeries(
        species=tuple(species), cutoff_A=float(cutoff),
        n_selected=np.array([r.n_selected for r in results]),
        n_clusters=np.array([r.n_clusters(2) for r in results]),
        largest=np.array([r.largest for r in results]),
        percolates=np.array([r.percolates() for r in results], dtype=bool).reshape(-1, 3),
        dimensionality=np.array([r.dimensionality() for r in results]),
        sizes=[r.sizes for r in results])


@dataclass
class ReactionSeries:
    """Everything :func:`reaction_series` measures; see the module docstring."""

    profiles: ProfileSeries
    label_counts: np.ndarray  # atoms per label and frame, (nframes, len(LABELS))
    label_composition: np.ndarray  # fraction of a bin's atoms per label, (nframes, nlabels, nbins)
    rules: LabelRules
    clusters: ClusterSeries
    front_of: str
    fronts: dict[str, FrontResult]  # "-" and "+"
    flux: FluxResult | None
    notes: list[str]

    @property
    def times_ps(self) -> np.ndarray:
        return self.profiles.times_ps

    @property
    def label_fractions(self) -> np.ndarray:
        """Fraction of all atoms per label and frame, (nframes, len(LABELS))."""
        return self.label_counts / np.maximum(self.label_counts.sum(axis=1, keepdims=True), 1)

    def to_dict(self) -> dict:
        """JSON-ready summary (lists and floats; NaN as None); units in the key names."""
        p, c = self.profiles, self.clusters
        return {
            "units": UNITS,
            "axis": "xyz"[p.axis], "n_frames": int(p.times_ps.size),
            "times_ps": _jsonable(p.times_ps),
            "profiles": {"species": list(p.species), "bin_edges_A": _jsonable(p.edges_A),
                         "widths_A": _jsonable(p.widths_A), "areas_A2": _jsonable(p.areas_A2),
                         "number_density_per_A3": _jsonable(p.number_density),
                         "composition": _jsonable(p.composition)},
            "labels": {"names": list(LABELS), "rules": self.rules.as_dict(),
                       "counts": _jsonable(self.label_counts),
                       "fractions": _jsonable(self.label_fractions),
                       "composition_profiles": _jsonable(self.label_composition)},
            "fronts": {"of": self.front_of,
                       **{k: _front_dict(f) for k, f in self.fronts.items()}},
            "clusters": {"species": list(c.species), "cutoff_A": c.cutoff_A,
                         "n_selected": _jsonable(c.n_selected),
                         "n_clusters_min2": _jsonable(c.n_clusters),
                         "largest": _jsonable(c.largest),
                         "largest_fraction": _jsonable(c.largest_fraction),
                         "largest_percolates_abc": _jsonable(c.percolates),
                         "largest_dimensionality": _jsonable(c.dimensionality),
                         "sizes": [_jsonable(s) for s in c.sizes]},
            "flux": None if self.flux is None else _flux_dict(self.flux),
            "notes": list(self.notes),
        }


UNITS = {"length": "Å", "time": "ps", "number_density": "atoms/Å³", "area": "Å²",
         "speed": "Å/ps", "flux": "atoms/(Å² ps)", "counts": "atoms"}


def _jsonable(x):
    """Nested lists of an array with NaN as None (JSON has no NaN)."""
    arr = np.asarray(x)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr.tolist()
    obj = arr.astype(object)
    obj[~np.isfinite(arr)] = None
    return obj.tolist()


def _front_dict(f: FrontResult) -> dict:
    return {"direction": f.direction, "level": _jsonable(f.level),
            "start_A": _jsonable(f.start_A),
            "smooth_A": f.smooth_A,
            "position_A": _jsonable(f.position_A), "advance_A": _jsonable(f.advance_A),
            "speed_A_ps": f.speed_A_ps}


def _flux_dict(f: FluxResult) -> dict:
    return {"species": f.species, "plane_A": f.plane_A, "area_A2": f.area_A2,
            "n_atoms": f.n_atoms, "forward": _jsonable(f.forward),
            "backward": _jsonable(f.backward), "cumulative_net": _jsonable(f.cumulative),
            "rate_per_ps": f.rate_per_ps, "flux_per_A2_ps": f.flux_per_A2_ps}


def label_series(frames: Sequence[Atoms], axis: int, nbins: int,
                 rules: LabelRules) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(counts (nframes, nlabels), composition profiles (nframes, nlabels, nbins), labels)."""
    nl = len(LABELS)
    counts = np.zeros((len(frames), nl), dtype=int)
    comp = np.full((len(frames), nl, nbins), np.nan)
    per_frame = []
    for k, atoms in enumerate(frames):
        labels = label_atoms(atoms, rules)
        per_frame.append(labels)
        counts[k] = label_counts(labels)
        binned = binned_counts(fractional_along(atoms, axis), labels, nl, nbins)
        total = binned.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            comp[k] = np.where(total > 0, binned / np.maximum(total, 1), np.nan)
    return counts, comp, per_frame


def _front_values(front_of: str, profiles: ProfileSeries, label_comp: np.ndarray) -> np.ndarray:
    if front_of in LABELS:
        return label_comp[:, label_index(front_of)]
    if front_of in profiles.species:
        return profiles.of(front_of)
    raise SeiflowError(f"front of {front_of!r}: not a phase label ({', '.join(LABELS)}) nor a "
                       f"species of the trajectory ({', '.join(profiles.species)})")


def _fronts(values: np.ndarray, period: float, times: np.ndarray, bulk: float | None,
            smooth_A: float, notes: list[str]) -> dict[str, FrontResult]:
    out = {}
    for name, direction in (("-", -1), ("+", 1)):
        try:
            out[name] = follow_front(values, period, times, direction=direction, bulk=bulk,
                                     smooth_A=smooth_A)
        except SeiflowError as exc:  # nothing to follow: the rest of the analysis still runs
            notes.append(f"no {name} front: {exc}")
            out[name] = FrontResult(times_ps=times, position_A=np.full(times.size, np.nan),
                                    level=np.nan, start_A=np.nan, direction=direction,
                                    smooth_A=smooth_A)
            continue
        if np.isnan(out[name].position_A).any():
            notes.append(f"the {name} front is missing in some frames (from the first: "
                         f"{times[np.isnan(out[name].position_A)][0]:g} ps): the phase is gone "
                         "from the slab's middle (the fronts met) or fills the whole period")
    return out


def reaction_series(frames: Sequence[Atoms], times_ps: Sequence[float], axis: int | str = "z",
                    bin_width: float = 1.0, species: Sequence[str] | None = None,
                    cluster_species: Sequence[str] = ("In",),
                    cluster_cutoff: float = DEFAULT_CUTOFF_A, rules: LabelRules | None = None,
                    front_of: str = "Li3InCl6", front_bulk: float | None = None,
                    front_smooth_A: float = 2.0, plane_A: float | None = None,
                    flux_species: str = "Li") -> ReactionSeries:
    """Profiles, labels, fronts, clusters and flux of a trajectory (module docstring)."""
    rules = rules or LabelRules()
    prof = profile_series(frames, times_ps, axis, bin_width, species)
    nb = prof.edges_A.size - 1
    counts, comp, _ = label_series(frames, prof.axis, nb, rules)
    notes: list[str] = []
    period = float(prof.widths_A[0])
    fronts = _fronts(_front_values(front_of, prof, comp), period, prof.times_ps, front_bulk,
                     front_smooth_A, notes)
    if plane_A is None and np.isfinite(fronts["-"].position_A[0]):
        plane_A = float(np.mod(fronts["-"].position_A[0], period))
    flux = None
    if plane_A is None:
        notes.append("no flux: no plane given and no initial front to put it at")
    elif flux_species not in set(frames[0].get_chemical_symbols()):
        notes.append(f"no flux: no {flux_species} atoms")
    else:
        flux = flux_across_plane(frames, prof.times_ps, plane_A, prof.axis, flux_species)
    clusters = cluster_series(frames, cluster_species, cluster_cutoff)
    return ReactionSeries(profiles=prof, label_counts=counts, label_composition=comp,
                          rules=rules, clusters=clusters, front_of=front_of, fronts=fronts,
                          flux=flux, notes=notes)
