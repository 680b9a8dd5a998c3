"""Energy profile of a nudged-elastic-band (NEB) path: data in, data out.

From the energies (eV) and positions (Å) of the images of a band (and, if known, their forces,
eV/Å) this gives the reaction coordinate, the energies relative to the initial image, the
forward and backward barriers, the reaction energy, the saddle image and a smooth curve.

- Reaction coordinate: cumulative Cartesian (not mass-weighted) distance between successive
  images, each step taken with the minimum-image convention, in Å.
- Barriers come from the images themselves: forward = E(saddle) - E(initial), backward =
  E(saddle) - E(final), where the saddle is the highest image. With a converged climbing image
  that image sits on the saddle point, so no curve fit enters the tabulated numbers.
- The smooth curve is ASE's (``ase.utils.forcecurve.fit_raw``, what ``ase.mep.NEBTools`` draws):
  piecewise cubics matching the energies and, from the forces, the slopes along the path. Without
  forces a cubic spline through the energies is used. Its maximum (``barrier_fit``) is reported
  beside the image barrier, as a check that no higher point hides between images.

Used for the Li migration barriers of Li2CO3 (Li et al., Mater. Horiz. 2025, Fig. 5).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from ase.geometry import find_mic
from ase.utils.forcecurve import fit_raw
from scipy.interpolate import make_interp_spline

from seiflow.core.errors import SeiflowError

FIT_POINTS_PER_SEGMENT = 20  # as ASE's fit_raw


@dataclass(frozen=True)
class NEBProfile:
    """Energy along a band. Lengths in Å, energies in eV (relative to the initial image unless
    named absolute)."""

    path: np.ndarray  # cumulative path length at each image, Å
    energies: np.ndarray  # image energies relative to image 0, eV
    fit_path: np.ndarray  # smooth curve abscissa, Å
    fit_energies: np.ndarray  # smooth curve, eV relative to image 0
    barrier_forward: float  # eV
    barrier_backward: float  # eV
    reaction_energy: float  # E(final) - E(initial), eV
    saddle_index: int  # highest image
    barrier_fit: float  # maximum of the smooth curve relative to image 0, eV
    energy_initial: float  # absolute energy of image 0, eV

    _KEYS = {  # field -> dict key (units in the names)
        "path": "path_A", "energies": "energies_eV", "fit_path": "fit_path_A",
        "fit_energies": "fit_energies_eV", "barrier_forward": "barrier_forward_eV",
        "barrier_backward": "barrier_backward_eV", "reaction_energy": "reaction_energy_eV",
        "saddle_index": "saddle_index", "barrier_fit": "barrier_fit_eV",
        "energy_initial": "energy_initial_eV",
    }

    @property
    def path_length(self) -> float:
        """Total length of the path, Å."""
        return float(self.path[-1])

    def to_dict(self) -> dict:
        """JSON-ready dict (lists, floats), units in the key names."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[self._KEYS[f.name]] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    @classmethod
    def from_dict(cls, d: dict) -> NEBProfile:
        """Inverse of ``to_dict``; other keys in ``d`` are ignored."""
        kwargs = {}
        for f in fields(cls):
            value = d[cls._KEYS[f.name]]
            if isinstance(value, list):
                value = np.asarray(value, dtype=float)
            kwargs[f.name] = int(value) if f.name == "saddle_index" else value
        return cls(**kwargs)


def neb_profile(energies, positions, cell=None, pbc=True, forces=None) -> NEBProfile:
    """Profile of a band of n images.

    ``energies``: (n,) eV; ``positions``: (n, natoms, 3) Å; ``cell``: (3, 3) Å for the minimum
    image (None: no periodicity); ``pbc``: bool or three bools; ``forces``: optional (n, natoms, 3)
    true (unprojected) forces, eV/Å, which give the slopes of the smooth curve.
    """
    e = np.asarray(energies, dtype=float)
    pos = np.asarray(positions, dtype=float)
    n = len(e)
    if n < 2 or pos.shape[0] != n or pos.ndim != 3 or pos.shape[2] != 3:
        raise SeiflowError(f"a band needs >= 2 images with (natoms, 3) positions each; got "
                           f"{n} energies and positions of shape {pos.shape}")
    if not (np.isfinite(e).all() and np.isfinite(pos).all()):
        raise SeiflowError("band energies or positions are not finite")
    pos = _unwrap(pos, cell, pbc)
    steps = np.linalg.norm((pos[1:] - pos[:-1]).reshape(n - 1, -1), axis=1)
    if (steps < 1e-8).any():
        raise SeiflowError("two successive images of the band are identical")
    path = np.concatenate([[0.0], np.cumsum(steps)])
    rel = e - e[0]
    if forces is not None:
        f = np.asarray(forces, dtype=float)
        if f.shape != pos.shape or not np.isfinite(f).all():
            raise SeiflowError(f"forces must be finite with shape {pos.shape}, got {f.shape}")
        fit = fit_raw(rel, f, pos)  # positions unwrapped: no minimum image needed inside
        fit_path, fit_e = np.asarray(fit.fit_path), np.asarray(fit.fit_energies)
    else:
        fit_path, fit_e = _spline(path, rel)
    saddle = int(np.argmax(rel))
    return NEBProfile(
        path=path, energies=rel, fit_path=fit_path, fit_energies=fit_e,
        barrier_forward=float(rel[saddle]), barrier_backward=float(rel[saddle] - rel[-1]),
        reaction_energy=float(rel[-1]), saddle_index=saddle,
        barrier_fit=float(fit_e.max()), energy_initial=float(e[0]),
    )


def _unwrap(pos: np.ndarray, cell, pbc) -> np.ndarray:
    """Make successive images continuous: each image is the previous one plus the minimum-image
    displacement, so the path and the tangents never jump across the cell."""
    if cell is None:
        return pos.copy()
    cell = np.asarray(cell, dtype=float)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    out = pos.copy()
    for i in range(1, len(pos)):
        step, _ = find_mic(pos[i] - pos[i - 1], cell, pbc)
        out[i] = out[i - 1] + step
    return out


def _spline(path: np.ndarray, energies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cubic (or lower, for few images) interpolating spline through the image energies."""
    k = min(3, len(path) - 1)
    spline = make_interp_spline(path, energies, k=k)
    x = np.linspace(0.0, path[-1], (len(path) - 1) * FIT_POINTS_PER_SEGMENT + 1)
    return x, spline(x)
