"""Profiles along an interface normal: per-species number density and composition, the position
of a reaction front, and the net flux of atoms through a plane.

Data in, data out: frames are ASE ``Atoms`` (Å), times are in ps; nothing is written to disk.

Conventions
-----------
- **Axis.** ``axis`` is 0, 1, 2 or ``"x"``/``"y"``/``"z"`` (= ``"a"``/``"b"``/``"c"``): the
  normal of the plane spanned by the *other two* cell vectors. The height of an atom along it is
  ``h = s_k * w_k`` (Å), with ``s_k`` its fractional coordinate along cell vector k wrapped to
  [0, 1) and ``w_k`` the cell's perpendicular width (distance between the two faces, V / |b x c|
  for k = a). For an orthorhombic cell with its origin at 0 this is the Cartesian coordinate.
- **Bins** tile one period exactly: ``n = max(1, round(w_k / bin_width))`` bins of width
  ``w_k / n`` (Å), fixed in fractional coordinates from the first frame of a trajectory (a
  changing cell changes their width, not their number). Bin volume = area x bin width, area =
  V / w_k (Å²).
- **Number density** of species X in a bin: atoms of X / bin volume (atoms/Å³).
  **Composition**: atoms of X / all atoms in the bin (fraction; NaN in an empty bin).
- **Reaction front** (:func:`front_positions`): walk a profile from a start height, bin by bin
  in ``direction`` (+1: towards +axis) for at most one period; the front is the first place where
  the profile crosses ``level`` (linear interpolation between bin centres). Empty bins (NaN
  composition) are skipped. The position is *not* wrapped back into the cell, so it moves
  continuously in time. The default level is half the bulk value, bulk = the 90th percentile
  of the first frame's profile (the plateau of a phase that fills at least ~10 % of the cell),
  or a given value. Crystalline layers make thin-bin profiles oscillate; ``smooth_A`` first
  smooths the profile with a periodic Gaussian of that width (Å; empty bins carry no weight).
- **Flux through a plane** at height ``plane_A`` (fixed in fractional coordinates): every atom's
  fractional coordinate along the axis is unwrapped from frame to frame (wrapped difference, as
  in :func:`seiflow.analysis.msd.unwrap`), and a crossing of the plane or of any of its periodic
  images counts +1 in the +axis direction, -1 in the other:
  ``floor(s_k(t) - s_plane) - floor(s_k(t - 1) - s_plane)`` per atom and frame interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.ndimage import gaussian_filter1d

from seiflow.analysis.msd import UnwrapError
from seiflow.core.errors import SeiflowError
from seiflow.structures.geometry import perpendicular_widths

AXES = {"x": 0, "y": 1, "z": 2, "a": 0, "b": 1, "c": 2}
BULK_PERCENTILE = 90.0


def axis_index(axis: int | str) -> int:
    """0, 1 or 2 for an axis given as an index or as x/y/z (a/b/c)."""
    if isinstance(axis, str) and axis.lower() in AXES:
        return AXES[axis.lower()]
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) and 0 <= axis <= 2:
        return int(axis)
    raise SeiflowError(f"axis must be x, y, z (a, b, c) or 0, 1, 2; got {axis!r}")


def fractional_along(atoms: Atoms, axis: int) -> np.ndarray:
    """Fractional coordinates of every atom along cell vector ``axis``, not wrapped."""
    cell = atoms.cell.array
    if abs(np.linalg.det(cell)) < 1e-9:
        raise SeiflowError("profiles need a cell with non-zero volume (a periodic or boxed frame)")
    return np.linalg.solve(cell.T, atoms.positions.T)[axis]


def width_and_area(atoms: Atoms, axis: int) -> tuple[float, float]:
    """(perpendicular width along ``axis`` in Å, cross-section area V / width in Å²)."""
    width = float(perpendicular_widths(atoms.cell.array)[axis])
    return width, abs(atoms.cell.volume) / width


def n_bins(width: float, bin_width: float) -> int:
    """Bins of about ``bin_width`` Å that tile ``width`` Å exactly."""
    if not bin_width > 0:
        raise SeiflowError(f"bin width must be positive, got {bin_width} Å")
    return max(1, int(round(width / bin_width)))


def binned_counts(s: np.ndarray, categories: np.ndarray, n_categories: int,
                  nbins: int) -> np.ndarray:
    """Counts (n_categories, nbins) of atoms by category and bin of fractional coordinate ``s``
    (wrapped to [0, 1) here); categories < 0 are left out."""
    b = np.minimum((np.mod(s, 1.0) * nbins).astype(int), nbins - 1)
    keep = categories >= 0
    flat = categories[keep] * nbins + b[keep]
    return np.bincount(flat, minlength=n_categories * nbins).reshape(n_categories, nbins)


def species_codes(atoms: Atoms, species: Sequence[str]) -> np.ndarray:
    """Per atom: its index in ``species``, or -1."""
    sym = np.asarray(atoms.get_chemical_symbols())
    codes = np.full(len(atoms), -1)
    for k, s in enumerate(species):
        codes[sym == s] = k
    return codes


def _composition(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)


@dataclass
class ProfileSeries:
    """Per-species profiles along ``axis`` for every frame; see the module docstring."""

    axis: int
    species: tuple[str, ...]
    times_ps: np.ndarray  # (nframes,)
    edges_A: np.ndarray  # bin edges of the first frame, Å (nbins + 1)
    counts: np.ndarray  # atoms per species and bin, (nframes, nspecies, nbins)
    number_density: np.ndarray  # atoms/Å³, (nframes, nspecies, nbins)
    composition: np.ndarray  # fraction of the bin's atoms, NaN if empty, same shape
    widths_A: np.ndarray  # perpendicular width along the axis per frame, Å
    areas_A2: np.ndarray  # cross-section area per frame, Å²

    @property
    def centres_A(self) -> np.ndarray:
        """Bin centres of the first frame, Å."""
        return 0.5 * (self.edges_A[1:] + self.edges_A[:-1])

    def of(self, species: str, quantity: str = "number_density") -> np.ndarray:
        """(nframes, nbins) profile of one species: ``number_density`` or ``composition``."""
        if species not in self.species:
            raise SeiflowError(f"no profile of {species!r} (species: {', '.join(self.species)})")
        return getattr(self, quantity)[:, self.species.index(species)]


def check_times(frames: Sequence[Atoms], times_ps: Sequence[float]) -> np.ndarray:
    """Times as an array (ps), one per frame, non-decreasing."""
    if not len(frames):
        raise SeiflowError("the analysis needs at least one frame")
    t = np.asarray(times_ps, dtype=float)
    if t.shape != (len(frames),):
        raise SeiflowError(f"{len(frames)} frames but {t.size} times")
    if np.any(np.diff(t) < 0):
        raise SeiflowError("frame times must not decrease")
    return t


def profile_series(frames: Sequence[Atoms], times_ps: Sequence[float], axis: int | str = "z",
                   bin_width: float = 1.0, species: Sequence[str] | None = None) -> ProfileSeries:
    """Number-density and composition profiles of ``species`` (default: every species of the
    first frame, sorted) along ``axis`` in bins of about ``bin_width`` Å, for every frame."""
    t = check_times(frames, times_ps)
    ax = axis_index(axis)
    species = tuple(species) if species else tuple(sorted(set(frames[0].get_chemical_symbols())))
    w0, _ = width_and_area(frames[0], ax)
    nb = n_bins(w0, bin_width)
    nf, ns = len(frames), len(species)
    counts = np.zeros((nf, ns, nb), dtype=int)
    totals = np.zeros((nf, nb), dtype=int)
    widths, areas = np.zeros(nf), np.zeros(nf)
    for k, atoms in enumerate(frames):
        s = fractional_along(atoms, ax)
        counts[k] = binned_counts(s, species_codes(atoms, species), ns, nb)
        totals[k] = binned_counts(s, np.zeros(len(atoms), dtype=int), 1, nb)[0]
        widths[k], areas[k] = width_and_area(atoms, ax)
    volumes = (areas * widths / nb)[:, None, None]
    return ProfileSeries(axis=ax, species=species, times_ps=t,
                         edges_A=np.linspace(0.0, w0, nb + 1), counts=counts,
                         number_density=counts / volumes,
                         composition=_composition(counts, totals[:, None, :]),
                         widths_A=widths, areas_A2=areas)


# ---------------------------------------------------------------------------------------------
# reaction front


@dataclass
class FrontResult:
    """Front positions (Å, along the axis, unwrapped from ``start_A``) against time (ps)."""

    times_ps: np.ndarray
    position_A: np.ndarray  # NaN where the profile does not cross the level
    level: float  # in the profile's unit
    start_A: float
    direction: int  # +1: walked towards +axis, -1: towards -axis
    smooth_A: float = 0.0  # Gaussian width the profile was smoothed with, Å

    @property
    def advance_A(self) -> np.ndarray:
        """How far the front has moved back towards the start since the first frame (Å): into
        the phase the walk starts in, when that phase is being consumed."""
        return self.direction * (self.position_A[0] - self.position_A)

    @property
    def speed_A_ps(self) -> float | None:
        """Least-squares slope of ``advance_A`` against time (Å/ps), None with < 2 points."""
        ok = np.isfinite(self.position_A)
        if ok.sum() < 2 or np.ptp(self.times_ps[ok]) == 0:
            return None
        return float(np.polyfit(self.times_ps[ok], self.advance_A[ok], 1)[0])


def bulk_level(profile0: np.ndarray, bulk: float | None = None, fraction: float = 0.5) -> float:
    """``fraction`` x the bulk value: ``bulk`` if given, else the 90th percentile of
    ``profile0`` (empty bins as 0)."""
    if bulk is None:
        bulk = float(np.percentile(np.nan_to_num(profile0, nan=0.0), BULK_PERCENTILE))
    if not bulk > 0:
        raise SeiflowError("the profile is zero everywhere in the first frame: no front to follow")
    return fraction * float(bulk)


def default_start(profile0: np.ndarray, centres: np.ndarray, period: float,
                  level: float) -> float:
    """Circular mean (Å) of the bin centres where ``profile0`` >= ``level``: the middle of the
    region the tracked phase fills in the first frame."""
    inside = np.nan_to_num(profile0, nan=0.0) >= level
    if not inside.any():
        raise SeiflowError("no bin of the first frame reaches the front level")
    angle = 2 * np.pi * centres[inside] / period
    mean = np.arctan2(np.sin(angle).mean(), np.cos(angle).mean())
    return float(np.mod(mean, 2 * np.pi) * period / (2 * np.pi))


def smooth_profile(values: np.ndarray, period: float, sigma_A: float) -> np.ndarray:
    """Periodic Gaussian smoothing (width ``sigma_A`` Å) along the last axis of ``values``
    (bins tiling ``period`` Å). Empty bins (NaN) carry no weight (normalised convolution); bins
    with no data within about 3 sigma stay NaN. ``sigma_A`` = 0 returns ``values``."""
    values = np.asarray(values, dtype=float)
    if not sigma_A > 0:
        return values
    sigma = sigma_A * values.shape[-1] / period
    ok = np.isfinite(values)
    num = gaussian_filter1d(np.where(ok, values, 0.0), sigma, axis=-1, mode="wrap")
    den = gaussian_filter1d(ok.astype(float), sigma, axis=-1, mode="wrap")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-3, num / den, np.nan)


def front_positions(values: np.ndarray, period: float, level: float, start: float,
                    direction: int = 1) -> np.ndarray:
    """Front position (Å) in each row of ``values`` (nframes, nbins; bins tile ``period`` Å from
    0): first fall below ``level`` walking from ``start`` in ``direction``, empty (NaN) bins
    skipped; NaN where there is none, and where the walk does not start inside the phase
    (the first non-empty bin below ``level``: the phase is gone from ``start``, e.g. once the
    two fronts of a consumed slab have met)."""
    if direction not in (1, -1):
        raise SeiflowError(f"direction must be +1 or -1, got {direction}")
    values = np.atleast_2d(np.asarray(values, dtype=float))
    nb = values.shape[1]
    bw = period / nb
    b0 = min(int(np.mod(start, period) / bw), nb - 1)
    origin = start - np.mod(start, period) + (b0 + 0.5) * bw  # centre of the start bin
    order = np.mod(b0 + direction * np.arange(nb + 1), nb)
    steps = np.arange(nb + 1)
    out = np.full(values.shape[0], np.nan)
    for f, row in enumerate(values[:, order]):
        ok = np.isfinite(row)
        v, k = row[ok], steps[ok]
        if v.size < 2:
            continue
        above = v >= level
        if not above[0]:
            continue
        changed = np.flatnonzero(~above)
        if changed.size == 0:
            continue
        m = changed[0]
        frac = (level - v[m - 1]) / (v[m] - v[m - 1])
        out[f] = origin + direction * (k[m - 1] + frac * (k[m] - k[m - 1])) * bw
    return out


def follow_front(values: np.ndarray, period: float, times_ps: Sequence[float],
                 direction: int = 1, start: float | None = None, bulk: float | None = None,
                 fraction: float = 0.5, smooth_A: float = 0.0) -> FrontResult:
    """The front of a profile series ``values`` (nframes, nbins) against time, at ``fraction`` of
    the bulk value (see :func:`bulk_level`), from ``start`` (default :func:`default_start`),
    after :func:`smooth_profile` with ``smooth_A`` Å."""
    values = smooth_profile(values, period, smooth_A)
    level = bulk_level(values[0], bulk, fraction)
    nb = values.shape[1]
    centres = (np.arange(nb) + 0.5) * period / nb
    if start is None:
        start = default_start(values[0], centres, period, level)
    pos = front_positions(values, period, level, start, direction)
    return FrontResult(times_ps=np.asarray(times_ps, dtype=float), position_A=pos, level=level,
                       start_A=float(start), direction=direction, smooth_A=float(smooth_A))


# ---------------------------------------------------------------------------------------------
# flux through a plane


@dataclass
class FluxResult:
    """Net crossings of a plane by the atoms of ``species`` (counts; + is towards +axis)."""

    species: str
    axis: int
    plane_A: float  # height of the plane in the first frame, Å
    times_ps: np.ndarray
    forward: np.ndarray  # crossings towards +axis per frame interval, (nframes - 1,)
    backward: np.ndarray  # crossings towards -axis per frame interval (>= 0)
    area_A2: float  # cross-section of the first frame, Å²
    n_atoms: int

    @property
    def net(self) -> np.ndarray:
        """forward - backward per frame interval, atoms."""
        return self.forward - self.backward

    @property
    def cumulative(self) -> np.ndarray:
        """Net crossings since the first frame, (nframes,), starting at 0, atoms."""
        return np.concatenate([[0], np.cumsum(self.net)])

    @property
    def rate_per_ps(self) -> float | None:
        """Net crossings per ps over the whole trajectory (None for a single instant)."""
        span = float(self.times_ps[-1] - self.times_ps[0]) if self.times_ps.size else 0.0
        return None if span <= 0 else float(self.cumulative[-1] / span)

    @property
    def flux_per_A2_ps(self) -> float | None:
        """Net crossings per Å² of plane and per ps."""
        rate = self.rate_per_ps
        return None if rate is None else rate / self.area_A2


def unwrap_fractional(frames: Sequence[Atoms], axis: int, mask: np.ndarray,
                      max_jump: float = 0.25) -> np.ndarray:
    """Fractional coordinates along ``axis`` of the atoms in ``mask``, unwrapped from frame to
    frame, shape (nframes, n). Raises UnwrapError for a jump over ``max_jump`` of the cell."""
    s = np.array([fractional_along(a, axis)[mask] for a in frames])
    ds = np.diff(s, axis=0)
    ds -= np.floor(ds + 0.5)
    if ds.size and np.abs(ds).max() > max_jump:
        k, i = np.unravel_index(np.argmax(np.abs(ds)), ds.shape)
        raise UnwrapError(f"atom {np.flatnonzero(mask)[i]} moved {abs(ds[k, i]):.2f} of the cell "
                          f"along axis {'xyz'[axis]} between frames {k} and {k + 1} (limit "
                          f"{max_jump}): save frames more often to count crossings")
    return np.concatenate([s[:1], s[:1] + np.cumsum(ds, axis=0)])


def plane_crossings(s: np.ndarray, s_plane: float) -> tuple[np.ndarray, np.ndarray]:
    """(forward, backward) crossing counts per frame interval of the plane at fractional height
    ``s_plane`` and its periodic images by unwrapped fractional coordinates ``s`` (nframes, n)."""
    cell_index = np.floor(np.asarray(s) - s_plane).astype(int)
    steps = np.diff(cell_index, axis=0)
    return np.clip(steps, 0, None).sum(axis=1), np.clip(-steps, 0, None).sum(axis=1)


def flux_across_plane(frames: Sequence[Atoms], times_ps: Sequence[float], plane_A: float,
                      axis: int | str = "z", species: str = "Li",
                      max_jump: float = 0.25) -> FluxResult:
    """Crossings of the plane at height ``plane_A`` (Å, first frame) by the ``species`` atoms."""
    t = check_times(frames, times_ps)
    ax = axis_index(axis)
    mask = np.asarray(frames[0].get_chemical_symbols()) == species
    if not mask.any():
        raise SeiflowError(f"no {species!r} atoms in {frames[0].get_chemical_formula()}")
    for k, atoms in enumerate(frames[1:], 1):
        if not np.array_equal(atoms.numbers, frames[0].numbers):
            raise UnwrapError(f"frame {k} changes the atoms of frame 0; crossings need the same "
                              "atoms in the same order")
    width, area = width_and_area(frames[0], ax)
    s = unwrap_fractional(frames, ax, mask, max_jump)
    fwd, bwd = plane_crossings(s, plane_A / width)
    return FluxResult(species=species, axis=ax, plane_A=float(plane_A), times_ps=t,
                      forward=fwd, backward=bwd, area_A2=area, n_atoms=int(mask.sum()))
