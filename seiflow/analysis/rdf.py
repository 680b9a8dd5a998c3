"""Radial distribution function g(r) and running coordination number CN(r) of a species pair.

Data in, data out: frames are ASE ``Atoms`` (Å); nothing is computed with a calculator.

Conventions
-----------
- ``g(r)`` of B around A: ``g(r) = <n_AB(r)> / (N_A * rho_B * 4/3 pi (r_hi^3 - r_lo^3))`` with
  ``rho_B = N_B / V`` (1/Å³) of each frame; for A == B the self pair is excluded, so an ideal
  gas gives ``g -> 1 - 1/N``.
- ``CN(r) = 4 pi rho_B * integral_0^r g(r') r'^2 dr'``: the mean number of B atoms within ``r`` of
  an A atom, given at the bin *upper* edges (``cn[k]`` counts all pairs closer than
  ``edges[k + 1]``).
- Distances use the periodic minimum image through ``ase.neighborlist``; ``r_max`` may not exceed
  half the smallest perpendicular cell width, so no pair is counted twice.
- Frames are averaged with equal weight (NPT frames each use their own volume).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from seiflow.core.errors import SeiflowError
from seiflow.structures.geometry import perpendicular_widths


@dataclass
class RDFResult:
    """g(r) of species ``pair[1]`` (B) around ``pair[0]`` (A), averaged over ``n_frames``."""

    pair: tuple[str, str]
    r: np.ndarray  # bin centres, Å
    edges: np.ndarray  # bin edges, Å (nbins + 1)
    g: np.ndarray  # g(r), dimensionless
    cn: np.ndarray  # running coordination number at edges[1:], atoms
    rho_b: float  # mean number density of B, 1/Å³
    n_frames: int

    def cn_at(self, r: float) -> float:
        """Running coordination number at distance ``r`` (Å), linearly interpolated."""
        return float(np.interp(r, self.edges, np.concatenate([[0.0], self.cn])))


def rdf(frames: list[Atoms], pair: tuple[str, str], r_max: float, nbins: int) -> RDFResult:
    """g(r) and CN(r) of B = ``pair[1]`` around A = ``pair[0]`` up to ``r_max`` (Å), ``nbins`` bins.

    Every frame must be fully periodic with ``r_max`` <= half its smallest perpendicular width.
    """
    if not frames:
        raise SeiflowError("rdf needs at least one frame")
    if not r_max > 0:
        raise SeiflowError(f"rdf r_max must be positive, got {r_max} Å")
    if int(nbins) != nbins or nbins < 2:
        raise SeiflowError(f"rdf nbins must be an integer >= 2, got {nbins}")
    a, b = pair
    edges = np.linspace(0.0, float(r_max), int(nbins) + 1)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g_sum = np.zeros(int(nbins))
    cn_sum = np.zeros(int(nbins))
    rho_sum = 0.0
    for k, atoms in enumerate(frames):
        if not atoms.pbc.all():
            raise SeiflowError(f"rdf needs fully periodic frames; frame {k} has pbc={atoms.pbc}")
        vol = abs(atoms.cell.volume)
        if vol <= 0:
            raise SeiflowError(f"frame {k} has a cell of zero volume; rdf needs a periodic cell")
        half = 0.5 * perpendicular_widths(atoms.cell).min()
        if r_max > half + 1e-9:
            raise SeiflowError(
                f"rdf r_max={r_max:.3f} Å exceeds half the smallest cell width ({half:.3f} Å) of "
                f"frame {k}; lower r_max or use a bigger supercell"
            )
        sym = np.asarray(atoms.get_chemical_symbols())
        is_a, is_b = sym == a, sym == b
        n_a, n_b = int(is_a.sum()), int(is_b.sum())
        for name, n in ((a, n_a), (b, n_b)):
            if n == 0:
                raise SeiflowError(f"frame {k} has no {name!r} atoms (species: "
                                   f"{', '.join(sorted(set(sym)))})")
        i, j, d = neighbor_list("ijd", atoms, float(r_max), self_interaction=False)
        counts, _ = np.histogram(d[is_a[i] & is_b[j]], bins=edges)
        rho_b = n_b / vol
        g = counts / (n_a * rho_b * shell)
        g_sum += g
        cn_sum += rho_b * np.cumsum(g * shell)  # = cumulative pair count per A atom
        rho_sum += rho_b
    n = len(frames)
    return RDFResult(pair=(a, b), r=0.5 * (edges[1:] + edges[:-1]), edges=edges, g=g_sum / n,
                     cn=cn_sum / n, rho_b=rho_sum / n, n_frames=n)


def _smoothed(result: RDFResult, smooth: float) -> np.ndarray:
    dr = result.edges[1] - result.edges[0]
    gs = gaussian_filter1d(result.g, sigma=max(smooth / dr, 1e-6), mode="nearest")
    gs[gs < 1e-9 * max(gs.max(), 1e-300)] = 0.0  # flat gaps (crystals) stay exactly flat
    return gs


def rdf_peaks(result: RDFResult, smooth: float = 0.1, prominence: float = 0.05) -> np.ndarray:
    """Positions (Å) of the maxima of g(r) after Gaussian smoothing of width ``smooth`` (Å).

    Maxima less prominent than ``prominence`` times the highest smoothed value are noise.
    """
    gs = _smoothed(result, smooth)
    idx, _ = find_peaks(gs, prominence=prominence * gs.max())
    return result.r[idx]


def first_minimum(result: RDFResult, smooth: float = 0.1,
                  prominence: float = 0.05) -> tuple[float, float]:
    """(r_min in Å, CN at r_min): the first minimum of g(r) after its first peak.

    g(r) is smoothed with a Gaussian of width ``smooth`` (Å) first, and extrema less prominent
    than ``prominence`` times the highest smoothed value are ignored, so noise does not produce a
    false minimum. A flat gap (g = 0 between crystal shells) gives the middle of the gap.
    """
    gs = _smoothed(result, smooth)
    if gs.max() <= 0:
        raise SeiflowError(f"g(r) of {result.pair} is zero up to r_max; increase r_max")
    prom = prominence * gs.max()
    peaks, _ = find_peaks(gs, prominence=prom)
    if len(peaks) == 0:
        raise SeiflowError(f"g(r) of {result.pair} has no peak below r_max; increase r_max")
    minima, _ = find_peaks(-gs, prominence=prom)
    after = minima[minima > peaks[0]]
    if len(after) == 0:
        raise SeiflowError(f"g(r) of {result.pair} has no minimum after its first peak "
                           f"({result.r[peaks[0]]:.2f} Å) below r_max; increase r_max")
    r_min = float(result.r[after[0]])
    return r_min, result.cn_at(r_min)
